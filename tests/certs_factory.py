"""Throwaway keys and self-signed certificates for the protection tests.

Everything is generated at test time with ``cryptography``; no key material lives in
the repository. Certificates are self-signed (no CA), which is all S/MIME enveloping needs.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

__all__ = [
    "make_certificate",
    "make_ec_key",
    "make_rsa_key",
    "write_certificate",
    "write_private_key",
]

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def make_rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def make_ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def make_certificate(
    key: PrivateKey,
    address: str | None,
    *,
    common_name: str = "Test recipient",
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    key_usage: str | None = "encipher",
    in_san: bool = True,
    in_subject: bool = False,
    authority: bool = False,
    purposes: list[x509.ObjectIdentifier] | None = None,
    ip: str | None = None,
) -> x509.Certificate:
    """A self-signed certificate for ``address``.

    ``key_usage``: ``"encipher"`` (digitalSignature + keyEncipherment), ``"sign"``
    (digitalSignature only) or ``None`` (no KeyUsage extension at all).
    ``in_san`` puts the address in an rfc822Name SAN; ``in_subject`` in the subject's
    emailAddress attribute. ``authority`` marks it as a CA (BasicConstraints ca=True).
    ``purposes`` adds an ExtendedKeyUsage extension with these OIDs. ``ip`` puts an
    iPAddress in the SAN, for a TLS server reached by address.
    """
    now = dt.datetime.now(dt.UTC)
    start = not_before or now - dt.timedelta(days=1)
    end = not_after or now + dt.timedelta(days=365)
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if address and in_subject:
        attributes.append(x509.NameAttribute(NameOID.EMAIL_ADDRESS, address))
    name = x509.Name(attributes)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
    )
    names: list[x509.GeneralName] = []
    if address and in_san:
        names.append(x509.RFC822Name(address))
    if ip is not None:
        names.append(x509.IPAddress(ipaddress.ip_address(ip)))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    if authority:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=True, path_length=None), critical=True
        )
    if purposes is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(purposes), critical=False)
    if key_usage is not None:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=key_usage == "encipher",
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    return builder.sign(key, hashes.SHA256())


def write_certificate(cert: x509.Certificate, path: Path, *, der: bool = False) -> Path:
    encoding = serialization.Encoding.DER if der else serialization.Encoding.PEM
    path.write_bytes(cert.public_bytes(encoding))
    return path


def write_private_key(key: PrivateKey, path: Path) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path
