"""One MIME part's headers and bytes, read fast and without failing: its type,
parameters, file name, disposition and transfer encoding, and its payload decoded
(base64 as far as it goes, however damaged).
"""

from __future__ import annotations

import binascii
import email.message
import email.utils
import re
import threading
import weakref

from leakguard._headers import header_text, unfold
from leakguard.message._load import _MIME_HEADERS, _mime_cut

_B64_JUNK = re.compile(rb"[^A-Za-z0-9+/=\-_\s]")
_B64_KEEP = re.compile(rb"[^A-Za-z0-9+/=]")
_PADDING = re.compile(rb"=+")
_B64_SPACE = b" \t\r\n\v\f"
_B64_USUAL = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=" + _B64_SPACE
_MAX_NAME = 200


# The last part a thread made a shadow of (weakly held), its field count and the shadow:
# its type, name, disposition and encoding are asked one after the other.
_LAST = threading.local()


def _shadow(part: email.message.Message) -> email.message.Message:
    """The part's MIME headers in a lightweight copy, read with the old, fast rules.

    The modern header parser walks values character by character in Python, again on
    every read; a hostile 100 KB parameter read a dozen times would cost seconds. The
    values are also cut to a length no honest header needs.
    """
    last = getattr(_LAST, "entry", None)
    if last is not None and last[0]() is part and last[1] == len(part):
        shadow: email.message.Message = last[2]
        return shadow
    shadow = email.message.Message()
    shadow.set_default_type(part.get_default_type())
    for key, value in part.raw_items():
        if key.lower() in _MIME_HEADERS:
            shadow[key] = unfold(_mime_cut(str(value)))
    _LAST.entry = (weakref.ref(part), len(part), shadow)
    return shadow


def _content_type(part: email.message.Message) -> str:
    try:
        return _shadow(part).get_content_type()
    except Exception:
        return "application/octet-stream"


def _param(part: email.message.Message, name: str) -> str | None:
    try:
        value = _shadow(part).get_param(name)
    except Exception:
        return None
    if isinstance(value, tuple):
        value = email.utils.collapse_rfc2231_value(value)
    return str(value).strip().lower() if value else None


def _names(part: email.message.Message) -> list[str]:
    """The names a part gives its file, each once: Content-Disposition's ``filename``
    first (the one :func:`_filename` gives), then Content-Type's ``name`` when it says
    something else. Mail readers show one or the other, so both leave with the mail."""
    names: list[str] = []
    for param, field in (("filename", "content-disposition"), ("name", "content-type")):
        try:
            value = _shadow(part).get_param(param, None, field)
        except Exception:
            continue
        if not value:
            continue
        name = _shown_name(str(email.utils.collapse_rfc2231_value(value)).strip())
        if name and name not in names:
            names.append(name)
    return names


def _filename(part: email.message.Message) -> str | None:
    names = _names(part)
    return names[0] if names else None


def _shown_name(raw: str) -> str:
    """A file name as a person sees it: encoded words decoded, the last component of a
    path, at most ``_MAX_NAME`` characters (its extension kept)."""
    name = header_text(raw)
    # A path sent by some clients ("C:\\Users\\...\\scan.pdf"): the last component names it.
    name = re.split(r"[\\/]", name)[-1].strip()
    if len(name) > _MAX_NAME:
        # Keep the extension: it tells a person what the file was.
        stem, dot, ext = name.rpartition(".")
        ext = dot + ext if stem and len(ext) <= 16 else ""
        name = name[: _MAX_NAME - len(ext)] + ext
    return name


def _disposition(part: email.message.Message) -> str | None:
    try:
        return _shadow(part).get_content_disposition()
    except Exception:
        return None


def _transfer_encoding(part: email.message.Message) -> str:
    try:
        return str(_shadow(part).get("content-transfer-encoding", "")).strip().lower()
    except Exception:
        return ""


def _b64decode(raw: bytes) -> tuple[bytes, bool]:
    """Decode base64 as far as it goes; the flag says the text was damaged."""
    if not raw.translate(None, _B64_USUAL):
        # The usual case at C speed (a large attachment): the standard alphabet in lines,
        # padding only at the end and as long as it should be.
        clean = raw.translate(None, _B64_SPACE)
        body = clean.rstrip(b"=")
        if b"=" not in body and clean == body + b"=" * (-len(body) % 4) and len(body) % 4 != 1:
            return binascii.a2b_base64(clean), False
    return _b64_segments(raw)


def _b64_segments(raw: bytes) -> tuple[bytes, bool]:
    """Base64 decoded segment by segment as far as it goes, whatever the damage."""
    damaged = _B64_JUNK.search(raw) is not None
    clean = _B64_KEEP.sub(b"", raw.replace(b"-", b"+").replace(b"_", b"/"))
    out: list[bytes] = []
    for segment in _PADDING.split(clean):
        rest = len(segment) % 4
        if rest == 1:
            # One lone character cannot encode anything: a damaged stream.
            segment = segment[:-1]
            damaged = True
        elif rest:
            segment += b"=" * (4 - rest)
        if segment:
            try:
                out.append(binascii.a2b_base64(segment))
            except binascii.Error:
                damaged = True
    return b"".join(out), damaged


def _payload(part: email.message.Message) -> tuple[bytes, bool]:
    """The decoded bytes of a leaf part and whether its transfer encoding was damaged."""
    raw = part.get_payload(decode=False)
    if isinstance(raw, list):
        return b"", False
    text = raw if isinstance(raw, str) else str(raw)
    cte = _transfer_encoding(part)
    if cte == "base64":
        return _b64decode(text.encode("utf-8", "surrogateescape"))
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        return data, False
    return text.encode("utf-8", "surrogateescape"), False
