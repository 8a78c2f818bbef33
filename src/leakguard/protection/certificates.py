"""Recipients' encryption certificates: from a folder of PEM/DER files or a lookup
function, each checked (dates, key type, key usage) with the reason when unusable."""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from leakguard.core import Lang
from leakguard.errors import ProtectionError

if TYPE_CHECKING:
    from cryptography import x509

__all__ = [
    "CERTIFICATE_CAUSES",
    "CallableCertificates",
    "CertificateProblem",
    "CertificateReason",
    "CertificateStore",
    "FolderCertificates",
    "find_certificate",
]


@runtime_checkable
class CertificateStore(Protocol):
    """Where recipients' encryption certificates come from."""

    def certificate_for(self, address: str, /) -> x509.Certificate | None:
        """A usable certificate for ``address``, or None."""
        ...


CertificateReason = Literal[
    "missing",
    "expired",
    "not_yet_valid",
    "no_key_encipherment",
    "unsupported_key",
    "unreadable",
    "no_address",
    "too_large",
]

# The stable code an interface sees (``ProtectionError.reason``, ``LeakBlocked.cause``)
# for each reason a certificate cannot be used.
CERTIFICATE_CAUSES: dict[str, str] = {
    "missing": "certificate_missing",
    "expired": "certificate_expired",
    "not_yet_valid": "certificate_not_yet_valid",
    "no_key_encipherment": "certificate_not_for_encryption",
    "unsupported_key": "certificate_unsupported_key",
    "unreadable": "certificate_unreadable",
    "too_large": "certificate_unreadable",
    "no_address": "certificate_no_address",
}

_REASON_TEXT: dict[str, tuple[str, str]] = {
    "missing": ("no certificate was found", "aucun certificat n'a été trouvé"),
    "expired": ("the certificate has expired", "le certificat a expiré"),
    "not_yet_valid": ("the certificate is not valid yet", "le certificat n'est pas encore valide"),
    # Both extensions are named: the certificate's owner knows which one to fix.
    "no_key_encipherment": (
        "the certificate may not be used for encryption (its key usage lacks "
        "keyEncipherment, or its extended key usage lacks emailProtection)",
        "le certificat ne permet pas le chiffrement (son usage de clé n'a pas "
        "keyEncipherment, ou son usage étendu n'a pas emailProtection)",
    ),
    "unsupported_key": (
        "the certificate's key is not RSA, which S/MIME enveloping here requires",
        "la clé du certificat n'est pas RSA, ce qu'exige le chiffrement S/MIME ici",
    ),
    "unreadable": (
        "the file is not a PEM or DER certificate",
        "le fichier n'est pas un certificat PEM ou DER",
    ),
    "no_address": (
        "neither the file name nor the certificate gives an e-mail address",
        "ni le nom du fichier ni le certificat ne donnent d'adresse électronique",
    ),
    "too_large": (
        "the file is too large to be a certificate",
        "le fichier est trop gros pour être un certificat",
    ),
}


@dataclass(frozen=True, slots=True)
class CertificateProblem:
    """A certificate file, or a certificate in it, that cannot be used, and why.

    ``file`` is the file's name, ``path`` its full path when it came from a folder.
    """

    file: str
    reason: CertificateReason
    address: str | None = None
    path: str | None = None

    @property
    def cause(self) -> str:
        """The stable code for this reason, e.g. ``certificate_expired``."""
        return CERTIFICATE_CAUSES[self.reason]

    def message(self, lang: Lang = "en") -> str:
        """A sentence for a person, naming the address (when known) and the file."""
        en, fr = _REASON_TEXT[self.reason]
        shown = self.path or self.file
        subject = self.address or shown
        where = f" ({shown})" if self.address and self.file != _NO_FILE else ""
        if lang == "fr":
            return f"{subject} : {fr}{where}."
        return f"{subject}: {en}{where}."

    def error(self) -> ProtectionError:
        """This problem as the error an interface receives (``reason``, ``path``)."""
        return ProtectionError(
            self.message("en"),
            fr=self.message("fr"),
            reason=self.cause,
            path=self.path if self.file != _NO_FILE else None,
        )


_NO_FILE = "(none)"


_CERT_SUFFIXES = frozenset({".pem", ".der", ".crt", ".cer"})
_ADDRESS = re.compile(r"[^@\s/\\]{1,64}@[^@\s/\\]{1,255}")
_MAX_CERT_FILE = 1024 * 1024


def _normalise(address: str) -> str:
    return address.strip().strip("<>").strip().lower()


class FolderCertificates:
    """Certificates from a folder of PEM or DER files, found by recipient address.

    A file named ``<address>.pem`` (``.der``, ``.crt``, ``.cer``; address case-
    insensitive) belongs to that address. Any other file is indexed under the
    addresses the certificate itself names (rfc822Name SAN, subject emailAddress).
    Certificates that are expired, not yet valid, not RSA, or whose KeyUsage lacks
    keyEncipherment are skipped; :attr:`problems` and :meth:`why_missing` say why.
    The folder is read once, at construction; validity is checked at each lookup
    against ``clock`` (default: now, UTC).
    """

    __slots__ = ("_clock", "_folder", "_index", "_load_problems")

    def __init__(
        self,
        folder: str | os.PathLike[str],
        /,
        *,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self._folder = Path(folder)
        self._clock = _aware(clock or (lambda: dt.datetime.now(dt.UTC)))
        self._index: dict[str, list[tuple[str, x509.Certificate]]] = {}
        self._load_problems: list[CertificateProblem] = []
        if not self._folder.is_dir():
            raise ProtectionError(
                f"The certificate folder {self._folder} does not exist or is not a folder.",
                fr=f"Le dossier de certificats {self._folder} n'existe pas "
                "ou n'est pas un dossier.",
                reason="certificate_folder_missing",
                path=str(self._folder),
            )
        for path in sorted(self._folder.iterdir()):
            if path.suffix.lower() in _CERT_SUFFIXES and path.is_file():
                self._load(path)

    def _load(self, path: Path) -> None:
        from cryptography import x509

        name = path.name
        stem = path.stem.strip()
        # A file named after an address belongs to it, even when it cannot be read.
        owner = _normalise(stem) if _ADDRESS.fullmatch(stem) else None

        def problem(reason: CertificateReason) -> None:
            self._load_problems.append(CertificateProblem(name, reason, owner, str(path)))

        try:
            if path.stat().st_size > _MAX_CERT_FILE:
                problem("too_large")
                return
            raw = path.read_bytes()
        except OSError:
            problem("unreadable")
            return
        certs: list[x509.Certificate]
        try:
            if b"-----BEGIN" in raw:
                certs = x509.load_pem_x509_certificates(raw)
            else:
                certs = [x509.load_der_x509_certificate(raw)]
        except ValueError:
            problem("unreadable")
            return
        if owner is not None:
            address = owner
            # A file may carry the chain as well: keep the certificates that name the
            # address, else the ones that are not a certification authority's.
            naming = [c for c in certs if address in _certificate_addresses(c)]
            if naming:
                certs = naming
            elif len(certs) > 1:
                certs = [c for c in certs if not _is_authority(c)] or certs
            for cert in certs:
                self._index.setdefault(address, []).append((name, cert))
            return
        for cert in certs:
            addresses = _certificate_addresses(cert)
            if not addresses:
                self._load_problems.append(CertificateProblem(name, "no_address", path=str(path)))
            for address in addresses:
                self._index.setdefault(address, []).append((name, cert))

    @property
    def folder(self) -> Path:
        return self._folder

    @property
    def problems(self) -> tuple[CertificateProblem, ...]:
        """Every file or certificate that cannot be used right now, with the reason."""
        out = list(self._load_problems)
        now = self._clock()
        for address, candidates in sorted(self._index.items()):
            for file, cert in candidates:
                reason = _unusable(cert, now)
                if reason is not None:
                    out.append(CertificateProblem(file, reason, address, self._path(file)))
        return tuple(out)

    def addresses(self) -> frozenset[str]:
        """Addresses that have at least one certificate file (usable or not)."""
        return frozenset(self._index)

    def certificate_for(self, address: str, /) -> x509.Certificate | None:
        best = self._best(address)
        return best[1] if best is not None else None

    def why_missing(self, address: str, /) -> CertificateProblem | None:
        """None when a usable certificate exists, else why there is none."""
        wanted = _normalise(address)
        candidates = self._index.get(wanted, [])
        if not candidates:
            for problem in self._load_problems:
                if problem.address == wanted:
                    return problem
            return CertificateProblem(_NO_FILE, "missing", wanted)
        if self._best(address) is not None:
            return None
        now = self._clock()
        file, cert = candidates[-1]
        return CertificateProblem(file, _unusable(cert, now) or "missing", wanted, self._path(file))

    def unreadable_files(self) -> tuple[str, ...]:
        """Paths of the files that could not be read as certificates at all."""
        return tuple(
            p.path or p.file for p in self._load_problems if p.reason in ("unreadable", "too_large")
        )

    def _path(self, file: str) -> str:
        return str(self._folder / file)

    def _best(self, address: str) -> tuple[str, x509.Certificate] | None:
        now = self._clock()
        usable = [
            (file, cert)
            for file, cert in self._index.get(_normalise(address), [])
            if _unusable(cert, now) is None
        ]
        if not usable:
            return None
        # Of several usable certificates, the one that stays valid longest.
        return max(usable, key=lambda fc: fc[1].not_valid_after_utc)

    def __repr__(self) -> str:
        return f"FolderCertificates({str(self._folder)!r}, addresses={len(self._index)})"


def _aware(clock: Callable[[], dt.datetime]) -> Callable[[], dt.datetime]:
    """A clock giving aware times; a naive time is taken as UTC."""

    def now() -> dt.datetime:
        value = clock()
        return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)

    return now


def _certificate_addresses(cert: x509.Certificate) -> list[str]:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    found: list[str] = []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        found.extend(_normalise(a) for a in san.get_values_for_type(x509.RFC822Name))
    except x509.ExtensionNotFound:
        pass
    for attr in cert.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS):
        value = attr.value if isinstance(attr.value, str) else attr.value.decode("ascii", "replace")
        found.append(_normalise(value))
    return list(dict.fromkeys(a for a in found if _ADDRESS.fullmatch(a)))


def _is_authority(cert: x509.Certificate) -> bool:
    from cryptography import x509

    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _unusable(cert: x509.Certificate, now: dt.datetime) -> CertificateReason | None:
    """Why this certificate cannot be used to encrypt to its holder now, or None."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID

    try:
        if now < cert.not_valid_before_utc:
            return "not_yet_valid"
        if now > cert.not_valid_after_utc:
            return "expired"
        if not isinstance(cert.public_key(), rsa.RSAPublicKey):
            return "unsupported_key"
        extensions = cert.extensions
    except ValueError:
        # A field or extension the library cannot decode: not a certificate to trust.
        return "unreadable"
    try:
        usage = extensions.get_extension_for_class(x509.KeyUsage).value
        if not usage.key_encipherment:
            return "no_key_encipherment"
    except x509.ExtensionNotFound:
        pass
    try:
        purposes = extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return None
    allowed = {ExtendedKeyUsageOID.EMAIL_PROTECTION, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE}
    return None if allowed & set(purposes) else "no_key_encipherment"


def find_certificate(
    store: CertificateStore | None, address: str, /
) -> tuple[x509.Certificate | None, CertificateProblem | None]:
    """A usable certificate for ``address`` from ``store``, or None and why not.

    A certificate a callable store returns is checked like a folder's (validity dates,
    key type, key usage). An error the lookup raises (a directory out of reach) is not
    caught: it is a passing failure the caller may retry, not a reason to refuse.
    """
    wanted = _normalise(address)
    if store is None:
        return None, CertificateProblem(_NO_FILE, "missing", wanted)
    cert = store.certificate_for(address)
    if isinstance(store, FolderCertificates):
        return (cert, None) if cert is not None else (None, store.why_missing(address))
    if cert is None:
        return None, CertificateProblem(_NO_FILE, "missing", wanted)
    reason = _unusable(cert, dt.datetime.now(dt.UTC))
    if reason is not None:
        return None, CertificateProblem(_NO_FILE, reason, wanted)
    return cert, None


class CallableCertificates:
    """A certificate store backed by a function (a directory lookup, an LDAP query...)."""

    __slots__ = ("_lookup",)

    def __init__(self, lookup: Callable[[str], x509.Certificate | None], /) -> None:
        self._lookup = lookup

    def certificate_for(self, address: str, /) -> x509.Certificate | None:
        return self._lookup(address.strip())

    def __repr__(self) -> str:
        return f"CallableCertificates({getattr(self._lookup, '__qualname__', 'lookup')})"
