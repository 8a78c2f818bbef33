"""The streams of a PDF file as its bytes lay them out, read before PDFium sees them.

PDFium inflates streams in C with no limit we can set: a stream of 1 MB that inflates
to 1 GiB would cost that much memory and the time to walk it. Each stream is measured
here first, decompressed in blocks and dropped as soon as it passes the cap; a stream
over the cap is replaced, in place and at the same length, by one that decodes to
nothing, so PDFium reads the rest of the document and the caller reports what was
dropped. The same walk tells whether an encrypted PDF's streams really are encrypted.
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

__all__ = [
    "Oversized",
    "PdfStream",
    "clear_streams",
    "decode_stream",
    "defuse",
    "measure",
    "streams",
]

_STREAM = re.compile(rb">>[\x00\t\n\f\r ]*stream(?:\r\n|\n|\r)")
_FILTER = re.compile(rb"/Filter\s*(\[[^\]]{0,2000}\]|/[A-Za-z0-9]+)")
_NAME = re.compile(rb"/([A-Za-z0-9]+)")
_LENGTH = re.compile(rb"/Length\s+(\d{1,12})(\s+\d+\s+\d+\s+R)?")
_TYPE = re.compile(rb"/(?:Type|Subtype)\s*/(XRef|Metadata|Image)\b")
_END = re.compile(rb"[\x00\t\n\f\r ]*endstream")
# How far back from ``stream`` its dictionary is looked for.
_DICT_REACH = 4096
_MAX_STREAMS = 200_000
_BLOCK = 1024 * 1024
_ALIASES = {
    b"Fl": b"FlateDecode",
    b"LZW": b"LZWDecode",
    b"AHx": b"ASCIIHexDecode",
    b"A85": b"ASCII85Decode",
    b"RL": b"RunLengthDecode",
}
# A first filter fed these bytes decodes to nothing: what a dropped stream is replaced by.
_EMPTY = {
    b"FlateDecode": zlib.compress(b""),
    b"LZWDecode": b"\x80\x40\x20",  # clear-table code then end-of-data, 9 bits each
    b"ASCIIHexDecode": b">",
    b"ASCII85Decode": b"~>",
    b"RunLengthDecode": b"\x80",
}


@dataclass(frozen=True, slots=True)
class PdfStream:
    """One stream: where its encoded bytes lie, its filters, and what kind of object it is
    (``XRef``, ``Metadata``, ``Image`` or empty)."""

    start: int
    end: int
    filters: tuple[bytes, ...]
    kind: bytes


class Oversized(Exception):
    """A stream decodes to more than the cap."""


def streams(data: bytes) -> Iterator[PdfStream]:
    """Every stream whose dictionary ends right before a ``stream`` keyword, in file order."""
    for count, m in enumerate(_STREAM.finditer(data)):
        if count >= _MAX_STREAMS:
            return
        head = data[max(0, m.start() - _DICT_REACH) : m.start() + 2]
        obj = head.rfind(b"obj")
        dictionary = head[obj + 3 :] if obj >= 0 else head
        start = m.end()
        end = -1
        length = _LENGTH.search(dictionary)
        if length is not None and length.group(2) is None:
            candidate = start + int(length.group(1))
            if candidate <= len(data) and _END.match(data, candidate):
                end = candidate
        if end < 0:
            end = data.find(b"endstream", start)
            if end < 0:
                end = len(data)
        found = _FILTER.search(dictionary)
        filters: tuple[bytes, ...] = ()
        if found is not None:
            filters = tuple(_ALIASES.get(n, n) for n in _NAME.findall(found.group(1)))
        kind = _TYPE.search(dictionary)
        yield PdfStream(start, end, filters, kind.group(1) if kind else b"")


def measure(data: bytes, stream: PdfStream, cap: int, expired: Callable[[], bool]) -> int:
    """How many bytes the stream decodes to through the filters PDFium would apply to
    read text (image codecs are left encoded); :class:`Oversized` past ``cap``.

    Damaged data counts as far as it decodes, as PDFium reads it.
    """
    current = data[stream.start : stream.end]
    filters = stream.filters
    for index, name in enumerate(filters):
        last = index == len(filters) - 1
        if name == b"FlateDecode" and last:
            return sum(len(block) for block in _inflate(current, cap, expired))
        decoder = _DECODERS.get(name)
        if decoder is None:
            return len(current)  # an image codec, or a filter PDFium refuses
        if name == b"FlateDecode":
            current = b"".join(_inflate(current, cap, expired))
        else:
            current = decoder(current, cap)
    if len(current) > cap:
        raise Oversized
    return len(current)


def _inflate(data: bytes, cap: int, expired: Callable[[], bool]) -> Iterator[bytes]:
    inflater = zlib.decompressobj()
    pending = data
    produced = 0
    while pending and not inflater.eof:
        if expired():
            raise TimeoutError
        try:
            block = inflater.decompress(pending, _BLOCK)
        except zlib.error:
            return
        produced += len(block)
        if produced > cap:
            raise Oversized
        if not block and inflater.unconsumed_tail == pending:
            return
        pending = inflater.unconsumed_tail
        yield block


def _ascii_hex(data: bytes, cap: int) -> bytes:
    text = bytes(data.split(b">", 1)[0].translate(None, b" \t\r\n\f\x00"))
    if len(text) % 2:
        text += b"0"
    try:
        return binascii.unhexlify(text)[: cap + 1]
    except binascii.Error:
        return b""


def _ascii85(data: bytes, cap: int) -> bytes:
    text = data.split(b"~>", 1)[0].translate(None, b" \t\r\n\f\x00")
    try:
        return base64.a85decode(text)[: cap + 1]
    except ValueError:
        return b""


def _run_length(data: bytes, cap: int) -> bytes:
    out = bytearray()
    pos = 0
    while pos < len(data):
        n = data[pos]
        if n == 128:
            break
        if n < 128:
            out += data[pos + 1 : pos + 2 + n]
            pos += 2 + n
        else:
            if pos + 1 >= len(data):
                break
            out += data[pos + 1 : pos + 2] * (257 - n)
            pos += 2
        if len(out) > cap:
            raise Oversized
    return bytes(out)


def _lzw(data: bytes, cap: int) -> bytes:
    """PDF's LZW (early change), stopped at the cap."""
    table = [bytes([i]) for i in range(256)] + [b"", b""]
    out = bytearray()
    width = 9
    buffer = bits = 0
    previous: bytes | None = None
    for byte in data:
        buffer = (buffer << 8) | byte
        bits += 8
        while bits >= width:
            bits -= width
            code = (buffer >> bits) & ((1 << width) - 1)
            if code == 256:
                table = table[:258]
                width, previous = 9, None
                continue
            if code == 257:
                return bytes(out)
            if code < len(table):
                entry = table[code]
            elif previous is not None and code == len(table):
                entry = previous + previous[:1]
            else:
                return bytes(out)
            out += entry
            if len(out) > cap:
                raise Oversized
            if previous is not None and len(table) < 4096:
                table.append(previous + entry[:1])
            previous = entry
            if len(table) + 1 >= (1 << width) and width < 12:
                width += 1
    return bytes(out)


_DECODERS: dict[bytes, Callable[[bytes, int], bytes]] = {
    b"FlateDecode": lambda data, cap: data,  # (handled by _inflate)
    b"LZWDecode": _lzw,
    b"ASCIIHexDecode": _ascii_hex,
    b"ASCII85Decode": _ascii85,
    b"RunLengthDecode": _run_length,
}


def defuse(data: bytes, dropped: list[PdfStream]) -> bytes:
    """The document with each dropped stream replaced by one of the same length that
    decodes to nothing (offsets, and so the cross-reference table, stay right)."""
    out = bytearray(data)
    for stream in dropped:
        size = stream.end - stream.start
        empty = _EMPTY.get(stream.filters[0], b"") if stream.filters else b""
        out[stream.start : stream.end] = empty[:size].ljust(size, b" ")
    return bytes(out)


def clear_streams(data: bytes, expired: Callable[[], bool]) -> bool:
    """Whether any stream of an encrypted-looking PDF is in clear: it inflates to its
    end, or, unfiltered, reads as text. Real encryption leaves neither possible
    (cross-reference streams, and metadata a document may leave clear, aside)."""
    from leakguard.extract.encryption import readable_clear

    for stream in streams(data):
        if expired():
            return False
        if stream.kind in (b"XRef", b"Metadata"):
            continue
        raw = data[stream.start : stream.end]
        if not stream.filters:
            if readable_clear(raw):
                return True
            continue
        if stream.filters[0] != b"FlateDecode":
            continue
        inflater = zlib.decompressobj()
        try:
            inflater.decompress(raw, _BLOCK)
        except zlib.error:
            continue
        if inflater.eof or len(inflater.unconsumed_tail) > 0:
            return True
    return False


def decode_stream(data: bytes, stream: PdfStream, cap: int) -> bytes:
    """A small stream's decoded bytes (unfiltered or Flate only, as XMP metadata is
    written), at most ``cap``; empty when it cannot be decoded."""
    raw = data[stream.start : stream.end]
    if not stream.filters:
        return raw[:cap]
    if stream.filters != (b"FlateDecode",):
        return b""
    try:
        return b"".join(_inflate(raw, cap, lambda: False))
    except Oversized:
        return b""
