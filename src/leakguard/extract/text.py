"""Plain text and CSV: decode bytes to text whatever their charset, and lay CSV rows out
as cells joined by a tab, one row per line.
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
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
    "written_files",
]

# charset-normalizer looks at this much of a text to guess its charset; the guess then
# decodes the whole text.
_GUESS_SAMPLE = 256 * 1024

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

_LATIN_FAMILY = frozenset(
    {"latin-1", "iso8859-1", "iso8859-15", "cp1252", "ascii", "iso8859-2", "cp1250"}
)


def _codec_name(charset: str | None) -> str | None:
    if not charset:
        return None
    try:
        return codecs.lookup(charset.strip().strip('"').lower()).name
    except (LookupError, ValueError):
        return None


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
    return any(b >= 0x80 for b in data[:_GUESS_SAMPLE])


def decode_text(data: bytes, declared: str | None = None) -> str:
    """Decode ``data`` to text, trusting the bytes over a declared charset.

    Valid UTF-8 with non-ASCII bytes wins over a declared single-byte charset (a UTF-8
    text labelled latin-1 would otherwise turn into mojibake); a declared charset that
    fails on the bytes is replaced by charset-normalizer's guess. Never raises.
    """
    for bom, name in _BOMS:
        if data.startswith(bom):
            return data.decode(name, errors="replace")
    if looks_utf16(data):
        return data.decode("utf-16-le" if data[1:2] == b"\x00" else "utf-16-be", errors="replace")
    codec = _codec_name(declared)
    if codec is not None and not _ascii_compatible(codec) and _mostly_ascii(data):
        # A charset in which ASCII text is not ASCII (UTF-16 without its zero bytes, an
        # EBCDIC code page) declared over ASCII text: the label lies, the bytes decide.
        codec = None
    if codec in (None, "utf-8") or (codec in _LATIN_FAMILY and _has_multibyte_utf8(data)):
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    if codec is not None and codec != "utf-8":
        try:
            return data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            pass
    guessed = _guess(data)
    if guessed is not None:
        try:
            return data.decode(guessed, errors="replace")
        except LookupError:
            pass
    return data.decode("cp1252" if codec is None else "latin-1", errors="replace")


def _guess(data: bytes) -> str | None:
    try:
        from charset_normalizer import from_bytes

        matches = list(from_bytes(data[:_GUESS_SAMPLE]))
    except Exception:
        return None
    if not matches:
        return None
    best = matches[0]
    # Short texts often fit several single-byte charsets equally well; among equals the
    # Western European one is the likely truth for the mail this project reads.
    tied = {str(m.encoding) for m in matches if m.chaos <= best.chaos + 0.001}
    if "cp1252" in tied:
        return "cp1252"
    return str(best.encoding)


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

    text = decode_text(data, declared)
    limit = ctx.budget.limits.max_part_bytes
    shaped = reshaped(text, declared_type, limit)
    yield from text_items(text if shaped is None else shaped.text, location, ctx.budget)
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
    sample = text[: 16 * 1024]
    delimiter = ","
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        first = sample.split("\n", 1)[0]
        counts = {d: first.count(d) for d in (";", "\t", ",")}
        best = max(counts, key=lambda d: counts[d])
        if counts[best]:
            delimiter = best
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
    yield from text_items(
        csv_rows_text(decode_text(data, declared)), location, ctx.budget, "text/csv"
    )
