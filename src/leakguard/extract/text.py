"""Plain text and CSV: decode bytes to text whatever their charset, and lay CSV rows out
as cells joined by a tab, one row per line.
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
import re
from collections.abc import Iterator

from leakguard.core import Location
from leakguard.extract._common import Context, Item, inner_items, text_items
from leakguard.extract._types import Problem

__all__ = [
    "csv_rows_text",
    "decode_text",
    "looks_utf16",
    "read_csv",
    "read_text",
    "readings",
    "written_files",
]

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

_LATIN_FAMILY = frozenset(
    {"latin-1", "iso8859-1", "iso8859-15", "cp1252", "ascii", "iso8859-2", "cp1250"}
)


# Labels that mail clients and browsers read as Windows-1252 (the WHATWG Encoding
# Standard): it gives letters (œ, €, ’) where ISO 8859-1 has control codes.
_AS_CP1252 = frozenset({"iso8859-1", "ascii"})


def _codec_name(charset: str | None) -> str | None:
    if not charset:
        return None
    try:
        name = codecs.lookup(charset.strip().strip("\"'").strip().lower()).name
    except (LookupError, ValueError):
        return None
    return "cp1252" if name in _AS_CP1252 else name


def looks_utf16(data: bytes) -> bool:
    """UTF-16 without a byte-order mark: every other byte of Latin text is zero."""
    sample = data[:4096]
    half = len(sample) // 2
    if half < 8:
        return False
    odd, even = sample[1::2].count(0), sample[0::2].count(0)
    return (odd >= half * 0.9 and even < half * 0.1) or (even >= half * 0.9 and odd < half * 0.1)


_ASCII_PROBE = b"0123456789 ABCXYZabcxyz:;.,-\r\n"


@functools.lru_cache(maxsize=64)
def _ascii_compatible(codec: str) -> bool:
    try:
        return _ASCII_PROBE.decode(codec) == _ASCII_PROBE.decode("ascii")
    except (UnicodeDecodeError, LookupError):
        return False


def _mostly_ascii(data: bytes) -> bool:
    sample = data[:4096]
    printable = sum(1 for b in sample if 0x20 <= b < 0x7F or b in (0x09, 0x0A, 0x0D))
    return printable >= len(sample) * 0.95


def _has_multibyte_utf8(data: bytes) -> bool:
    return not data.isascii()


# Windows-1252 for the bytes 0x80-0x9F it defines; the five it leaves undefined keep
# their ISO 8859-1 meaning, as in the WHATWG Encoding Standard: every byte is one
# character, and no byte is ever lost.
_WINDOWS_1252 = "".join(
    chr(b) if b < 0x80 or b in b"\x81\x8d\x8f\x90\x9d" else bytes([b]).decode("cp1252")
    for b in range(256)
)
_ASCII_BYTES = bytes(range(0x80))
# A byte that is not part of a UTF-8 sequence, as "surrogateescape" keeps it.
_STRAY = re.compile("[\udc80-\udcff]")


def _stray_as_cp1252(m: re.Match[str]) -> str:
    return _WINDOWS_1252[ord(m.group()) - 0xDC00]


def _western(data: bytes) -> str:
    """8-bit text that is not UTF-8, read as Western European text, every byte kept.

    Text written mostly in UTF-8 with a few stray bytes (two files pasted together)
    keeps its UTF-8 characters, the stray bytes read as Windows-1252; any other text is
    read as Windows-1252 throughout, which is what French mail clients assume when no
    charset is said. Every ASCII byte stays the character it is and no byte is taken
    into its neighbour, so an identifier reads the same whatever surrounds it; a
    statistical guess on a short text can take accented letters for Chinese or Korean
    ones glued to the digits. In C-speed passes: a few milliseconds per megabyte.
    """
    mixed = data.decode("utf-8", "surrogateescape")
    stray = len(data) - len(mixed.encode("utf-8", "ignore"))
    ascii_bytes = len(data) - len(data.translate(None, _ASCII_BYTES))
    multibyte = len(mixed) - ascii_bytes - stray
    if multibyte > stray:
        return _STRAY.sub(_stray_as_cp1252, mixed)
    return codecs.charmap_decode(data, "strict", _WINDOWS_1252)[0]


def decode_text(data: bytes, declared: str | None = None) -> str:
    """Decode ``data`` to text, trusting the bytes over a declared charset.

    A byte-order mark decides first. Valid UTF-8 with non-ASCII bytes wins over a
    declared Western charset (a UTF-8 text labelled latin-1 would otherwise turn into
    mojibake); a declared charset is used when the bytes decode in it; anything else is
    read as UTF-8 where it is UTF-8 and as Windows-1252 where it is not. Never raises.
    """
    return _decode(data, declared)[0]


def readings(data: bytes, declared: str | None = None) -> tuple[str, str | None]:
    """:func:`decode_text` of ``data``, and from the same decoding its Western reading
    when it was read in a declared charset that is neither UTF-8 nor Western and reads
    otherwise (else None).

    Nearly any 8-bit text decodes in GB18030, KOI8-R or an EBCDIC code page: such a
    label over a French text turns its accents and non-breaking spaces into letters
    glued to an identifier, and a mail program can be told to show the text in any
    charset. What such a label hides is read this way as well, as a transfer encoding
    that lies is. Bytes that read as EBCDIC (:func:`looks_ebcdic`) under no label, or
    under an ASCII one, are read in EBCDIC first and as the label says after.
    """
    text, used = _decode(data, declared)
    if (not used or _ascii_compatible(used)) and looks_ebcdic(data):
        # A mainframe's export in EBCDIC: read as 8-bit Western text its digits and
        # spaces are letters. Its EBCDIC reading first, the other kept as well.
        return data.decode(_EBCDIC, "replace"), text
    if used in _SAFE_CODECS or data.isascii():
        return text, None
    other = _western(data)
    return text, None if other == text else other


# The international EBCDIC code page: digits, the space and the Latin letters are where
# every Western EBCDIC page has them (accented letters may differ from the French one,
# which Python does not carry).
_EBCDIC = "cp500"
# In EBCDIC the space is 0x40, letters and digits are bytes 0x81 and above, and the
# ASCII space is a control character no text holds.
_EBCDIC_SPACE = 0x40
_HIGH = bytes(range(0x80, 0x100))
_EBCDIC_DIGITS = bytes(range(0xF0, 0xFA))
_ASCII_WORDS = b" 0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def looks_ebcdic(data: bytes) -> bool:
    """Whether ``data`` reads as EBCDIC, on its first 4 KB: a text (one byte in thirty
    at least is the EBCDIC space, nearly none the ASCII one, most of the others are the
    bytes EBCDIC gives letters and digits), or records of numbers (three bytes in ten
    are EBCDIC digits, which are rare letters in Western text, and hardly any byte an
    ASCII letter, digit or space). A Western text has spaces; binary data has as many
    of these bytes as of any other."""
    sample = data[:4096]
    size = len(sample)
    if size < 16:
        return False
    spaces = sample.count(_EBCDIC_SPACE)
    if spaces * 30 >= size and sample.count(0x20) * 20 <= spaces:
        high = size - len(sample.translate(None, _HIGH))
        return high * 2 >= size - spaces
    digits = size - len(sample.translate(None, _EBCDIC_DIGITS))
    ascii_words = size - len(sample.translate(None, _ASCII_WORDS))
    return digits * 10 >= size * 3 and ascii_words * 20 < size


# Charsets whose reading keeps ASCII, the non-breaking space and Latin letters as they are.
_SAFE_CODECS = _LATIN_FAMILY | {"utf-8", ""}


def _decode(data: bytes, declared: str | None) -> tuple[str, str]:
    """The text, and the declared codec it was read in ("" when the bytes decided)."""
    if data.startswith(codecs.BOM_UTF8):
        # The mark promises UTF-8; a Latin-1 text after it is still read as one.
        return _decode(data[len(codecs.BOM_UTF8) :], "utf-8")
    for bom, name in _BOMS:
        if data.startswith(bom):
            return data.decode(name, errors="replace"), ""
    if looks_utf16(data):
        name = "utf-16-le" if data[1:2] == b"\x00" else "utf-16-be"
        return data.decode(name, errors="replace"), ""
    codec = _codec_name(declared)
    if codec is not None and not _ascii_compatible(codec) and _mostly_ascii(data):
        # A charset in which ASCII text is not ASCII (UTF-16 without its zero bytes, an
        # EBCDIC code page) declared over ASCII text: the label lies, the bytes decide.
        codec = None
    if codec in (None, "utf-8") or (codec in _LATIN_FAMILY and _has_multibyte_utf8(data)):
        try:
            return data.decode("utf-8"), ""
        except UnicodeDecodeError:
            pass
    if codec is not None and codec != "utf-8":
        try:
            return data.decode(codec), codec
        except (UnicodeDecodeError, LookupError):
            pass
    return _western(data), ""


def read_text(
    data: bytes,
    location: Location,
    ctx: Context,
    declared: str | None = None,
    declared_type: str | None = None,
) -> Iterator[Item]:
    """A text file: its decoded content, as a person reads it (a calendar's folded lines
    joined, JSON's escapes undone, XML's attribute values), the documents it carries as
    base64, and the files written into it (uuencode, yEnc, BinHex)."""
    from leakguard.extract.text_formats import reshaped

    text, other = readings(data, declared)
    limit = ctx.budget.limits.max_part_bytes
    shaped = reshaped(text, declared_type, limit)
    yield from text_items(text if shaped is None else shaped.text, location, ctx.budget)
    if other is not None:
        yield from text_items(other, location, ctx.budget)
    if shaped is not None:
        for document in shaped.documents:
            yield from _nested(document, location, ctx, None)
    yield from written_files(text, location, ctx)


def written_files(text: str, location: Location, ctx: Context) -> Iterator[Item]:
    """Files uuencoded, yEnc-encoded or in BinHex inside a text, each read as the
    document it is at ``<location>/<its name>`` (mail programs show them as attachments);
    a damaged or cut one is read as far as it goes and reported ``corrupt``."""
    from leakguard.extract.encoded import encoded_files

    for found in encoded_files(text, ctx.budget.limits.max_part_bytes):
        where = location.child(found.name)
        if found.damaged:
            yield Problem(where, "corrupt")
        yield from _nested(found.data, where, ctx, found.name)


def _nested(data: bytes, where: Location, ctx: Context, name: str | None) -> Iterator[Item]:
    """A document carried inside a text, counted against the message's bytes."""
    if not data:
        return
    if not ctx.budget.take_bytes(len(data)):
        yield Problem(where, "too_large")
        return
    yield from inner_items(data, where, ctx, name)


def csv_rows_text(text: str) -> str:
    """Lay out CSV text as tab-joined cells, one row per line.

    The delimiter is sniffed on a sample; line breaks inside a cell become spaces so a
    row stays on one line.
    """
    delimiter = csv_delimiter(text[: 16 * 1024])
    if '"' not in text:
        # No quoted cell: a row is a line and its cells what lies between delimiters,
        # which is what the csv module reads (``csv_rows_read``), here without a Python
        # step per row.
        rows = text.replace("\r\n", "\n").replace("\r", "\n")
        rows = rows[:-1] if rows.endswith("\n") else rows
        return rows if delimiter == "\t" else rows.replace(delimiter, "\t")
    return csv_rows_read(text, delimiter)


def csv_delimiter(sample: str) -> str:
    """The delimiter of the CSV text ``sample`` begins."""
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        first = sample.split("\n", 1)[0]
        counts = {d: first.count(d) for d in (";", "\t", ",")}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","


def csv_rows_read(text: str, delimiter: str) -> str:
    """:func:`csv_rows_text` by the csv module, row by row."""
    lines: list[str] = []
    try:
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False):
            line = "\t".join(row)
            if "\n" in line or "\r" in line:  # line breaks inside cells (rare)
                line = line.replace("\r", " ").replace("\n", " ")
            lines.append(line)
    except csv.Error:
        # A cell longer than the csv module accepts: the plain text is still worth reading.
        return text
    return "\n".join(lines)


def read_csv(
    data: bytes, location: Location, ctx: Context, declared: str | None = None
) -> Iterator[Item]:
    """A CSV (or TSV) file: rows as tab-joined cells."""
    text, other = readings(data, declared)
    yield from text_items(csv_rows_text(text), location, ctx.budget, "text/csv")
    if other is not None:
        yield from text_items(csv_rows_text(other), location, ctx.budget, "text/csv")
