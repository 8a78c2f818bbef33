"""When encryption is needed and cannot be applied, the error names the real cause
(expired, not for encryption, unreadable file, missing) and the file, with a stable code."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from certs_factory import make_certificate, make_ec_key, make_rsa_key, write_certificate
from helpers import NIR, leaked, message
from leakguard.errors import LeakBlocked, ProtectionError
from leakguard.guard import Guard, PasswordNotice
from leakguard.message import load_message
from leakguard.policy import Policy
from leakguard.protection import FolderCertificates, find_certificate, smime_encrypt

DOCTOR = "dr.martin@cabinet-exemple.fr"
NOW = dt.datetime.now(dt.UTC)
LEAD_EN = "This message must leave encrypted and cannot be."
LEAD_FR = "Ce message doit partir chiffré et ne peut pas l'être."
NO_CHANNEL_EN = (
    "No channel is configured to hand over a password, so the sensitive attachments "
    "cannot go in an encrypted archive instead."
)
NO_CHANNEL_FR = (
    "Aucun canal n'est configuré pour transmettre un mot de passe : les pièces jointes "
    "sensibles ne peuvent pas partir dans une archive chiffrée à la place."
)
NOT_FOR_ENCRYPTION_EN = (
    "the certificate may not be used for encryption (its key usage lacks keyEncipherment, "
    "or its extended key usage lacks emailProtection)"
)
NOT_FOR_ENCRYPTION_FR = (
    "le certificat ne permet pas le chiffrement (son usage de clé n'a pas keyEncipherment, "
    "ou son usage étendu n'a pas emailProtection)"
)
# Names a person using the CLI or the Outlook add-in never sees.
PYTHON_NAMES = re.compile(r"on_password|certificate_for|Guard\(|Exception|Traceback|None\b")


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return make_rsa_key()


def needs_encryption() -> Policy:
    return Policy.default().replace(internal_domains=(), secure_domains=())


def sensitive_message() -> bytes:
    return message(to=f"Dr Martin <{DOCTOR}>", pdf_lines=[f"NIR {NIR}"]).as_bytes()


def refused(folder: Path, **options: object) -> LeakBlocked:
    guard = Guard(needs_encryption(), certificates=FolderCertificates(folder), **options)
    with pytest.raises(LeakBlocked) as caught:
        guard.protect(sensitive_message())
    exc = caught.value
    for lang in ("en", "fr"):
        text = exc.message(lang)
        assert not PYTHON_NAMES.search(text), text
        assert not leaked(text, [NIR])
    return exc


def one_certificate(folder: Path, cert: x509.Certificate, name: str = f"{DOCTOR}.pem") -> Path:
    folder.mkdir(exist_ok=True)
    return write_certificate(cert, folder / name)


@pytest.mark.parametrize(
    ("options", "cause", "en", "fr"),
    [
        (
            {"not_before": NOW - dt.timedelta(days=400), "not_after": NOW - dt.timedelta(days=1)},
            "certificate_expired",
            "the certificate has expired",
            "le certificat a expiré",
        ),
        (
            {"not_before": NOW + dt.timedelta(days=3)},
            "certificate_not_yet_valid",
            "the certificate is not valid yet",
            "le certificat n'est pas encore valide",
        ),
        (
            {"key_usage": "sign"},
            "certificate_not_for_encryption",
            NOT_FOR_ENCRYPTION_EN,
            NOT_FOR_ENCRYPTION_FR,
        ),
        (
            {"purposes": [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]},
            "certificate_not_for_encryption",
            NOT_FOR_ENCRYPTION_EN,
            NOT_FOR_ENCRYPTION_FR,
        ),
    ],
    ids=["expired", "not-yet-valid", "key-usage", "extended-key-usage"],
)
def test_an_unusable_certificate_is_named_with_its_cause_and_file(
    tmp_path: Path,
    key: rsa.RSAPrivateKey,
    options: dict[str, object],
    cause: str,
    en: str,
    fr: str,
) -> None:
    path = one_certificate(tmp_path / "certs", make_certificate(key, DOCTOR, **options))
    exc = refused(tmp_path / "certs")
    assert exc.cause == cause
    assert str(exc) == f"{LEAD_EN} S/MIME is not possible: {DOCTOR}: {en} ({path}). {NO_CHANNEL_EN}"
    assert exc.message("fr") == (
        f"{LEAD_FR} S/MIME est impossible : {DOCTOR} : {fr} ({path}). {NO_CHANNEL_FR}"
    )
    # The certificate's own error rides along, for interfaces that show the file apart.
    origin = exc.__cause__
    assert isinstance(origin, ProtectionError)
    assert (origin.reason, origin.path) == (cause, str(path))
    assert str(origin) == f"{DOCTOR}: {en} ({path})."


def test_an_email_protection_purpose_is_enough(tmp_path: Path, key: rsa.RSAPrivateKey) -> None:
    purposes = [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION]
    one_certificate(tmp_path / "certs", make_certificate(key, DOCTOR, purposes=purposes))
    guard = Guard(needs_encryption(), certificates=FolderCertificates(tmp_path / "certs"))
    out = guard.protect(sensitive_message())
    assert out.get_content_type() == "application/pkcs7-mime"


def test_an_unreadable_certificate_file_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "certs"
    folder.mkdir()
    bad = folder / f"{DOCTOR}.pem"
    bad.write_bytes(b"-----BEGIN CERTIFICATE-----\ncut in half\n")
    exc = refused(folder)
    assert exc.cause == "certificate_unreadable"
    assert str(exc) == (
        f"{LEAD_EN} S/MIME is not possible: {DOCTOR}: the file is not a PEM or DER "
        f"certificate ({bad}). {NO_CHANNEL_EN}"
    )
    assert isinstance(exc.__cause__, ProtectionError) and exc.__cause__.path == str(bad)


def test_a_non_rsa_certificate_is_named(tmp_path: Path) -> None:
    path = one_certificate(tmp_path / "certs", make_certificate(make_ec_key(), DOCTOR))
    exc = refused(tmp_path / "certs")
    assert exc.cause == "certificate_unsupported_key"
    assert f"({path})" in str(exc)


def test_a_missing_certificate_without_password_channel(tmp_path: Path) -> None:
    folder = tmp_path / "certs"
    folder.mkdir()
    junk = folder / "ancien-certificat.crt"
    junk.write_bytes(b"\x00\x01 not a certificate")
    exc = refused(folder)
    assert exc.cause == "no_password_channel"
    assert exc.__cause__ is None
    assert str(exc) == (
        f"{LEAD_EN} S/MIME is not possible: {DOCTOR}: no certificate was found. "
        f"These certificate files could not be read: {junk}. {NO_CHANNEL_EN}"
    )
    assert exc.message("fr") == (
        f"{LEAD_FR} S/MIME est impossible : {DOCTOR} : aucun certificat n'a été trouvé. "
        f"Ces fichiers de certificat n'ont pas pu être lus : {junk}. {NO_CHANNEL_FR}"
    )


def test_no_certificates_at_all() -> None:
    guard = Guard(needs_encryption())
    with pytest.raises(LeakBlocked) as caught:
        guard.protect(sensitive_message())
    assert caught.value.cause == "no_password_channel"
    assert str(caught.value) == (
        f"{LEAD_EN} No certificates are configured for S/MIME. {NO_CHANNEL_EN}"
    )


def test_an_expired_certificate_with_a_password_channel_falls_back_to_the_archive(
    tmp_path: Path, key: rsa.RSAPrivateKey
) -> None:
    expired = make_certificate(
        key, DOCTOR, not_before=NOW - dt.timedelta(days=9), not_after=NOW - dt.timedelta(days=2)
    )
    one_certificate(tmp_path / "certs", expired)
    notices: list[PasswordNotice] = []
    guard = Guard(
        needs_encryption(),
        certificates=FolderCertificates(tmp_path / "certs"),
        on_password=notices.append,
    )
    out = guard.protect(sensitive_message())
    assert [a.get_filename() for a in out.iter_attachments()] == ["documents-chiffres.zip"]
    assert len(notices) == 1


def test_the_text_obstacle_keeps_the_certificate_cause(
    tmp_path: Path, key: rsa.RSAPrivateKey
) -> None:
    """Sensitive text rules out the archive; the cause stays the certificate's."""
    expired = make_certificate(
        key, DOCTOR, not_before=NOW - dt.timedelta(days=9), not_after=NOW - dt.timedelta(days=2)
    )
    path = one_certificate(tmp_path / "certs", expired)
    guard = Guard(
        needs_encryption(),
        certificates=FolderCertificates(tmp_path / "certs"),
        on_password=lambda _: None,
    )
    with pytest.raises(LeakBlocked) as caught:
        guard.protect(message(to=DOCTOR, body=f"NIR {NIR}\n"))
    assert caught.value.cause == "certificate_expired"
    assert str(caught.value) == (
        f"{LEAD_EN} S/MIME is not possible: {DOCTOR}: the certificate has expired ({path}). "
        "Sensitive data is in the message text, which an encrypted archive cannot protect: "
        "move it into an attachment or use secure messaging."
    )
    # Without any certificate the archive's obstacle is the cause.
    bare = Guard(needs_encryption(), on_password=lambda _: None)
    with pytest.raises(LeakBlocked) as other:
        bare.protect(message(to=DOCTOR, body=f"NIR {NIR}\n"))
    assert other.value.cause == "sensitive_in_text"


def test_certificates_from_a_lookup_are_checked_too(key: rsa.RSAPrivateKey) -> None:
    expired = make_certificate(
        key, DOCTOR, not_before=NOW - dt.timedelta(days=9), not_after=NOW - dt.timedelta(days=2)
    )
    cert, problem = find_certificate(Guard(certificates=lambda _: expired).certificates, DOCTOR)
    assert cert is None and problem is not None
    assert problem.cause == "certificate_expired"
    assert problem.message("en") == f"{DOCTOR}: the certificate has expired."

    def broken(_: str) -> x509.Certificate | None:
        raise ConnectionError("annuaire injoignable")

    # A directory out of reach is a passing failure, for the caller to retry.
    guard = Guard(needs_encryption(), certificates=broken)
    with pytest.raises(ConnectionError):
        guard.protect(sensitive_message())


def test_smime_without_certificate_has_a_reason() -> None:
    with pytest.raises(ProtectionError) as caught:
        smime_encrypt(message(), [])
    assert caught.value.reason == "certificate_missing"
    assert caught.value.message("fr") == (
        "Le chiffrement S/MIME demande au moins un certificat de destinataire."
    )


def test_a_block_verdict_has_no_cause() -> None:
    guard = Guard(Policy.from_toml('[actions]\nnir = "block"\n'))
    with pytest.raises(LeakBlocked) as caught:
        guard.protect(sensitive_message())
    assert caught.value.verdict.action.value == "block"
    assert caught.value.cause is None
    assert str(caught.value) == caught.value.verdict.explain("en")


# A multipart whose boundary never appears, 8-bit text and a broken encoded word: the
# parser keeps the body as text that cannot be written out again.
DAMAGED = (
    b"From: a@clinique-exemple.fr\nTo: " + DOCTOR.encode() + b"\n"
    b"Subject: =?utf-8?q?T=C3=A9l=C3=A9transmis\xdcion?= juin\n"
    b'Content-Type: multipart/mixed; boundary="b1"\n\n'
    b"--b2\nContent-Type: text/plain; charset=utf-8\n\nNIR " + NIR.encode() + b" \xc3\xa9\n--b2--\n"
)


def test_a_message_too_damaged_to_rewrite_is_refused_with_its_cause(
    key: rsa.RSAPrivateKey,
) -> None:
    cert = make_certificate(key, DOCTOR)
    with pytest.raises(ProtectionError) as caught:
        smime_encrypt(load_message(DAMAGED), [cert])
    assert caught.value.reason == "message_unwritable"
    assert str(caught.value) == (
        "The message is too damaged to be written out again for encryption."
    )
    guard = Guard(needs_encryption(), certificates=lambda _: cert)
    with pytest.raises(LeakBlocked) as blocked:
        guard.protect(DAMAGED)
    assert blocked.value.cause == "message_unwritable"
    assert str(blocked.value).startswith(
        f"{LEAD_EN} S/MIME failed: The message is too damaged to be written out again "
        "for encryption. "
    )
    assert not leaked(str(blocked.value) + blocked.value.message("fr"), [NIR])
