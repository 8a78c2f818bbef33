"""Is a message protected, and protecting it: S/MIME enveloping and AES-256 ZIP archives.

Recognises S/MIME enveloped data, PGP/MIME, inline PGP and encrypted attachments (PDF,
ZIP, Office, ODF); finds recipients' certificates in a folder or through a callable;
builds S/MIME messages (AES-256-CBC) and password ZIP archives (WinZip AES-256).
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import email.header
import email.message
import email.policy
import email.utils
import html
import io
import os
import re
import secrets
import struct
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from leakguard.core import Lang
from leakguard.detectors import HEALTH, find_identifiers
from leakguard.errors import ProtectionError
from leakguard.extract._types import Limits
from leakguard.extract.encryption import container_encrypted, pgp_armoured

if TYPE_CHECKING:
    from cryptography import x509

__all__ = [
    "CallableCertificates",
    "CertificateProblem",
    "CertificateStore",
    "FolderCertificates",
    "ProtectionState",
    "container_encrypted",
    "message_encrypted",
    "new_password",
    "protection_state",
    "smime_encrypt",
    "zip_attachments",
]

Method = Literal["smime", "pgp"]

# --------------------------------------------------------------------------- state


@dataclass(frozen=True, slots=True)
class ProtectionState:
    """What encryption a message carries.

    ``encrypted`` is true when the whole content travels inside S/MIME or PGP
    encryption (``method`` says which). ``attachments_encrypted`` names the attachments
    that are encrypted containers on their own (password PDF, AES or ZipCrypto ZIP,
    password Office or ODF document, PGP or S/MIME file), whether or not the rest of
    the message is encrypted.
    """

    encrypted: bool
    method: Method | None = None
    attachments_encrypted: tuple[str, ...] = ()


_SIGNATURE_TYPES = frozenset(
    {
        "application/pkcs7-signature",
        "application/x-pkcs7-signature",
        "application/pgp-signature",
    }
)
_SMIME_TYPES = frozenset({"application/pkcs7-mime", "application/x-pkcs7-mime"})

# DER bodies of the CMS content-type OIDs that matter here.
_OID_ENVELOPED = bytes.fromhex("2a864886f70d010703")  # 1.2.840.113549.1.7.3
_OID_AUTH_ENVELOPED = bytes.fromhex("2a864886f70d0109100117")  # 1.2.840.113549.1.9.16.1.23
_OID_SIGNED = bytes.fromhex("2a864886f70d010702")  # 1.2.840.113549.1.7.2

_TAG = re.compile(r"<[^<>]{0,2000}>")


def protection_state(
    msg: email.message.Message, /, *, limits: Limits | None = None
) -> ProtectionState:
    """Say whether ``msg`` is encrypted as a whole, and which attachments are.

    A signed-only message (``multipart/signed`` or ``smime-type=signed-data``) is not
    encrypted. Attachments larger than ``limits.max_part_bytes`` are not opened and
    count as not encrypted.
    """
    lim = limits or Limits()
    try:
        return _state(msg, lim)
    except _MALFORMED:
        # A message too broken to read is not vouched for as encrypted.
        return ProtectionState(False)


# What the email package and the byte parsers here may raise on a malformed message.
_MALFORMED = (
    ValueError,
    LookupError,
    TypeError,
    AttributeError,
    UnicodeError,
    struct.error,
    RecursionError,
)


def message_encrypted(msg: email.message.Message, /, *, limits: Limits | None = None) -> bool:
    """Whether ``msg`` leaves encrypted as a whole (S/MIME, PGP/MIME or inline PGP).

    The same answer as ``protection_state(msg).encrypted``, without opening the
    attachments unless every text body is PGP armour (the content inspector reads them
    anyway, and sees which are encrypted containers).
    """
    try:
        return _state(msg, limits or Limits(), name_attachments=False).encrypted
    except _MALFORMED:
        return False


def _state(
    msg: email.message.Message, lim: Limits, *, name_attachments: bool = True
) -> ProtectionState:
    root = _peel_signed(msg, lim.max_depth)
    method = _envelope_method(root)
    if method is not None:
        return ProtectionState(True, method)

    leaves = list(_leaves(root, lim))
    bodies_armoured = [pgp_armoured(_text_of(p, lim)) for role, p, _ in leaves if role == "body"]
    maybe_inline = bool(bodies_armoured) and all(bodies_armoured)
    if not maybe_inline and not name_attachments:
        return ProtectionState(False)
    attachments_covered: list[bool] = []
    encrypted_names: list[str] = []
    for role, part, depth in leaves:
        if role == "body":
            continue
        covered = role != "unread" and _attachment_encrypted(part, lim, depth)
        attachments_covered.append(covered)
        if covered:
            encrypted_names.append(_short_name(part.get_filename()) or "(unnamed)")
    inline_pgp = maybe_inline and all(attachments_covered)
    return ProtectionState(
        inline_pgp,
        "pgp" if inline_pgp else None,
        tuple(encrypted_names),
    )


def _short_name(name: str | None) -> str | None:
    """A file name as findings locate it: its last path component, at most 200 characters."""
    if not name:
        return None
    return re.split(r"[\\/]", name)[-1].strip()[:200] or None


def _peel_signed(part: email.message.Message, max_depth: int) -> email.message.Message:
    """Skip ``multipart/signed`` layers: what they sign is what counts."""
    for _ in range(max_depth):
        if part.get_content_type() != "multipart/signed":
            break
        children = part.get_payload()
        if not isinstance(children, list) or not children:
            break
        first = children[0]
        if not isinstance(first, email.message.Message):
            break
        part = first
    return part


def _envelope_method(part: email.message.Message) -> Method | None:
    """``smime`` or ``pgp`` when this part is an encryption envelope, else None."""
    ctype = part.get_content_type()
    if ctype == "multipart/encrypted":
        protocol = _param(part, "protocol")
        return "pgp" if protocol == "application/pgp-encrypted" else None
    if _smime_kind(part) == "enveloped":
        return "smime"
    return None


def _smime_kind(part: email.message.Message) -> str | None:
    """``enveloped``, ``signed`` or None for a part that may hold CMS data.

    The ``smime-type`` parameter decides when present; otherwise the CMS content type
    inside the DER; otherwise the conventional file name ``smime.p7m`` means enveloped.
    """
    ctype = part.get_content_type()
    name = (part.get_filename() or _param(part, "name")).strip().lower()
    if ctype not in _SMIME_TYPES and not name.endswith(".p7m"):
        return None
    if ctype in _SMIME_TYPES:
        smime_type = _param(part, "smime-type")
        if smime_type in ("enveloped-data", "authenveloped-data"):
            return "enveloped"
        if smime_type in ("signed-data", "certs-only", "compressed-data"):
            return "signed"
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        oid = _cms_content_type(payload)
        if oid in (_OID_ENVELOPED, _OID_AUTH_ENVELOPED):
            return "enveloped"
        if oid is not None:
            return "signed" if oid == _OID_SIGNED else None
    return "enveloped" if name == "smime.p7m" else None


def _param(part: email.message.Message, name: str) -> str:
    """A Content-Type parameter as plain lower-case text ("" when absent)."""
    value = part.get_param(name)
    if value is None:
        return ""
    return str(email.utils.collapse_rfc2231_value(value)).strip().lower()


def _cms_content_type(data: bytes) -> bytes | None:
    """The contentType OID (DER body) at the head of a CMS ContentInfo, if readable."""
    if len(data) < 4 or data[0] != 0x30:
        return None
    pos = 1
    first = data[pos]
    pos += 1
    if first & 0x80 and first != 0x80:  # long form; 0x80 alone is BER indefinite length
        pos += first & 0x7F
    if pos + 2 > len(data) or data[pos] != 0x06:
        return None
    length = data[pos + 1]
    if length > 32 or pos + 2 + length > len(data):
        return None
    return bytes(data[pos + 2 : pos + 2 + length])


def _leaves(
    root: email.message.Message, lim: Limits
) -> Iterator[tuple[str, email.message.Message, int]]:
    """Content leaves as ``(role, part, depth)``; role is ``body``, ``attachment``, or
    ``unread`` once the part limit is reached.

    Signatures are skipped; nested envelopes and forwarded messages are leaves.
    """
    stack: list[tuple[email.message.Message, int]] = [(root, 0)]
    seen = 0
    while stack and seen < lim.max_members:
        part, depth = stack.pop()
        seen += 1
        ctype = part.get_content_type()
        if ctype in _SIGNATURE_TYPES:
            continue
        if (
            part.is_multipart()
            and ctype != "message/rfc822"
            and ctype != "multipart/encrypted"
            and depth < lim.max_depth
        ):
            children = part.get_payload()
            if isinstance(children, list):
                stack.extend(
                    (c, depth + 1)
                    for c in reversed(children)
                    if isinstance(c, email.message.Message)
                )
            continue
        disposition = (part.get_content_disposition() or "").lower()
        is_text = part.get_content_maintype() == "text"
        if is_text and disposition != "attachment" and part.get_filename() is None:
            yield "body", part, depth
        else:
            yield "attachment", part, depth
    if stack:
        # Past the part limit nothing more is looked at, so nothing more is vouched for.
        yield "unread", stack[-1][0], stack[-1][1]


def _text_of(part: email.message.Message, lim: Limits) -> str:
    raw = part.get_payload(decode=True)
    if not isinstance(raw, bytes) or len(raw) > lim.max_part_bytes:
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        text = raw.decode(charset, errors="replace")
    except LookupError:
        text = raw.decode("utf-8", errors="replace")
    if part.get_content_subtype() == "html":
        text = html.unescape(_TAG.sub(" ", text))
    return text


def _attachment_encrypted(part: email.message.Message, lim: Limits, depth: int) -> bool:
    ctype = part.get_content_type()
    if ctype == "multipart/encrypted":
        return _envelope_method(part) is not None
    if ctype == "message/rfc822":
        inner = part.get_payload()
        if isinstance(inner, list) and inner and depth < lim.max_depth:
            first = inner[0]
            if isinstance(first, email.message.Message):
                deeper = Limits(max_depth=lim.max_depth - depth - 1)
                return protection_state(first, limits=deeper).encrypted
        return False
    if _smime_kind(part) == "enveloped":
        return True
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes) or len(data) > lim.max_part_bytes:
        return False
    return container_encrypted(data, content_type=ctype, limits=lim)


# --------------------------------------------------------------------------- certificates


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
    "no_email_protection",
    "unsupported_key",
    "unreadable",
    "no_address",
    "too_large",
    "lookup_failed",
]

# The stable code an interface sees (``ProtectionError.reason``, ``LeakBlocked.cause``)
# for each reason a certificate cannot be used.
CERTIFICATE_CAUSES: dict[str, str] = {
    "missing": "certificate_missing",
    "expired": "certificate_expired",
    "not_yet_valid": "certificate_not_yet_valid",
    "no_key_encipherment": "certificate_not_for_encryption",
    "no_email_protection": "certificate_not_for_encryption",
    "unsupported_key": "certificate_unsupported_key",
    "unreadable": "certificate_unreadable",
    "too_large": "certificate_unreadable",
    "no_address": "certificate_no_address",
    "lookup_failed": "certificate_lookup_failed",
}

_REASON_TEXT: dict[str, tuple[str, str]] = {
    "missing": ("no certificate was found", "aucun certificat n'a été trouvé"),
    "expired": ("the certificate has expired", "le certificat a expiré"),
    "not_yet_valid": ("the certificate is not valid yet", "le certificat n'est pas encore valide"),
    "no_key_encipherment": (
        "the certificate may not be used for encryption (its key usage lacks keyEncipherment)",
        "le certificat ne permet pas le chiffrement (son usage de clé n'a pas keyEncipherment)",
    ),
    "no_email_protection": (
        "the certificate may not be used for e-mail (its extended key usage lacks emailProtection)",
        "le certificat ne permet pas la messagerie (son usage étendu n'a pas emailProtection)",
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
    "lookup_failed": (
        "the certificate lookup failed",
        "la recherche du certificat a échoué",
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
    return None if allowed & set(purposes) else "no_email_protection"


def find_certificate(
    store: CertificateStore | None, address: str, /
) -> tuple[x509.Certificate | None, CertificateProblem | None]:
    """A usable certificate for ``address`` from ``store``, or None and why not.

    A certificate a callable store returns is checked like a folder's (validity dates,
    key type, key usage); a lookup that raises counts as ``lookup_failed``.
    """
    wanted = _normalise(address)
    if store is None:
        return None, CertificateProblem(_NO_FILE, "missing", wanted)
    try:
        cert = store.certificate_for(address)
    except Exception:  # a directory or LDAP lookup that failed: say so, never crash
        return None, CertificateProblem(_NO_FILE, "lookup_failed", wanted)
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


# --------------------------------------------------------------------------- headers

# Headers describing the content travel inside the envelope only.
_INNER_PREFIX = "content-"
# Mailboxes the message is routed and answered by: they stay outside, reduced to bare
# addresses when a display name carries an identifier or a health term.
_ADDRESS_HEADERS = frozenset(
    {
        "from",
        "sender",
        "reply-to",
        "to",
        "cc",
        "bcc",
        "resent-from",
        "resent-sender",
        "resent-to",
        "resent-cc",
        "resent-bcc",
    }
)
# Other headers servers and clients need to route, thread and list the message.
_ROUTING_HEADERS = frozenset(
    {
        "date",
        "message-id",
        "in-reply-to",
        "references",
        "received",
        "return-path",
        "resent-date",
        "resent-message-id",
    }
)
# Headers that say what the message is about: never outside an encrypted message.
_TOPIC_HEADERS = frozenset({"subject", "keywords", "comments", "thread-topic"})
# Headers a reader shows; when one is hidden outside, the decrypted text repeats it.
_SHOWN_HEADERS = frozenset({"subject", "from", "to", "cc", "reply-to"})
# A header longer than this is not scanned: it travels inside only.
_MAX_SCANNED_HEADER = 64 * 1024

DEFAULT_OUTER_SUBJECT = "Message chiffré / Encrypted message"


def header_text(value: object) -> str:
    """A header value as a reader sees it: unfolded, encoded words decoded.

    Linear in the length of the value: a long value's encoded words are decoded one
    by one rather than by the email package, whose decoder is quadratic.
    """
    raw = _FOLD.sub("", str(value))
    if "=?" not in raw:
        return raw
    if len(raw) > _MAX_SCANNED_HEADER:
        return _decode_words(raw)
    try:
        return str(email.header.make_header(email.header.decode_header(raw)))
    except Exception:  # broken encoded words: the raw text is what a reader gets
        return raw


_FOLD = re.compile(r"\r?\n(?=[ \t])")
_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,64})\?([bBqQ])\?([^?\s]*)\?=")
_BETWEEN_WORDS = re.compile(r"(?<=\?=)[ \t]+(?==\?)")


def _decode_words(raw: str) -> str:
    def one(m: re.Match[str]) -> str:
        charset, encoding, data = m.groups()
        try:
            if encoding in "bB":
                decoded = base64.b64decode(data + "=" * (-len(data) % 4))
            else:
                decoded = binascii.a2b_qp(data.replace("_", " "), header=True)
            return decoded.decode(charset.partition("*")[0], "replace")
        except (LookupError, ValueError, binascii.Error):
            return m.group(0)

    return _ENCODED_WORD.sub(one, _BETWEEN_WORDS.sub("", raw))


def _identifiers_in(text: str) -> bool:
    return bool(find_identifiers(text))


def _sensitive(text: str) -> bool:
    """Whether ``text`` carries an identifier or a health term."""
    return _identifiers_in(text) or next(HEALTH.find(text), None) is not None


def _is_routing(lname: str) -> bool:
    return lname in _ROUTING_HEADERS or lname.startswith("resent-")


def exposed_headers(msg: email.message.Message, /) -> list[str]:
    """Names of the headers that would show an identifier or a health term to anyone
    on the way if the message left as it is (the MIME headers aside).

    Routing headers (Date, Message-ID, References…) are judged on identifiers alone;
    a header too long to be read whole (other than an address or routing header)
    counts as exposed.
    """
    out: list[str] = []
    for name, value in msg.raw_items():
        lname = name.lower()
        if lname.startswith(_INNER_PREFIX) or lname == "mime-version":
            continue
        text = header_text(value)
        if lname in _ADDRESS_HEADERS:
            exposed = _sensitive(text)
        elif _is_routing(lname):
            exposed = _identifiers_in(text)
        else:
            exposed = len(text) > _MAX_SCANNED_HEADER or _sensitive(text)
        if exposed and name not in out:
            out.append(name)
    return out


@dataclass(frozen=True, slots=True)
class _HeaderPlan:
    """Which headers go outside an encrypted message, and which shown ones are hidden."""

    outer: list[tuple[str, object]]
    hidden: list[tuple[str, str]]


def _plan_headers(msg: email.message.Message, outer_subject: str) -> _HeaderPlan:
    outer: list[tuple[str, object]] = []
    hidden: list[tuple[str, str]] = []
    subject_placed = False
    for name, value in msg.raw_items():
        lname = name.lower()
        if lname.startswith(_INNER_PREFIX) or lname == "mime-version":
            continue
        text = header_text(value)
        if lname in _TOPIC_HEADERS:
            if lname == "subject" and not subject_placed:
                outer.append(("Subject", outer_subject))
                subject_placed = True
                shown = text.strip()[:_MAX_SHOWN]
                if shown and shown != outer_subject:
                    hidden.append((name, shown))
            continue
        if lname in _ADDRESS_HEADERS:
            if len(text) > _MAX_SCANNED_HEADER or _sensitive(text):
                bare = _bare_addresses(text)
                if _identifiers_in("\n".join(bare)):
                    raise _routing_error(name)
                if bare:
                    outer.append((name, _folded(name, bare)))
                if lname in _SHOWN_HEADERS:
                    hidden.append((name, text[:_MAX_SHOWN]))
            else:
                outer.append((name, value))
            continue
        if _is_routing(lname):
            if _identifiers_in(text):
                raise _routing_error(name)
            outer.append((name, value))
            continue
        if len(text) <= _MAX_SCANNED_HEADER and not _sensitive(text):
            outer.append((name, value))
    if not subject_placed:
        outer.append(("Subject", outer_subject))
    return _HeaderPlan(outer, hidden)


# What the decrypted text repeats of a hidden header, at most.
_MAX_SHOWN = 2000


def _bare_addresses(text: str) -> list[str]:
    try:
        pairs = email.utils.getaddresses([text])
    except Exception:  # a header the address parser cannot take apart: keep nothing
        return []
    return [addr for _, addr in pairs if "@" in addr]


def _folded(name: str, addresses: list[str]) -> object:
    """Bare addresses as a header value, one per line so nothing needs refolding."""
    value = ",\r\n ".join(addresses)
    if value.isascii():
        return value
    return email.policy.default.header_factory(name, value)


def _routing_error(name: str) -> ProtectionError:
    return ProtectionError(
        f"The {name} header carries an identifier that no encryption can hide: the "
        "message needs it outside to be delivered. Remove the identifier from it.",
        fr=f"L'en-tête {name} porte un identifiant qu'aucun chiffrement ne peut cacher : "
        "le message en a besoin en clair pour être acheminé. Retirez-en l'identifiant.",
        reason="identifier_in_routing_header",
    )


# --------------------------------------------------------------------------- S/MIME


def smime_encrypt(
    msg: email.message.EmailMessage,
    certificates: Sequence[x509.Certificate],
    /,
    *,
    outer_subject: str = DEFAULT_OUTER_SUBJECT,
) -> email.message.EmailMessage:
    """An S/MIME enveloped copy of ``msg`` (AES-256-CBC, RSA key transport) that shows
    nothing of its content outside.

    Header protection follows RFC 9788: the encrypted part carries the whole MIME
    entity with every header of the message (the real Subject included) and an
    ``HP-Outer`` line for each header left outside; it is marked ``hp="cipher"`` (and
    ``protected-headers="v1"`` for the clients that know the older scheme). The main
    text starts with a "Subject: …" line (``hp-legacy-display="1"``) so that readers
    unaware of header protection still show the real subject once decrypted.

    Outside stay the headers needed for delivery (From, To, Cc, Date, Message-ID…);
    the Subject becomes ``outer_subject``; Keywords, Comments and Thread-Topic are
    dropped; display names carrying an identifier or a health term are dropped (the
    addresses stay); any other header carrying one travels inside only. An identifier
    in an address or routing header cannot be hidden: ``ProtectionError`` with
    reason ``identifier_in_routing_header``.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.ciphers import algorithms
    from cryptography.hazmat.primitives.serialization import pkcs7

    if not certificates:
        raise ProtectionError(
            "S/MIME encryption needs at least one recipient certificate.",
            fr="Le chiffrement S/MIME demande au moins un certificat de destinataire.",
            reason="certificate_missing",
        )
    for cert in certificates:
        if not isinstance(cert.public_key(), rsa.RSAPublicKey):
            raise ProtectionError(
                "A recipient certificate has a non-RSA key, which S/MIME enveloping here "
                "cannot use.",
                fr="Un certificat de destinataire n'a pas de clé RSA, ce qu'exige le "
                "chiffrement S/MIME ici.",
                reason="certificate_unsupported_key",
            )
    plan = _plan_headers(msg, outer_subject)
    builder = pkcs7.PKCS7EnvelopeBuilder().set_data(_payload_entity(msg, plan))
    for cert in certificates:
        builder = builder.add_recipient(cert)
    builder = builder.set_content_encryption_algorithm(algorithms.AES256)
    # The entity is already in canonical CRLF form, so it must be taken byte for byte.
    der = builder.encrypt(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])

    outer = email.message.EmailMessage(policy=_AS_GIVEN)
    for name, value in plan.outer:
        if name == "Subject":
            outer["Subject"] = str(value)
        else:
            outer.set_raw(name, value)
    outer.set_content(
        der,
        maintype="application",
        subtype="pkcs7-mime",
        cte="base64",
        disposition="attachment",
        filename="smime.p7m",
        params={"smime-type": "enveloped-data", "name": "smime.p7m"},
    )
    return outer


def _payload_entity(msg: email.message.EmailMessage, plan: _HeaderPlan) -> bytes:
    """The cryptographic payload: every header of ``msg``, the HP-Outer record of what
    stays outside, then the content headers and body, in CRLF form."""
    inner = copy.deepcopy(msg)
    items = list(inner.raw_items())
    for name in {n.lower() for n, _ in items}:
        del inner[name]
    for name, value in items:
        if not name.lower().startswith(_INNER_PREFIX) and name.lower() != "mime-version":
            inner.set_raw(name, value)
    for name, value in plan.outer:
        record = f"{name}: {value}"
        if record.isascii():
            inner.set_raw("HP-Outer", record)
        else:
            inner["HP-Outer"] = record
    for name, value in items:
        if name.lower().startswith(_INNER_PREFIX):
            inner.set_raw(name, value)
    if inner.get("Content-Type") is None:
        inner["Content-Type"] = "text/plain; charset=us-ascii"
    if plan.hidden:
        lines = [f"{name}: {text}" for name, text in plan.hidden]
        for part in _main_text_parts(inner, 0):
            _lead_with(part, lines)
    inner.set_param("hp", "cipher")
    inner.set_param("protected-headers", "v1")
    return inner.as_bytes(policy=_AS_GIVEN.clone(linesep="\r\n", max_line_length=998))


# Header values copied from the message are written as they came (already folded):
# refolding them would run the email package's parser over each again, which is slow
# on long values and may change them.
_AS_GIVEN = email.policy.default.clone(refold_source="none")


def _main_text_parts(part: email.message.Message, depth: int) -> list[email.message.Message]:
    """The parts a reader shows as the message text (RFC 9788's main body parts)."""
    ctype = part.get_content_type()
    if part.is_multipart():
        children = part.get_payload()
        if not isinstance(children, list) or not children or depth > 8:
            return []
        kids = [c for c in children if isinstance(c, email.message.Message)]
        if ctype == "multipart/alternative":
            return [p for child in kids for p in _main_text_parts(child, depth + 1)]
        if ctype in ("multipart/mixed", "multipart/related") and kids:
            return _main_text_parts(kids[0], depth + 1)
        return []
    if ctype not in ("text/plain", "text/html") or part.get_filename() is not None:
        return []
    if (part.get_content_disposition() or "").lower() == "attachment":
        return []
    return [part]


def _lead_with(part: email.message.Message, lines: list[str]) -> None:
    """Start a text part with the hidden headers, marked as RFC 9788's legacy display."""
    if not isinstance(part, email.message.EmailMessage):
        return
    try:
        text = str(part.get_content())
    except (LookupError, UnicodeError, ValueError, KeyError, AssertionError):
        return  # a text in an unknown charset is left as it is
    subtype = part.get_content_subtype()
    if subtype == "html":
        block = (
            '<div class="header-protection-legacy-display"><pre>'
            + html.escape("\n".join(lines))
            + "</pre></div>"
        )
        opening = re.search(r"<body[^>]{0,2000}>", text, re.IGNORECASE)
        cut = opening.end() if opening else 0
        text = text[:cut] + block + text[cut:]
    else:
        text = "\n".join(lines) + "\n\n" + text
    cte = None if text.isascii() else "quoted-printable"
    part.set_content(text, subtype=subtype, charset="utf-8", cte=cte)
    part.set_param("hp-legacy-display", "1")


# --------------------------------------------------------------------------- ZIP

_NOTE = (
    "\n\n--\n"
    "Les pièces jointes de ce message ont été placées dans une archive chiffrée "
    "(AES-256) : {archive}. Le mot de passe vous est communiqué séparément.\n"
    "The attachments of this message have been placed in an encrypted archive "
    "(AES-256): {archive}. The password is sent to you separately.\n"
)


def zip_attachments(
    msg: email.message.EmailMessage,
    /,
    *,
    password: str,
    names: Collection[str] | None = None,
    archive_name: str = "documents-chiffres.zip",
) -> email.message.EmailMessage:
    """A copy of ``msg`` whose attachments are replaced by one AES-256 ZIP archive.

    ``names`` selects attachments by file name (default: every attachment; inline
    parts of an HTML body stay). A short note in French and English is added to the
    body; the password itself is never written into the message.
    """
    import pyzipper

    if len(password) < 8:
        raise ValueError(
            "The archive password is too short (at least 8 characters) / "
            "le mot de passe de l'archive est trop court (8 caractères au moins)."
        )
    out = copy.deepcopy(msg)
    wanted = None if names is None else set(names)
    chosen = _select_attachments(out, wanted)
    if wanted:
        present = {_part_name(p, 0) for _, p in chosen}
        present |= {_short_name(n) or "" for n in present}
        missing = len(wanted - present)
        if missing:
            raise ProtectionError(
                f"{missing} attachment(s) asked for are not in the message.",
                fr=f"{missing} pièce(s) jointe(s) demandée(s) absente(s) du message.",
                reason="attachment_not_found",
            )
    if not chosen:
        raise ProtectionError(
            "There is no attachment to put in an encrypted archive.",
            fr="Il n'y a aucune pièce jointe à placer dans une archive chiffrée.",
            reason="no_attachment",
        )

    buffer = io.BytesIO()
    used: set[str] = set()
    with pyzipper.AESZipFile(
        buffer, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES
    ) as archive:
        archive.setpassword(password.encode("utf-8"))
        archive.setencryption(pyzipper.WZ_AES, nbits=256)
        for index, (_, part) in enumerate(chosen, start=1):
            member = _unique(_safe_member_name(_part_name(part, index)), used)
            payload = part.get_payload(decode=True)
            if part.get_content_type() == "message/rfc822" or not isinstance(payload, bytes):
                payload = _part_bytes(part)
            archive.writestr(member, payload)

    for parent, part in chosen:
        _detach(parent, part)
    _prune_empty(out)
    _add_note(out, archive_name)
    out.add_attachment(
        buffer.getvalue(),
        maintype="application",
        subtype="zip",
        filename=archive_name,
    )
    return out


def _select_attachments(
    msg: email.message.EmailMessage, wanted: set[str] | None
) -> list[tuple[email.message.Message, email.message.Message]]:
    """``(parent, part)`` pairs of the attachments to move into the archive."""
    chosen: list[tuple[email.message.Message, email.message.Message]] = []
    stack: list[email.message.Message] = [msg]
    while stack:
        parent = stack.pop()
        if not parent.is_multipart() or parent.get_content_type() == "message/rfc822":
            continue
        children = parent.get_payload()
        if not isinstance(children, list):
            continue
        for child in children:
            if not isinstance(child, email.message.Message):
                continue
            if child.is_multipart() and child.get_content_type() != "message/rfc822":
                stack.append(child)
                continue
            disposition = (child.get_content_disposition() or "").lower()
            filename = child.get_filename()
            if wanted is not None:
                if filename is not None and (filename in wanted or _short_name(filename) in wanted):
                    chosen.append((parent, child))
            elif disposition == "attachment" or (filename is not None and disposition != "inline"):
                chosen.append((parent, child))
    return chosen


def _part_name(part: email.message.Message, index: int) -> str:
    name = part.get_filename()
    if name:
        return name
    return (
        f"message-{index}.eml"
        if part.get_content_type() == "message/rfc822"
        else (f"piece-jointe-{index}.bin")
    )


def _part_bytes(part: email.message.Message) -> bytes:
    inner = part.get_payload()
    if isinstance(inner, list) and inner and isinstance(inner[0], email.message.Message):
        return inner[0].as_bytes(policy=email.policy.SMTP)
    raw = part.get_payload(decode=True)
    return raw if isinstance(raw, bytes) else b""


def _safe_member_name(name: str) -> str:
    # Keep only the last path component: a member must never unpack outside its folder.
    base = re.split(r"[\\/]", name)[-1].strip().lstrip(".")
    base = "".join(ch for ch in base if ch.isprintable())
    return base[:200] or "piece-jointe"


def _unique(name: str, used: set[str]) -> str:
    candidate = name
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    n = 2
    while candidate.lower() in used:
        candidate = f"{stem} ({n}).{ext}" if ext else f"{stem} ({n})"
        n += 1
    used.add(candidate.lower())
    return candidate


def _detach(parent: email.message.Message, part: email.message.Message) -> None:
    children = parent.get_payload()
    if isinstance(children, list):
        parent.set_payload([c for c in children if c is not part])


def _prune_empty(part: email.message.Message) -> bool:
    """Drop multiparts left empty; True when ``part`` itself is now empty."""
    if not part.is_multipart() or part.get_content_type() == "message/rfc822":
        return False
    children = part.get_payload()
    if not isinstance(children, list):
        return False
    kept: list[email.message.Message[str, str] | str] = [
        c for c in children if isinstance(c, email.message.Message) and not _prune_empty(c)
    ]
    part.set_payload(kept)
    return not kept


def _add_note(msg: email.message.EmailMessage, archive_name: str) -> None:
    note = _NOTE.format(archive=archive_name)
    if msg.is_multipart() and not msg.get_payload():
        # Only attachments were there: the note becomes the body.
        for name in [n for n in msg if n.lower().startswith(_INNER_PREFIX)]:
            del msg[name]
        msg.set_content(note.lstrip())
        return
    plain = msg.get_body(preferencelist=("plain",))
    rich = msg.get_body(preferencelist=("html",))
    try:
        if isinstance(plain, email.message.EmailMessage):
            plain.set_content(str(plain.get_content()) + note, subtype="plain")
        if isinstance(rich, email.message.EmailMessage):
            text = str(rich.get_content())
            block = "<p>" + html.escape(note.strip()).replace("\n", "<br>\n") + "</p>"
            cut = text.lower().rfind("</body>")
            text = text[:cut] + block + text[cut:] if cut >= 0 else text + block
            rich.set_content(text, subtype="html")
    except (LookupError, UnicodeError, ValueError):
        # A body in an unknown charset is left alone; the note travels beside it.
        plain = rich = None
    if plain is None and rich is None:
        if msg.get_content_type() != "multipart/mixed":
            msg.make_mixed()
        msg.attach(_note_part(note))


def _note_part(note: str) -> email.message.EmailMessage:
    part = email.message.EmailMessage()
    part.set_content(note.lstrip())
    return part


# --------------------------------------------------------------------------- passwords

_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def new_password() -> str:
    """A random password for an archive: 20 symbols (about 115 bits) in groups of four.

    The alphabet leaves out look-alikes (0/O/o, 1/l/I/i) so it can be read out or
    typed from a text message.
    """
    symbols = [secrets.choice(_ALPHABET) for _ in range(20)]
    return "-".join("".join(symbols[i : i + 4]) for i in range(0, 20, 4))
