"""Tell what a document really is from its first bytes (and, for ZIP containers, their
member names), using the file name and declared type only to settle plain-text cases.
"""

from __future__ import annotations

import io
import re

from leakguard.extract.encryption import OLE_MAGIC, zip_member_encrypted
from leakguard.extract.text import looks_utf16

__all__ = ["FAMILIES", "picture_size", "sniff"]

FAMILIES = frozenset(
    {"pdf", "docx", "xlsx", "pptx", "odt", "ods", "odp", "zip", "rtf", "html", "csv", "text",
     "eml", "ole", "msg", "tnef", "gzip", "bzip2", "xz", "tar", "image", "dicom", "binary"}
)  # fmt: skip

_IMAGES = (
    b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"II*\x00", b"MM\x00*",
    b"\x00\x00\x01\x00",
)  # fmt: skip
# TNEF (winmail.dat): the signature 0x223E9F78, little-endian.
_TNEF_MAGIC = b"\x78\x9f\x3e\x22"
_ODF = {
    "application/vnd.oasis.opendocument.text": "odt",
    "application/vnd.oasis.opendocument.spreadsheet": "ods",
    "application/vnd.oasis.opendocument.presentation": "odp",
}
_HTML_START = re.compile(
    rb"\s*(?:<!--.{0,2000}?-->\s*)?<(?:!doctype\s+html|html|head|body|table|div|p|span|br|meta"
    rb"|font|style|title|h[1-6]|a\s|b>|i>|ul|ol)[\s>/]",
    re.IGNORECASE | re.DOTALL,
)
_HEADER_LINE = re.compile(rb"[!-9;-~]{1,76}:[^\r\n]*(?:\r?\n|\Z)")
_KNOWN_HEADERS = frozenset(
    {b"from", b"to", b"cc", b"subject", b"date", b"message-id", b"mime-version", b"received",
     b"return-path", b"content-type", b"reply-to", b"sender", b"delivered-to", b"x-mailer",
     b"user-agent", b"in-reply-to", b"references"}
)  # fmt: skip
_STRONG_HEADERS = frozenset(
    {b"from", b"message-id", b"mime-version", b"received", b"return-path", b"content-type"}
)
_CSV_NAMES = (".csv", ".tsv", ".tab")
_CSV_TYPES = frozenset({"text/csv", "text/tab-separated-values", "application/csv"})
_HTML_NAMES = (".html", ".htm", ".xhtml")
_EML_NAMES = (".eml", ".msg822", ".mht", ".mhtml")
_EML_TYPES = frozenset({"message/rfc822", "message/global"})
_CONTROL = frozenset(set(range(0x20)) - {0x09, 0x0A, 0x0C, 0x0D, 0x1B}) | {0x7F}
_SAMPLE = 8192


def _zip_family(data: bytes) -> str:
    import zipfile  # only for a ZIP: not loaded to tell a text file

    names: list[str] = []
    mimetype = b""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = zf.namelist()
            if "mimetype" in names:
                info = zf.getinfo("mimetype")
                if info.file_size < 200 and not zip_member_encrypted(info):
                    mimetype = zf.read(info)
    except Exception:
        # No readable central directory (truncated): look at the raw local headers.
        head = data[:65536]
        if head[30:38] == b"mimetype":
            mimetype = head[38 : 38 + 100].split(b"PK", 1)[0]
        for marker in (b"word/", b"xl/", b"ppt/"):
            if marker in data[:1_000_000]:
                names.append(marker.decode() + "?")
    kind = mimetype.decode("ascii", errors="replace").strip()
    for prefix, family in _ODF.items():
        if kind.startswith(prefix):
            return family
    lowered = {n.lower() for n in names}
    if "word/document.xml" in lowered or "word/?" in lowered:
        return "docx"
    if (
        "xl/workbook.xml" in lowered
        or "xl/?" in lowered
        or any(n.startswith("xl/worksheets/") for n in lowered)
    ):
        return "xlsx"
    if "ppt/presentation.xml" in lowered or "ppt/?" in lowered:
        return "pptx"
    return "zip"


def _looks_like_message(head: bytes) -> bool:
    if head.startswith(b"From ") and b"\n" in head[:1000]:
        head = head.split(b"\n", 1)[1]
    known = 0
    strong = False
    pos = 0
    for _ in range(40):
        m = _HEADER_LINE.match(head, pos)
        if m is None:
            break
        name = head[pos : m.end()].split(b":", 1)[0].lower()
        known += name in _KNOWN_HEADERS
        strong = strong or name in _STRONG_HEADERS
        pos = m.end()
        while pos < len(head) and head[pos : pos + 1] in (b" ", b"\t"):
            # A folded continuation line.
            nl = head.find(b"\n", pos)
            pos = len(head) if nl < 0 else nl + 1
    # Two ordinary words followed by a colon do not make a message: one header that
    # only mail carries is required.
    return known >= 2 and strong


def _is_textual(sample: bytes) -> bool:
    if not sample:
        return True
    if sample.startswith((b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf")):
        return True
    if looks_utf16(sample):
        return True
    controls = sum(1 for b in sample if b in _CONTROL)
    return controls <= len(sample) // 100


def sniff(data: bytes, /, *, filename: str | None = None, declared_type: str | None = None) -> str:
    """The real family of a document; one of :data:`FAMILIES`.

    The bytes decide first: a PDF named ``scan.bin`` is ``"pdf"``, a DOCX named ``.txt``
    is ``"docx"``. The name and declared type only choose between the text families
    (CSV, HTML, plain text). Never raises.
    """
    name = (filename or "").lower()
    ctype = (declared_type or "").lower().split(";", 1)[0].strip()
    head = data[:_SAMPLE]
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    # A compound file or TNEF stream may hold a small PDF in its first kilobyte: their
    # own signatures, at offset 0, decide first.
    if head.startswith(OLE_MAGIC):
        from leakguard.extract.outlook_msg import looks_like_msg

        return "msg" if looks_like_msg(data) else "ole"
    if head.startswith(_TNEF_MAGIC):
        return "tnef"
    # A DICOM file's 128-byte preamble may hold another format's header (a TIFF's, for
    # files both programs open): its signature after the preamble decides.
    if head[128:132] == b"DICM":
        return "dicom"
    if b"%PDF-" in data[:1024]:
        return "pdf"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return _zip_family(data)
    if stripped.startswith(b"{\\rtf"):
        return "rtf"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head[:3] == b"BZh" and head[4:10] == b"1AY&SY":
        return "bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head[257:262] == b"ustar":
        return "tar"
    if (
        head.startswith(_IMAGES)
        or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
        or (head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"avif", b"mif1"))
    ):
        return "image"
    if not _is_textual(head):
        return "binary"
    if _looks_like_message(stripped) or (
        (ctype in _EML_TYPES or name.endswith(_EML_NAMES)) and _HEADER_LINE.match(stripped)
    ):
        return "eml"
    if (
        _HTML_START.match(stripped[:4096])
        or ctype in ("text/html", "application/xhtml+xml")
        or (name.endswith(_HTML_NAMES))
    ):
        return "html"
    if ctype in _CSV_TYPES or name.endswith(_CSV_NAMES):
        return "csv"
    return "text"


# A picture with fewer pixels than this is decoration (a logo, a signature, an icon: a
# 600 × 200 banner has 120,000); a photographed card, a scanned form or a pasted
# screenshot has far more.
DECORATION_PIXELS = 150_000


def document_sized(data: bytes) -> bool:
    """Whether a picture is the size of a document rather than of a decoration."""
    size = picture_size(data)
    if size is None:
        return True  # a TIFF, a HEIC photo: not the format of a logo
    width, height = size
    return width * height >= DECORATION_PIXELS


def picture_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG, GIF, JPEG, BMP or WebP picture from its header alone
    (nothing decoded); None when the header does not say."""
    import struct

    try:
        if data.startswith(b"\x89PNG\r\n\x1a\n"):
            width, height = struct.unpack(">II", data[16:24])
            return width, height
        if data.startswith((b"GIF87a", b"GIF89a")):
            width, height = struct.unpack("<HH", data[6:10])
            return width, height
        if data.startswith(b"BM"):
            width, height = struct.unpack("<ii", data[18:26])
            return abs(width), abs(height)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            if data[12:16] == b"VP8X":
                return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(
                    data[27:30], "little"
                )
            return None
        if data.startswith(b"\xff\xd8"):
            return _jpeg_size(data)
    except struct.error:
        return None
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """The size in a JPEG's start-of-frame segment, found by walking the segments."""
    import struct

    pos = 2
    for _ in range(512):
        while pos < len(data) and data[pos] == 0xFF:
            pos += 1
        if pos + 3 > len(data):
            return None
        marker = data[pos]
        pos += 1
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            continue
        (length,) = struct.unpack(">H", data[pos : pos + 2])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[pos + 3 : pos + 7])
            return width, height
        pos += length
    return None
