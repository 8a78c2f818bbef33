"""Text files whose writing hides what they say from a plain read: calendar invitations
and vCards (lines folded mid-word, escaped, quoted-printable or base64 values), JSON
(escaped characters, documents carried as base64 — a FHIR attachment), XML (character
references, attribute values, a CDA document's base64 body) and ``text/enriched``.

:func:`reshaped` gives the text as a person reads it, and the documents carried inside
as base64, to be read in turn.
"""

from __future__ import annotations

import base64
import binascii
import json
import quopri
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from leakguard.extract._common import Unreadable
from leakguard.extract._xml import text_lines
from leakguard.extract.text import decode_text

__all__ = ["Reshaped", "base64_bytes", "reshaped"]

_DIRECTORY_TYPES = frozenset(
    {"text/calendar", "text/vcard", "text/x-vcard", "text/directory", "text/x-vcalendar"}
)
_ENRICHED_TYPES = frozenset({"text/enriched", "text/richtext"})
_DIRECTORY_START = re.compile(r"\A\s*BEGIN:(?:VCALENDAR|VCARD)\b", re.IGNORECASE)
_FOLD = re.compile(r"\r?\n[ \t]")
_QP_SOFT = re.compile(r"=\r?\n")
_CONTENT_LINE = re.compile(r"^([A-Za-z0-9-]+)((?:;[^:\r\n]*)?):(.*)$")
_ESCAPES = re.compile(r"\\([nN,;:\\])")
_ENRICHED_PARAM = re.compile(r"<param>.*?</param>", re.IGNORECASE | re.DOTALL)
_ENRICHED_COMMAND = re.compile(r"</?[A-Za-z0-9-]{1,60}>")
# A string this long made only of base64 characters, padded to whole groups, may be a
# document (what it decodes to decides).
_BASE64_MIN = 24
_BASE64 = re.compile(r"[A-Za-z0-9+/=\r\n \t]+")
_DECLARED_ENCODING = re.compile(r"""(?<=<\?xml)([^>]*?)\sencoding=["'][^"']*["']""")
# Past this size JSON and XML are read as plain text (a parsed tree costs ten times its
# text in memory).
_MAX_STRUCTURED = 8 * 1024 * 1024
_MAX_DOCUMENTS = 256


@dataclass(slots=True)
class Reshaped:
    """A text as a person reads it, and the documents it carries (base64, decoded)."""

    text: str
    documents: list[bytes] = field(default_factory=list)


def reshaped(text: str, declared_type: str | None, limit: int) -> Reshaped | None:
    """The text of a calendar, vCard, JSON, XML or enriched-text file as a person reads
    it, or None for any other text (read as it is). ``limit`` caps each carried document."""
    kind = (declared_type or "").split(";", 1)[0].strip().lower()
    head = text[:256].lstrip("\ufeff \t\r\n")
    if kind in _DIRECTORY_TYPES or _DIRECTORY_START.match(head):
        return _directory(text, limit)
    if kind in _ENRICHED_TYPES:
        return Reshaped(_enriched(text))
    if len(text) > _MAX_STRUCTURED:
        return None
    if head[:1] in ("{", "[") or kind.endswith("json"):
        return _json(text, limit)
    if head.startswith("<?xml") or (kind.endswith("xml") and head.startswith("<")):
        return _xml(text, limit)
    return None


def _directory(text: str, limit: int) -> Reshaped:
    """iCalendar (RFC 5545) and vCard (RFC 6350, and 2.1 as Outlook writes it): folded
    lines joined, escapes undone, quoted-printable and base64 values decoded (an
    ``ATTACH`` carried inline is a document)."""
    text = _FOLD.sub("", text)
    lines: list[str] = []
    documents: list[bytes] = []
    pending = ""
    for raw in text.splitlines():
        if pending:
            raw = pending + raw
            pending = ""
        m = _CONTENT_LINE.match(raw)
        if m is None:
            lines.append(_ESCAPES.sub(_unescape, raw))
            continue
        name, params, value = m.group(1), m.group(2).upper(), m.group(3)
        if "QUOTED-PRINTABLE" in params:
            if value.endswith("="):
                pending = raw[:-1]  # a soft line break: the value goes on
                continue
            # The bytes decide, the CHARSET parameter only where they decode in it: a
            # Latin-1 note without one must not lose its non-breaking spaces.
            value = decode_text(
                quopri.decodestring(value.encode("latin-1", "replace")), _charset(params)
            )
        elif "ENCODING=B" in params or "ENCODING=BASE64" in params:
            decoded = _b64(value)
            if decoded is not None and name.upper() not in ("PHOTO", "LOGO", "SOUND", "KEY"):
                documents.append(decoded[:limit])
            continue
        lines.append(f"{name}: {_ESCAPES.sub(_unescape, value)}")
    if pending:
        lines.append(pending)
    return Reshaped("\n".join(lines), documents[:_MAX_DOCUMENTS])


def _charset(params: str) -> str | None:
    m = re.search(r"CHARSET=([A-Z0-9_-]+)", params)
    return m.group(1).lower() if m else None


def _unescape(m: re.Match[str]) -> str:
    ch = m.group(1)
    return "\n" if ch in "nN" else ch


def _enriched(text: str) -> str:
    """``text/enriched``: formatting commands dropped, ``<<`` is a ``<``; a single line
    break is a space, as a reader shows it."""
    text = _ENRICHED_PARAM.sub("", text)
    text = _ENRICHED_COMMAND.sub("", text.replace("<<", "\x00"))
    return text.replace("\x00", "<")


def _b64(value: str) -> bytes | None:
    compact = "".join(value.split())
    if len(compact) < _BASE64_MIN or len(compact) % 4 or not _BASE64.fullmatch(compact):
        return None
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return None


def _json(text: str, limit: int) -> Reshaped | None:
    """JSON: one line per value, named by its key (escapes undone, so ``\\u0031`` is a
    ``1``); a long base64 string is a document carried inside (a FHIR attachment)."""
    try:
        value = json.loads(text, object_pairs_hook=_Members)
    except (ValueError, RecursionError):
        return None
    lines: list[str] = []
    documents: list[bytes] = []
    for key, item in _walk(value):
        if isinstance(item, str):
            decoded = _b64(item) if len(item) >= _BASE64_MIN else None
            if decoded is not None and _document(decoded):
                documents.append(decoded[:limit])
                continue
        lines.append(f"{key}: {item}" if key else str(item))
    return Reshaped("\n".join(lines), documents[:_MAX_DOCUMENTS])


class _Members(list[tuple[str, Any]]):
    """A JSON object's members, each kept: a key given twice keeps both values (a
    reader of the file sees both; a dictionary would keep the last)."""


def _walk(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    stack: list[tuple[str, Any]] = [(key, value)]
    while stack:
        name, item = stack.pop()
        if isinstance(item, _Members):
            stack.extend(reversed([(str(k), v) for k, v in item]))
        elif isinstance(item, list):
            stack.extend(reversed([(name, v) for v in item]))
        elif item is not None and not isinstance(item, bool):
            yield name, item


def _xml(text: str, limit: int) -> Reshaped | None:
    """XML: every element's text and every attribute's value, one per line (character
    references resolved); an element whose text is a long base64 string carries a
    document (a CDA's non-XML body, an HPRIM attachment)."""
    # The text is already decoded: its declaration must not make the parser decode again.
    text = _DECLARED_ENCODING.sub(r"\1", text[:512], count=1) + text[512:]
    try:
        lines = text_lines(text.encode("utf-8", "replace"), every_attribute=True)
    except Unreadable:
        return None
    kept: list[str] = []
    documents: list[bytes] = []
    for line in lines:
        decoded = _b64(line) if len(line) >= _BASE64_MIN else None
        if decoded is not None and _document(decoded):
            documents.append(decoded[:limit])
        else:
            kept.append(line)
    return Reshaped("\n".join(kept), documents[:_MAX_DOCUMENTS])


def _document(data: bytes) -> bool:
    """Whether decoded base64 is a document or text rather than noise (a hash, a key)."""
    from leakguard.extract.sniff import sniff

    return sniff(data) != "binary"


def base64_bytes(value: str) -> bytes | None:
    """What ``value`` decodes to when it is base64 (white space aside, at least 24
    characters, in whole groups), else None."""
    return _b64(value)
