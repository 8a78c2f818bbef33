"""``winmail.dat`` (TNEF, MS-OXTNEF): the message Outlook wraps for other mail programs,
with its body and attachments inside.

A TNEF stream is a signature, then attributes: a level (message or attachment), an
identifier, a length, the value and a checksum. The message's MAPI properties (body,
compressed RTF, HTML) sit in one attribute as a property list; each attachment starts
with an ``attAttachRendData`` attribute, and an attached Outlook item is itself a TNEF
stream inside the attachment's ``PR_ATTACH_DATA_OBJ`` property.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from leakguard.core import Location
from leakguard.extract import _mapi as mapi
from leakguard.extract._common import Context, Item, Unreadable
from leakguard.extract._mapi import Attachment, MapiMessage, decode_string, message_items

__all__ = ["MAGIC", "read_tnef"]

MAGIC = 0x223E9F78

# Attribute identifiers (low 16 bits of the attribute id).
ATT_SUBJECT = 0x8004
ATT_BODY = 0x800C
ATT_ATTACH_DATA = 0x800F
ATT_ATTACH_TITLE = 0x8010
ATT_ATTACH_REND_DATA = 0x9002
ATT_MAPI_PROPS = 0x9003
ATT_ATTACHMENT = 0x9005
ATT_OEM_CODEPAGE = 0x9007
LEVEL_MESSAGE = 1
LEVEL_ATTACHMENT = 2

# Sizes of the fixed-size MAPI property types (MS-OXCDATA 2.11.1), padded as TNEF stores
# them; variable-size ones are listed apart.
_FIXED = {
    0x0002: 4, 0x0003: 4, 0x0004: 4, 0x0005: 8, 0x0006: 8, 0x0007: 8, 0x000A: 4,
    0x000B: 4, 0x0014: 8, 0x0040: 8, 0x0048: 16,
}  # fmt: skip
_VARIABLE = frozenset({mapi.PT_STRING8, mapi.PT_UNICODE, mapi.PT_BINARY, mapi.PT_OBJECT})
_MULTI = 0x1000
# IID_IMessage: a PR_ATTACH_DATA_OBJ holding an attached message.
_IID_IMESSAGE = bytes.fromhex("0703020000000000c000000000000046")


@dataclass(frozen=True, slots=True)
class _Prop:
    ident: int
    kind: int
    values: tuple[bytes, ...]


def read_tnef(data: bytes, location: Location, ctx: Context) -> Iterator[Item]:
    """A ``winmail.dat``: its subject and body, then each attachment."""
    yield from message_items(_parse(data, ctx.budget.expired), location, ctx)


# Fewer bytes than an attribute header after the last attribute: padding some writers
# leave, which mail programs ignore.
_HEADER = 9


def _attributes(
    data: bytes, expired: Callable[[], bool], damage: list[str]
) -> Iterator[tuple[int, int, bytes]]:
    """(level, attribute id, value) of each attribute, read the way mail programs read
    them: a wrong checksum is ignored, and so are a few stray bytes at the end. When
    the stream breaks off (an attribute longer than what is left), or time is up, the
    attributes read so far stand and ``damage`` says why the rest was not read."""
    if len(data) < 6 or struct.unpack_from("<I", data)[0] != MAGIC:
        raise Unreadable("corrupt")
    pos = 6
    count = 0
    while pos < len(data):
        count += 1
        if count % 256 == 0 and expired():
            damage.append("timeout")
            return
        if pos + _HEADER > len(data):
            return
        level = data[pos]
        ident, length = struct.unpack_from("<II", data, pos + 1)
        start = pos + _HEADER
        end = start + length
        if level not in (LEVEL_MESSAGE, LEVEL_ATTACHMENT) or end > len(data):
            damage.append("corrupt")
            return
        yield level, ident & 0xFFFF, data[start:end]
        pos = end + 2


def _properties(data: bytes) -> Iterator[_Prop]:
    """The MAPI properties of an ``attMAPIProps`` or ``attAttachment`` value."""
    try:
        (count,) = struct.unpack_from("<I", data)
        pos = 4
        for _ in range(count):
            kind, ident = struct.unpack_from("<HH", data, pos)
            pos += 4
            if ident >= 0x8000:
                # A named property: a GUID, then a number or a name, which we skip.
                named_kind = struct.unpack_from("<I", data, pos + 16)[0]
                pos += 20
                if named_kind == 0:
                    pos += 4
                else:
                    (size,) = struct.unpack_from("<I", data, pos)
                    pos += 4 + _padded(size)
            multi = bool(kind & _MULTI)
            base = kind & ~_MULTI
            values: list[bytes] = []
            if base in _VARIABLE:
                (n,) = struct.unpack_from("<I", data, pos)
                pos += 4
                for _ in range(n):
                    (size,) = struct.unpack_from("<I", data, pos)
                    values.append(data[pos + 4 : pos + 4 + size])
                    pos += 4 + _padded(size)
            elif base in _FIXED:
                n = 1
                if multi:
                    (n,) = struct.unpack_from("<I", data, pos)
                    pos += 4
                if pos + n * _FIXED[base] > len(data):
                    raise Unreadable("corrupt")
                for _ in range(n):
                    values.append(data[pos : pos + _FIXED[base]])
                    pos += _FIXED[base]
            else:
                raise Unreadable("corrupt")
            if pos > len(data):
                raise Unreadable("corrupt")
            yield _Prop(ident, base, tuple(values))
    except struct.error:
        raise Unreadable("corrupt") from None


def _padded(size: int) -> int:
    return (size + 3) & ~3


def _parse(data: bytes, expired: Callable[[], bool] = lambda: False) -> MapiMessage:
    message = MapiMessage()
    codepage: int | None = None
    current: Attachment | None = None
    damage: list[str] = []
    for level, ident, value in _attributes(data, expired, damage):
        if ident == ATT_OEM_CODEPAGE and len(value) >= 4:
            codepage = struct.unpack_from("<I", value)[0]
        elif level == LEVEL_MESSAGE and ident == ATT_SUBJECT:
            message.subject = decode_string(value, False, codepage)
        elif level == LEVEL_MESSAGE and ident == ATT_BODY:
            message.body = decode_string(value, False, codepage)
        elif level == LEVEL_MESSAGE and ident == ATT_MAPI_PROPS:
            try:
                _message_properties(message, value, codepage)
            except Unreadable:
                damage.append("corrupt")
        elif ident == ATT_ATTACH_REND_DATA:
            current = Attachment(None, data=b"")
            message.attachments.append(current)
        elif current is not None and ident == ATT_ATTACH_TITLE:
            current.name = current.name or decode_string(value, False, codepage) or None
        elif current is not None and ident == ATT_ATTACH_DATA:
            current.data = value
        elif level == LEVEL_ATTACHMENT and ident == ATT_ATTACHMENT:
            if current is None:
                # Properties with no rendering attribute before them: an attachment still.
                current = Attachment(None, data=b"")
                message.attachments.append(current)
            try:
                _attachment_properties(current, value, codepage)
            except Unreadable:
                damage.append("corrupt")
    message.damage = damage[0] if damage else None
    return message


def _text(prop: _Prop, codepage: int | None) -> str:
    if not prop.values:
        return ""
    if prop.kind in (mapi.PT_UNICODE, mapi.PT_STRING8):
        return decode_string(prop.values[0], prop.kind == mapi.PT_UNICODE, codepage)
    return ""


def _message_properties(message: MapiMessage, value: bytes, codepage: int | None) -> None:
    props = list(_properties(value))
    for prop in props:
        if prop.ident == mapi.PR_INTERNET_CPID and prop.values:
            codepage = struct.unpack_from("<I", prop.values[0].ljust(4, b"\0"))[0]
    for prop in props:
        if not prop.values:
            continue
        if prop.ident == mapi.PR_BODY:
            message.body = message.body or _text(prop, codepage)
        elif prop.ident == mapi.PR_SUBJECT:
            message.subject = message.subject or _text(prop, codepage)
        elif prop.ident == mapi.PR_TRANSPORT_MESSAGE_HEADERS:
            message.headers = _text(prop, codepage)
        elif prop.ident == mapi.PR_HTML:
            message.html = (
                prop.values[0]
                if prop.kind == mapi.PT_BINARY
                else _text(prop, codepage).encode("utf-8")
            )
        elif prop.ident == mapi.PR_RTF_COMPRESSED and prop.kind == mapi.PT_BINARY:
            message.rtf_compressed = prop.values[0]


def _attachment_properties(attachment: Attachment, value: bytes, codepage: int | None) -> None:
    long_name = display = ""
    for prop in _properties(value):
        if not prop.values:
            continue
        if prop.ident == mapi.PR_ATTACH_LONG_FILENAME:
            long_name = _text(prop, codepage)
        elif prop.ident == mapi.PR_DISPLAY_NAME:
            display = _text(prop, codepage)
        elif prop.ident == mapi.PR_ATTACH_DATA and prop.kind == mapi.PT_OBJECT:
            inner = prop.values[0]
            if inner[:16] == _IID_IMESSAGE:
                attachment.embedded = functools.partial(_parse, inner[16:])
            else:
                attachment.data = inner[16:]
        elif (
            prop.ident == mapi.PR_ATTACH_DATA
            and prop.kind == mapi.PT_BINARY
            and len(prop.values[0]) > len(attachment.data or b"")
        ):
            # PR_ATTACH_DATA_BIN: the file itself, as Outlook writes it in the properties
            # rather than in attAttachData. Mail programs read either.
            attachment.data = prop.values[0]
    if attachment.embedded is not None:
        # An attached item is named by its display name (its subject).
        attachment.name = f"{display or long_name or attachment.name or 'item'}.msg"
    else:
        # The long file name over the 8.3 title of attAttachTitle.
        attachment.name = long_name or attachment.name or display or None
