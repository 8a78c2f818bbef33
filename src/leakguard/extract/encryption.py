"""Is this file an encrypted container? The one answer shared by the readers and the
protection check: password PDF, encrypted ZIP, ODF and Office files (OOXML and legacy
Word, Excel, PowerPoint), OpenPGP messages, told from the bytes, never from the name.
"""

from __future__ import annotations

import io
import re
import struct
import threading
import zipfile
from collections.abc import Iterator

from leakguard.extract._types import Limits

__all__ = [
    "OLE_MAGIC",
    "PDFIUM_LOCK",
    "PGP_BEGIN",
    "container_encrypted",
    "encrypted_container",
    "odf_encrypted",
    "ole_encrypted",
    "openpgp_encrypted",
    "pdf_error_encrypted",
    "pgp_armoured",
    "zip_member_encrypted",
]

OLE_MAGIC = bytes.fromhex("d0cf11e0a1b11ae1")
PGP_BEGIN = "-----BEGIN PGP MESSAGE-----"
_PGP_END = "-----END PGP MESSAGE-----"
# Inside the armour: ``Key: value`` headers, then base64 lines and the ``=`` checksum.
_ARMOUR_HEADER = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,40}: [^\r\n]{0,500}")
_ARMOUR_LINE = re.compile(r"=?[A-Za-z0-9+/]{0,200}={0,2}")
# Armour longer than this is not looked at line by line: no honest text attachment is
# that large, and a PGP file that size is binary.
_MAX_ARMOUR = 64 * 1024 * 1024


def container_encrypted(
    data: bytes, /, *, content_type: str = "application/octet-stream", limits: Limits | None = None
) -> bool:
    """Whether these file bytes are an encrypted container that needs a key to open.

    Recognised from the bytes, not the name: PDF with a user password, ZIP whose every
    file is encrypted (WinZip AES or ZipCrypto), ODF with encrypted parts, Office files
    encrypted with a password (OOXML ``EncryptedPackage``, legacy Word, Excel,
    PowerPoint), OpenPGP armour or binary packets. A PDF with only an owner password
    opens for anyone, so it is not counted.
    """
    return encrypted_container(data, content_type=content_type, limits=limits) is not None


def encrypted_container(
    data: bytes, /, *, content_type: str = "application/octet-stream", limits: Limits | None = None
) -> str | None:
    """The kind of encrypted container these bytes are, as a problem report names it
    (``pdf``, ``zip``, ``office``, ``pgp``), or None when they open without a key."""
    lim = limits or Limits()
    if data.startswith(b"PK\x03\x04"):
        return _zip_kind(data, lim)
    if b"%PDF-" in data[:1024]:
        return "pdf" if _pdf_encrypted(data) else None
    if data.startswith(OLE_MAGIC):
        return "office" if ole_encrypted(data) else None
    if content_type == "application/pgp-encrypted" or openpgp_encrypted(data):
        return "pgp"
    return None


# --------------------------------------------------------------------------- ZIP, ODF


def zip_member_encrypted(info: zipfile.ZipInfo, /) -> bool:
    """Bit 0 of the general-purpose flags: the member is encrypted (ZipCrypto or AES)."""
    return bool(info.flag_bits & 0x1)


def _zip_kind(data: bytes, lim: Limits) -> str | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            if len(infos) > lim.max_members:
                return None
            files = [i for i in infos if not i.is_dir()]
            if files and all(zip_member_encrypted(i) for i in files):
                return "zip"
            return "office" if odf_encrypted(archive) else None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        return None


def odf_encrypted(archive: zipfile.ZipFile, /) -> bool:
    """Whether an OpenDocument file has encrypted parts.

    ODF keeps the ZIP itself clear and lists ``encryption-data`` for each encrypted
    member in its manifest. The manifest is read only when small (4 MB at most).
    """
    by_name = {i.filename: i for i in archive.infolist()}
    manifest = by_name.get("META-INF/manifest.xml")
    mimetype = by_name.get("mimetype")
    if manifest is None or mimetype is None or manifest.file_size > 4 * 1024 * 1024:
        return False
    if mimetype.file_size > 200 or zip_member_encrypted(manifest):
        return False
    if not archive.read(mimetype).startswith(b"application/vnd.oasis.opendocument"):
        return False
    return b"encryption-data" in archive.read(manifest)


# --------------------------------------------------------------------------- PDF


def pdf_error_encrypted(err: Exception, /) -> bool:
    """Whether PDFium refused to load a document because it is encrypted: with a
    password we do not have, or with a handler it cannot open (certificates)."""
    from pypdfium2 import raw

    return getattr(err, "err_code", None) in (raw.FPDF_ERR_PASSWORD, raw.FPDF_ERR_SECURITY)


# PDFium is not thread-safe: every call into it, from any thread, holds this lock.
PDFIUM_LOCK = threading.RLock()


def _pdf_encrypted(data: bytes) -> bool:
    if b"/Encrypt" not in data:
        return False
    import pypdfium2

    with PDFIUM_LOCK:
        try:
            document = pypdfium2.PdfDocument(data)
        except pypdfium2.PdfiumError as err:
            return pdf_error_encrypted(err)
        document.close()
    return False


# --------------------------------------------------------------------------- OpenPGP


def pgp_armoured(text: str, /) -> bool:
    """Whether ``text`` is one ASCII-armoured OpenPGP message and nothing else.

    Clear text before, after or inside the armour (a note written between two blocks)
    makes it not encrypted: that text would travel readable.
    """
    body = text.strip()
    if not (body.startswith(PGP_BEGIN) and body.endswith(_PGP_END)):
        return False
    if len(body) > _MAX_ARMOUR or body.count(PGP_BEGIN) != 1 or body.count(_PGP_END) != 1:
        return False
    lines = body[len(PGP_BEGIN) : -len(_PGP_END)].splitlines()
    headers = True
    for raw in lines[1:]:
        line = raw.strip()
        if headers and _ARMOUR_HEADER.fullmatch(line):
            continue
        headers = False
        if not _ARMOUR_LINE.fullmatch(line):
            return False
    return True


def openpgp_encrypted(data: bytes, /) -> bool:
    """Whether the bytes are an OpenPGP encrypted message, armoured or binary."""
    if data[:4096].lstrip().startswith(PGP_BEGIN.encode()):
        return pgp_armoured(data.decode("ascii", errors="replace"))
    return _openpgp_session_packet(data)


def _openpgp_session_packet(data: bytes) -> bool:
    """Whether the bytes open with an OpenPGP session-key packet (RFC 9580 §4-5).

    An encrypted OpenPGP message starts with a public-key (tag 1) or symmetric-key
    (tag 3) encrypted session key; the version byte that follows the header is checked
    too, so that arbitrary binary files are rarely mistaken for one.
    """
    if len(data) < 16 or not data[0] & 0x80:
        return False
    first = data[0]
    if first & 0x40:  # new packet format: tag in the low six bits, then a length
        tag = first & 0x3F
        octet = data[1]
        if octet < 192:
            body = 2
        elif octet < 224:
            body = 3
        elif octet == 255:
            body = 6
        else:  # a partial length cannot start a session-key packet
            return False
    else:  # old format: tag in bits 2-5, length size in bits 0-1
        tag = (first >> 2) & 0x0F
        length_type = first & 0x03
        if length_type == 3:
            return False
        body = 1 + (1, 2, 4)[length_type]
    version = data[body]
    if tag == 1:
        return version in (3, 6)
    if tag == 3:
        return version in (4, 5, 6)
    return False


# --------------------------------------------------------------- OLE compound files

_END_OF_CHAIN = 0xFFFFFFFE
_FREE = 0xFFFFFFFF
_MINI_CUTOFF = 4096


def ole_encrypted(data: bytes, /) -> bool:
    """Whether a compound file (MS-CFB) is a password-protected Office document.

    Read from its directory and stream heads, not by searching the bytes: an OOXML file
    encrypted into ``EncryptedPackage``, a PowerPoint with ``EncryptedSummary``, a Word
    document whose FIB says ``fEncrypted``, a workbook whose BOF is followed by FILEPASS.
    """
    try:
        ole = _Ole(data)
        names = ole.stream_names()
    except (ValueError, struct.error, IndexError):
        return False
    if "EncryptedPackage" in names or "EncryptedSummary" in names:
        return True
    try:
        word = ole.stream_head("WordDocument")
        if word is not None and len(word) >= 12:
            # FIB base: flags word at offset 0x0A, fEncrypted is bit 8.
            return bool(struct.unpack_from("<H", word, 0x0A)[0] & 0x0100)
        book = ole.stream_head("Workbook") or ole.stream_head("Book")
        if book is not None and len(book) >= 8:
            kind, length = struct.unpack_from("<HH", book, 0)
            # A FILEPASS record (0x002F) right after the BOF (0x0809) marks encryption.
            if kind == 0x0809 and 4 + length + 2 <= len(book):
                following: int = struct.unpack_from("<H", book, 4 + length)[0]
                return following == 0x002F
    except (ValueError, struct.error, IndexError):
        return False
    return False


class _Ole:
    """Just enough of MS-CFB to list streams and read the start of one."""

    __slots__ = ("_data", "_entries", "_fat", "_shift")

    def __init__(self, data: bytes) -> None:
        if len(data) < 512 or not data.startswith(OLE_MAGIC):
            raise ValueError("not a compound file")
        self._data = data
        self._shift: int = struct.unpack_from("<H", data, 0x1E)[0]
        if self._shift not in (9, 12):
            raise ValueError("bad sector size")
        n_fat, first_dir = struct.unpack_from("<II", data, 0x2C)
        first_difat, n_difat = struct.unpack_from("<II", data, 0x44)
        max_sectors = len(data) >> self._shift
        if n_fat > max_sectors or n_difat > max_sectors:
            raise ValueError("bad header")
        fat_sectors = [s for s in struct.unpack_from("<109I", data, 0x4C) if s < max_sectors]
        per_sector = (1 << self._shift) // 4
        sector = first_difat
        for _ in range(n_difat):
            if sector >= max_sectors:
                break
            values = struct.unpack_from(f"<{per_sector}I", data, self._offset(sector))
            fat_sectors.extend(v for v in values[:-1] if v < max_sectors)
            sector = values[-1]
        fat: list[int] = []
        for s in fat_sectors[:n_fat]:
            fat.extend(struct.unpack_from(f"<{per_sector}I", data, self._offset(s)))
        self._fat = fat
        self._entries: list[tuple[str, int, int, int]] = []
        for sector_data in self._chain(first_dir):
            for off in range(0, len(sector_data) - 127, 128):
                entry = sector_data[off : off + 128]
                name_len = min(struct.unpack_from("<H", entry, 0x40)[0], 64)
                kind = entry[0x42]
                start, size = struct.unpack_from("<II", entry, 0x74)
                name = entry[: max(name_len - 2, 0)].decode("utf-16-le", errors="replace")
                self._entries.append((name, kind, start, size))

    def _offset(self, sector: int) -> int:
        off = (sector + 1) << self._shift
        if off + (1 << self._shift) > len(self._data):
            raise ValueError("sector out of range")
        return off

    def _chain(self, start: int) -> Iterator[bytes]:
        seen: set[int] = set()
        sector = start
        size = 1 << self._shift
        while sector not in (_END_OF_CHAIN, _FREE) and sector < len(self._fat):
            if sector in seen:
                raise ValueError("loop in sector chain")
            seen.add(sector)
            off = self._offset(sector)
            yield self._data[off : off + size]
            sector = self._fat[sector]

    def stream_names(self) -> set[str]:
        return {name for name, kind, _, _ in self._entries if kind == 2}

    def stream_head(self, name: str) -> bytes | None:
        """The first sector of a stream stored in regular sectors, or None."""
        for entry_name, kind, start, size in self._entries:
            if kind == 2 and entry_name == name:
                if size < _MINI_CUTOFF:
                    return None
                return next(self._chain(start), None)
        return None
