"""Outlook items (``.msg``): an OLE compound file holding a message's MAPI properties.

The compound file is opened with olefile (BSD); the properties are read from their
streams as MS-OXMSG lays them out: ``__substg1.0_<id><type>`` streams under the root for
the message, under ``__attach_version1.0_#n`` storages for attachments, and an attached
Outlook item as a ``__substg1.0_3701000D`` storage holding a message of its own.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from typing import Any

from leakguard.core import Location
from leakguard.extract import _mapi as mapi
from leakguard.extract._common import Context, Item, Unreadable
from leakguard.extract._mapi import Attachment, MapiMessage, decode_string, message_items

__all__ = ["looks_like_msg", "read_msg"]

_PROPERTIES = "__properties_version1.0"
_ATTACH = "__attach_version1.0_#"
_EMBEDDED = f"__substg1.0_{mapi.PR_ATTACH_DATA:04X}{mapi.PT_OBJECT:04X}"
# Fixed-size properties follow a header of 32 bytes in the item's own property stream,
# 24 in an attached item's (MS-OXMSG 2.4.1); each is 16 bytes: type, id, flags, value.
_TOP_HEADER, _EMBEDDED_HEADER, _ENTRY = 32, 24, 16
PR_MESSAGE_CODEPAGE = 0x3FFD
PT_LONG = 0x0003
_MARKERS = ("__substg1.0_".encode("utf-16-le"), _PROPERTIES.encode("utf-16-le"))


def looks_like_msg(data: bytes) -> bool:
    """True when a compound file's directory names the streams of an Outlook item."""
    return all(marker in data for marker in _MARKERS)


def read_msg(data: bytes, location: Location, ctx: Context) -> Iterator[Item]:
    """An Outlook item: subject, recipients, headers and body, then its attachments."""
    import olefile

    try:
        ole = olefile.OleFileIO(io.BytesIO(data))
    except OSError:
        raise Unreadable("corrupt") from None
    with ole:
        if not ole.exists(_PROPERTIES):
            raise Unreadable("unsupported")
        entries = frozenset(tuple(path) for path in ole.listdir(streams=True, storages=True))
        folder = _Folder(ole, entries, (), ctx.budget.limits.max_part_bytes, None)
        yield from message_items(folder.message(), location, ctx)


def _unsupported() -> MapiMessage:
    raise Unreadable("unsupported")


class _Folder:
    """One storage of the compound file (the message, an attachment, an attached item)."""

    __slots__ = ("_codepage", "_entries", "_max", "_ole", "_prefix")

    def __init__(
        self,
        ole: Any,
        entries: frozenset[tuple[str, ...]],
        prefix: tuple[str, ...],
        max_bytes: int,
        codepage: int | None,
    ) -> None:
        """``codepage`` is the enclosing item's, for the 8-bit strings of a storage that
        does not name its own (an attachment's file name)."""
        self._ole = ole
        self._entries = entries
        self._prefix = prefix
        self._max = max_bytes
        self._codepage = codepage

    def _children(self) -> list[str]:
        depth = len(self._prefix)
        return sorted(
            {
                path[depth]
                for path in self._entries
                if len(path) > depth and path[:depth] == self._prefix
            }
        )

    def _raw(self, prop: int, kind: int) -> bytes | None:
        path = [*self._prefix, f"__substg1.0_{prop:04X}{kind:04X}"]
        if self._ole.get_type(path) != 2:  # not a stream
            return None
        if self._ole.get_size(path) > self._max:
            raise Unreadable("too_large")
        data: bytes = self._ole.openstream(path).read()
        return data

    def _string(self, prop: int) -> str:
        raw = self._raw(prop, mapi.PT_UNICODE)
        if raw is not None:
            return decode_string(raw, True)
        raw = self._raw(prop, mapi.PT_STRING8)
        return decode_string(raw, False, self._codepage) if raw is not None else ""

    def _sub(self, name: str) -> _Folder:
        prefix = (*self._prefix, name)
        return _Folder(self._ole, self._entries, prefix, self._max, self._codepage)

    def _long(self, prop: int) -> int | None:
        """A 32-bit integer property of this item, from its property stream."""
        path = [*self._prefix, _PROPERTIES]
        if self._ole.get_type(path) != 2 or self._ole.get_size(path) > self._max:
            return None
        table = self._ole.openstream(path).read()
        header = _TOP_HEADER if not self._prefix else _EMBEDDED_HEADER
        for offset in range(header, len(table) - _ENTRY + 1, _ENTRY):
            kind, ident, _flags, value = struct.unpack_from("<HHII", table, offset)
            if ident == prop and kind == PT_LONG:
                return int(value)
        return None

    def message(self) -> MapiMessage:
        # The 8-bit strings of an item are in its code page (MS-OXCMSG): the message's
        # own, else the one its Internet form was written in, else the enclosing item's.
        self._codepage = (
            self._long(PR_MESSAGE_CODEPAGE) or self._long(mapi.PR_INTERNET_CPID) or self._codepage
        )
        recipients = "\n".join(
            filter(None, (self._string(mapi.PR_DISPLAY_TO), self._string(mapi.PR_DISPLAY_CC)))
        )
        html = self._raw(mapi.PR_HTML, mapi.PT_BINARY) or self._string(mapi.PR_HTML).encode("utf-8")
        return MapiMessage(
            subject=self._string(mapi.PR_SUBJECT),
            headers=self._string(mapi.PR_TRANSPORT_MESSAGE_HEADERS),
            recipients=recipients,
            body=self._string(mapi.PR_BODY),
            html=html,
            rtf_compressed=self._raw(mapi.PR_RTF_COMPRESSED, mapi.PT_BINARY) or b"",
            attachments=[
                self._sub(name).attachment()
                for name in self._children()
                if name.startswith(_ATTACH)
            ],
        )

    def attachment(self) -> Attachment:
        name = self._string(mapi.PR_ATTACH_LONG_FILENAME) or self._string(mapi.PR_ATTACH_FILENAME)
        item = _EMBEDDED
        path = [*self._prefix, item]
        # A look-up in the set of entries, not a walk over all of them for each attachment.
        if tuple(path) in self._entries and self._ole.get_type(path) == 1:
            inner = self._sub(item)
            title = self._string(mapi.PR_DISPLAY_NAME) or name or "item"
            if self._ole.exists("/".join([*self._prefix, item, _PROPERTIES])):
                return Attachment(f"{title}.msg", embedded=inner.message)
            # An embedded OLE object (a drawing, a legacy document): not a message.
            return Attachment(title, embedded=_unsupported)
        return Attachment(name or self._string(mapi.PR_DISPLAY_NAME) or None,
                          data=self._raw(mapi.PR_ATTACH_DATA, mapi.PT_BINARY) or b"")  # fmt: skip
