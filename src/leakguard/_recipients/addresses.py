"""One canonical spelling for e-mail addresses, so equal mailboxes compare equal.

Syntax only, never DNS: email-validator decides what a valid address is; a quick path
handles the common plain-ASCII shapes it would accept anyway (a directory may hold a
million lines). Domains take their Unicode (IDNA U-label) form, lower-case; local parts
are lower-cased too, because mail systems treat ``Jean.Dupont`` and ``jean.dupont`` as
one mailbox and a case difference must never look like a lookalike.
"""

from __future__ import annotations

import unicodedata

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

__all__ = ["InvalidAddress", "domain_of", "lenient", "local_of", "strict"]

_LOCAL_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_!#$%&'*+-/=?^`{|}~."
)
_DOMAIN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-.")
_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyz")
# email-validator refuses these names (RFC 6761 and friends) as domains or their parents.
_SPECIAL_LABELS = frozenset(n for n in SPECIAL_USE_DOMAIN_NAMES if "." not in n)
_SPECIAL_NAMES = tuple(n for n in SPECIAL_USE_DOMAIN_NAMES if "." in n)
_MAX_INPUT = 1000


class InvalidAddress(ValueError):
    """An address that email-validator rejects; the text is its sentence."""


def _quick(address: str) -> str | None:
    """The canonical form of a plain ASCII address, or None to ask email-validator.

    Accepts only shapes email-validator accepts unchanged apart from case (a test
    checks this), so the two paths never disagree.
    """
    if not address.isascii() or address.count("@") != 1 or len(address) > 254:
        return None
    local, domain = address.split("@")
    if not 0 < len(local) <= 64 or local[0] == "." or local[-1] == "." or ".." in local:
        return None
    if not _LOCAL_CHARS.issuperset(local):
        return None
    domain = domain.lower()
    if len(domain) > 253 or not _DOMAIN_CHARS.issuperset(domain):
        return None
    labels = domain.split(".")
    if len(labels) < 2:
        return None
    for label in labels:
        if not 0 < len(label) <= 63 or label[0] == "-" or label[-1] == "-" or label[2:4] == "--":
            return None
    if labels[-1][-1] not in _LETTERS:
        return None
    if labels[-1] in _SPECIAL_LABELS:
        return None
    for name in _SPECIAL_NAMES:
        if domain == name or domain.endswith("." + name):
            return None
    return f"{local.lower()}@{domain}"


def strict(address: str, /) -> str:
    """The canonical form of a valid address; raises ``InvalidAddress`` otherwise."""
    text = address.strip()
    if len(text) > _MAX_INPUT:
        raise InvalidAddress("The email address is too long.")
    quick = _quick(text)
    if quick is not None:
        return quick
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidAddress(str(exc)) from None
    local = unicodedata.normalize("NFC", result.local_part).lower()
    return f"{local}@{result.domain.lower()}"


def _decode_label(label: str) -> str:
    if label.startswith("xn--"):
        try:
            return label[4:].encode("ascii").decode("punycode")
        except (UnicodeError, ValueError):
            return label
    return label


def lenient(address: str, /) -> str:
    """Canonical form for comparison, even for an address email-validator rejects.

    A recipient is compared with the colleagues whatever its syntax: a homoglyph or a
    punycode label that IDNA refuses must still be seen, not skipped.
    """
    try:
        return strict(address)
    except InvalidAddress:
        pass
    text = unicodedata.normalize("NFC", address.strip()[:_MAX_INPUT])
    local, at, domain = text.rpartition("@")
    if not at:
        return text.lower()
    labels = [_decode_label(part) for part in domain.lower().split(".")]
    return f"{local.lower()}@{'.'.join(labels).lower()}"


def local_of(address: str, /) -> str:
    return address.rpartition("@")[0]


def domain_of(address: str, /) -> str:
    return address.rpartition("@")[2]
