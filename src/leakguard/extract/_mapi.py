"""What Outlook items (``.msg``) and ``winmail.dat`` (TNEF) have in common: a message
made of MAPI properties (subject, headers, a plain, HTML or compressed-RTF body) and
attachments, some of them messages in turn. The two readers fill an :class:`Item`; this
module reads it out as text chunks and attachments, under the message's limits.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from leakguard.core import Location
from leakguard.extract._common import Context, Item, Unreadable, inner_items, text_items
from leakguard.extract._types import Problem

__all__ = [
    "Attachment",
    "MapiMessage",
    "decode_string",
    "lzfu_decompress",
    "message_items",
]

# MAPI property identifiers read (MS-OXPROPS).
PR_SUBJECT = 0x0037
PR_TRANSPORT_MESSAGE_HEADERS = 0x007D
PR_BODY = 0x1000
PR_RTF_COMPRESSED = 0x1009
PR_HTML = 0x1013
PR_DISPLAY_TO = 0x0E04
PR_DISPLAY_CC = 0x0E03
PR_ATTACH_DATA = 0x3701
PR_ATTACH_FILENAME = 0x3704
PR_ATTACH_LONG_FILENAME = 0x3707
PR_DISPLAY_NAME = 0x3001
PR_INTERNET_CPID = 0x3FDE

# MAPI property types.
PT_STRING8 = 0x001E
PT_UNICODE = 0x001F
PT_BINARY = 0x0102
PT_OBJECT = 0x000D


@dataclass(slots=True)
class Attachment:
    """One attachment: a file (``data``), or a message attached as an Outlook item
    (``embedded``, read only when its turn comes so that depth and time limits apply)."""

    name: str | None
    data: bytes | None = None
    embedded: Callable[[], MapiMessage] | None = None


@dataclass(slots=True)
class MapiMessage:
    """The readable parts of an Outlook message."""

    subject: str = ""
    headers: str = ""
    recipients: str = ""
    body: str = ""
    html: bytes = b""
    rtf_compressed: bytes = b""
    attachments: list[Attachment] = field(default_factory=list)
    damage: str | None = None
    """Why part of the item could not be read (``corrupt``, ``timeout``), or None."""


# Windows code page numbers whose Python codec is not named ``cp<number>``.
_CODEPAGES = {
    65001: "utf-8",
    65000: "utf-7",
    1200: "utf-16-le",
    1201: "utf-16-be",
    20127: "ascii",
    20866: "koi8-r",
    21866: "koi8-u",
    28591: "latin-1",
    28592: "iso8859-2",
    28595: "iso8859-5",
    28597: "iso8859-7",
    28599: "iso8859-9",
    28605: "iso8859-15",
    50220: "iso2022-jp",
    50221: "iso2022-jp",
    50222: "iso2022-jp",
    51932: "euc-jp",
    51949: "euc-kr",
    52936: "hz",
    54936: "gb18030",
    10000: "mac-roman",
}


def decode_string(raw: bytes, unicode: bool, codepage: int | None = None) -> str:
    """A MAPI string property: UTF-16 for ``PT_UNICODE``, else the item's code page (a
    Windows code page number: 1252, 932 for Japanese Shift-JIS, 65001 for UTF-8…)."""
    if unicode:
        return raw.decode("utf-16-le", "replace").split("\x00", 1)[0]
    encoding = _CODEPAGES.get(codepage or 1252, f"cp{codepage or 1252}")
    try:
        text = raw.decode(encoding, "replace")
    except LookupError:
        text = raw.decode("cp1252", "replace")
    return text.split("\x00", 1)[0]


# --------------------------------------------------------------------------- RTF

# The dictionary every compressed RTF stream starts from (MS-OXRTFCP 2.1.3.1.1).
_RTF_PREBUF = (
    b"{\\rtf1\\ansi\\mac\\deff0\\deftab720{\\fonttbl;}{\\f0\\fnil \\froman \\fswiss \\fmodern "
    b"\\fscript \\fdecor MS Sans SerifSymbolArialTimes New RomanCourier{\\colortbl\\red0"
    b"\\green0\\blue0\r\n\\par \\pard\\plain\\f0\\fs20\\b\\i\\u\\tab\\tx"
)
_COMPRESSED = 0x75465A4C  # "LZFu"
_UNCOMPRESSED = 0x414C454D  # "MELA"


def lzfu_decompress(
    data: bytes, max_size: int, expired: Callable[[], bool] | None = None
) -> tuple[bytes, str | None]:
    """The RTF of a ``PR_RTF_COMPRESSED`` value, and why it is not all of it (None when
    it is): ``corrupt`` when the stream is damaged or holds more than its header
    declares, ``too_large`` past ``max_size``, ``timeout`` when ``expired`` says so.

    Output stops at the size the header declares: a stream declaring 10 bytes is never
    expanded further, whatever its references say.
    """
    if len(data) < 16:
        raise Unreadable("corrupt")
    comp_size, raw_size, kind, _crc = struct.unpack_from("<IIII", data)
    if raw_size > max_size:
        raise Unreadable("too_large")
    body = data[16 : 4 + comp_size]
    if kind == _UNCOMPRESSED:
        return body[:raw_size], None
    if kind != _COMPRESSED:
        raise Unreadable("corrupt")
    window = bytearray(_RTF_PREBUF.ljust(4096, b"\x00"))
    write = len(_RTF_PREBUF)
    out = bytearray()
    pos = 0
    checked = 0
    while pos < len(body):
        if len(out) - checked >= 65536:
            checked = len(out)
            if expired is not None and expired():
                return bytes(out), "timeout"
        control = body[pos]
        pos += 1
        for bit in range(8):
            if pos >= len(body):
                break
            if control & (1 << bit):
                if pos + 2 > len(body):
                    return bytes(out), "corrupt"
                ref = (body[pos] << 8) | body[pos + 1]
                pos += 2
                offset, length = ref >> 4, (ref & 0xF) + 2
                if offset == write:
                    return bytes(out), None
                for i in range(length):
                    byte = window[(offset + i) % 4096]
                    out.append(byte)
                    window[write] = byte
                    write = (write + 1) % 4096
            else:
                byte = body[pos]
                pos += 1
                out.append(byte)
                window[write] = byte
                write = (write + 1) % 4096
            if len(out) > raw_size:
                # More than the header declared: keep what it declared, say the rest.
                return bytes(out[:raw_size]), "corrupt"
    return bytes(out), None


# --------------------------------------------------------------------------- reading


def message_items(message: MapiMessage, location: Location, ctx: Context) -> Iterator[Item]:
    """The text of an Outlook message at ``location``, then each attachment under it.

    Each body the item holds is read: the plain text, the HTML (what it shows and what
    it holds unshown) and the RTF. Outlook keeps them alike, but they leave with the
    item whatever each says. Past ``max_members`` attachments the item is reported
    ``too_many_members``.
    """
    from leakguard.extract.html import html_items
    from leakguard.extract.rtf import rtf_texts
    from leakguard.extract.text import decode_text

    budget = ctx.budget
    head = "\n".join(p for p in (message.subject, message.recipients, message.headers) if p)
    yield from text_items(head, location, budget)
    if message.body.strip():
        yield from text_items(message.body, location, budget)
    if message.html:
        yield from html_items(decode_text(message.html, None), location, budget)
    if message.rtf_compressed:
        room = min(budget.limits.max_part_bytes, budget.limits.max_total_bytes - budget.bytes_used)
        rtf, short = lzfu_decompress(message.rtf_compressed, max(room, 0), budget.expired)
        budget.take_bytes(len(rtf))
        for text in rtf_texts(rtf):
            yield from text_items(text, location, budget, "application/rtf")
        if short is not None:
            yield Problem(location, short)
    if message.damage is not None:
        # What could be read of a damaged item was read above; the rest is reported.
        yield Problem(location, message.damage)
    for index, attachment in enumerate(message.attachments):
        if index >= budget.limits.max_members:
            yield Problem(location, "too_many_members")
            return
        if budget.expired():
            yield Problem(location, "timeout")
            return
        name = attachment.name or f"attachment-{index + 1}"
        where = location.child(name)
        if attachment.embedded is not None:
            if ctx.depth + 1 > budget.limits.max_depth:
                yield Problem(where, "too_deep")
                continue
            try:
                inner = attachment.embedded()
            except Unreadable as err:
                yield Problem(where, err.reason, err.container)
                continue
            yield from message_items(
                inner, where, Context(budget, ctx.depth + 1, name, ctx.messages)
            )
            continue
        data = attachment.data or b""
        if not budget.take_bytes(len(data)):
            yield Problem(where, "too_large")
            continue
        yield from inner_items(data, where, ctx, name)
