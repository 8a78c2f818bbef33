"""Is a message protected? S/MIME enveloped data, PGP/MIME, inline PGP, and
attachments that are encrypted containers of their own (PDF, ZIP, Office, ODF).

Always from the bytes: a part counts as encrypted only when it parses as the encrypted
structure its label names, never because of the label (type, ``smime-type``, file name,
armour lines).
"""

from __future__ import annotations

import email.message
import email.utils
import html
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from leakguard.extract._types import Limits
from leakguard.extract.encryption import (
    container_encrypted,
    control_part_honest,
    pgp_armoured,
    pgp_mime_encrypted,
)
from leakguard.extract.pkcs7 import cms_kind

__all__ = [
    "Method",
    "ProtectionState",
    "container_encrypted",
    "message_encrypted",
    "protection_state",
]

Method = Literal["smime", "pgp"]


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
    """``smime`` or ``pgp`` when this part is an encryption envelope whose content really
    is encrypted, else None."""
    ctype = part.get_content_type()
    if ctype == "multipart/encrypted":
        return "pgp" if _pgp_mime(part) else None
    if _smime_kind(part) == "enveloped":
        return "smime"
    return None


def _pgp_mime(part: email.message.Message) -> bool:
    """PGP/MIME (RFC 3156): the version part, then an OpenPGP encrypted message."""
    return pgp_mime_encrypted(_param(part, "protocol"), part.get_payload(), _decoded)


def _decoded(part: email.message.Message) -> bytes | None:
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else None


def _smime_kind(part: email.message.Message) -> str | None:
    """``enveloped``, ``signed`` or None for a part that may hold CMS data.

    Only the bytes decide: enveloped data with a recipient and real ciphertext, or
    signed data. A ``smime-type`` parameter or a ``.p7m`` name over anything else
    decides nothing.
    """
    ctype = part.get_content_type()
    name = (part.get_filename() or _param(part, "name")).strip().lower()
    if ctype not in _SMIME_TYPES and not name.endswith((".p7m", ".p7e")):
        return None
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return None
    kind = cms_kind(payload)
    if kind == "encrypted":
        return "enveloped"
    return kind


def _param(part: email.message.Message, name: str) -> str:
    """A Content-Type parameter as plain lower-case text ("" when absent)."""
    value = part.get_param(name)
    if value is None:
        return ""
    return str(email.utils.collapse_rfc2231_value(value)).strip().lower()


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
        if ctype in _SIGNATURE_TYPES and _honest(part, ctype):
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


def _honest(part: email.message.Message, ctype: str) -> bool:
    """A signature part that really is a signature (one that is not is content)."""
    data = part.get_payload(decode=True)
    return isinstance(data, bytes) and control_part_honest(ctype, data)


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
