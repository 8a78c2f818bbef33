"""Is this file an encrypted container? The one answer shared by the readers and the
protection check: password PDF, encrypted ZIP, ODF and Office files (OOXML and legacy
Word, Excel, PowerPoint), OpenPGP and CMS messages, told from their structure, never
from a name, a type or a flag: a container counts as encrypted only when it parses as
what it claims and the bytes it says are encrypted do not read as clear content.
"""

from __future__ import annotations

import io
import re
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from leakguard.extract._types import Limits
from leakguard.extract.openpgp import PGP_BEGIN, PGP_END, read_openpgp

if TYPE_CHECKING:
    # Imported by the functions that read a message's parts or a ZIP file: the claims
    # of a plain document are judged without either.
    import email.message
    import zipfile

__all__ = [
    "OLE_MAGIC",
    "PDFIUM_LOCK",
    "PGP_BEGIN",
    "claimed_encryption",
    "container_encrypted",
    "control_part_honest",
    "encrypted_container",
    "member_data_offset",
    "odf_content_clear",
    "odf_encrypted",
    "ole_clear_content",
    "ole_encrypted",
    "openpgp_encrypted",
    "pdf_encryption_covers",
    "pdf_error_encrypted",
    "pdf_without_encryption",
    "pgp_armoured",
    "pgp_mime_encrypted",
    "readable_clear",
    "zip_member_clear",
    "zip_member_encrypted",
]

OLE_MAGIC = bytes.fromhex("d0cf11e0a1b11ae1")
# Armour longer than this is not looked at line by line: no honest text attachment is
# that large, and a PGP file that size is binary.
_MAX_ARMOUR = 64 * 1024 * 1024

# ------------------------------------------------------------------ labels and content

# What a part's name or declared type says about it: that it is encrypted.
_CLAIM_NAMES = {".p7m": "smime", ".p7e": "smime", ".pgp": "pgp", ".gpg": "pgp", ".asc": "pgp"}
_CLAIM_TYPES = {
    "application/pkcs7-mime": "smime",
    "application/x-pkcs7-mime": "smime",
    "application/pgp-encrypted": "pgp",
}
# Armour that is honestly not a message: a key or a detached signature saved as .asc.
_NOT_A_MESSAGE = (
    b"-----BEGIN PGP PUBLIC KEY BLOCK-----",
    b"-----BEGIN PGP SIGNATURE-----",
    b"-----BEGIN PGP SIGNED MESSAGE-----",
)


def claimed_encryption(
    data: bytes, /, *, filename: str | None = None, content_type: str | None = None
) -> str | None:
    """The encryption a part's label claims (``smime``, ``pgp``), or None.

    The label is its declared type (``application/pkcs7-mime``,
    ``application/pgp-encrypted``), its file name (``.p7m``, ``.p7e``, ``.pgp``, ``.gpg``,
    ``.asc``) or PGP message armour at its start. A key or signature saved as ``.asc``
    claims nothing.
    """
    ctype = (content_type or "").lower().split(";", 1)[0].strip()
    if ctype in _CLAIM_TYPES:
        return _CLAIM_TYPES[ctype]
    name = (filename or "").strip().lower()
    head = data[:4096].lstrip()
    for ext, claim in _CLAIM_NAMES.items():
        if name.endswith(ext):
            if ext == ".asc" and head.startswith(_NOT_A_MESSAGE):
                return None
            return claim
    if head.startswith(PGP_BEGIN.encode()):
        return "pgp"
    return None


_VERSION_ONE = re.compile(rb"\s*Version:\s*1\s*")
_KEY_ARMOUR = (b"-----BEGIN PGP PUBLIC KEY BLOCK-----", b"-----BEGIN PGP PRIVATE KEY BLOCK-----")


def control_part_honest(content_type: str, data: bytes, /) -> bool:
    """Whether a part whose type says it holds no content of the message (a signature,
    a key, the PGP/MIME version line) really is what its type says.

    Such parts are skipped by the readers; one that is not what it claims (a list of
    patients labelled ``application/pkcs7-signature``) must be read like any other.
    """
    from leakguard.extract.pkcs7 import cms_kind

    ctype = content_type.lower()
    head = data[:4096].lstrip()
    if ctype == "application/pgp-encrypted":
        return len(data) <= 256 and _VERSION_ONE.fullmatch(data) is not None
    if ctype in ("application/pkcs7-signature", "application/x-pkcs7-signature"):
        return cms_kind(data) == "signed"
    if ctype == "application/pgp-signature":
        return head.startswith(b"-----BEGIN PGP SIGNATURE-----") or _first_tag(data) == 2
    if ctype == "application/pgp-keys":
        return head.startswith(_KEY_ARMOUR) or _first_tag(data) in (5, 6)
    return False


def pgp_mime_encrypted(
    protocol: str, children: object, payload: Callable[[email.message.Message], bytes | None]
) -> bool:
    """Whether a ``multipart/encrypted`` part is PGP/MIME for real (RFC 3156): its
    ``protocol`` parameter, the ``Version: 1`` part, then an OpenPGP message that parses
    as encrypted, and nothing else. ``payload`` decodes a child part's bytes."""
    import email.message

    if protocol != "application/pgp-encrypted":
        return False
    if not isinstance(children, list) or len(children) != 2:
        return False
    control, sealed = children
    if not isinstance(control, email.message.Message) or not isinstance(
        sealed, email.message.Message
    ):
        return False
    version, data = payload(control), payload(sealed)
    if version is None or data is None:
        return False
    if not control_part_honest("application/pgp-encrypted", version):
        return False
    found = read_openpgp(data)
    return found is not None and found.encrypted


def _first_tag(data: bytes) -> int | None:
    """The tag of the first OpenPGP packet, from its header byte."""
    if not data or not data[0] & 0x80:
        return None
    return data[0] & 0x3F if data[0] & 0x40 else (data[0] >> 2) & 0x0F


# Signatures of documents read as they are: such bytes are not ciphertext.
_SIGNATURES = (
    b"%PDF-", b"PK\x03\x04", b"PK\x05\x06", OLE_MAGIC, b"\x78\x9f\x3e\x22", b"\x89PNG\r\n\x1a\n",
    b"GIF87a", b"GIF89a", b"II*\x00", b"MM\x00*", b"{\\rtf", b"\x1f\x8b\x08", b"\xff\xd8\xff\xe0",
    b"\xff\xd8\xff\xe1", b"\xff\xd8\xff\xdb", b"\xff\xd8\xff\xee", b"BZh", b"\xfd7zXZ\x00",
)  # fmt: skip
_TEXT_BYTES = frozenset(range(0x20, 0x7F)) | {0x09, 0x0A, 0x0C, 0x0D}


def readable_clear(data: bytes, /) -> bool:
    """Whether bytes read as they are: a document with its signature, or text.

    Ciphertext looks like random bytes, of which about two in five are printable; text
    is nearly all printable (UTF-8, Latin-1 or UTF-16). Only the first 4 KB are looked at.
    """
    head = bytes(data[:4096])
    if len(head) < 8:
        return False
    if head.startswith(_SIGNATURES) or b"%PDF-" in head[:1024]:
        return True
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or _utf16ish(head):
        text = head[2:] if head[:2] in (b"\xff\xfe", b"\xfe\xff") else head
        codec = "utf-16-be" if head.startswith(b"\xfe\xff") else "utf-16-le"
        decoded = text[: len(text) // 2 * 2].decode(codec, errors="replace")
        good = sum(1 for c in decoded if c.isprintable() or c in "\t\r\n")
        return good >= 0.9 * max(len(decoded), 1)
    ascii_text = sum(1 for b in head if b in _TEXT_BYTES)
    if ascii_text >= 0.85 * len(head):
        return True
    decoded = head.decode("utf-8", errors="replace")
    good = sum(1 for c in decoded if c != "\ufffd" and (c.isprintable() or c in "\t\r\n"))
    return good >= 0.9 * len(decoded)


def _utf16ish(head: bytes) -> bool:
    """Every other byte zero, as UTF-16 text of Latin letters is."""
    zeros = head[1::2].count(0)
    return len(head) >= 16 and zeros >= 0.8 * (len(head) // 2)


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
    if openpgp_encrypted(data):
        return "pgp"
    from leakguard.extract.pkcs7 import cms_kind

    if cms_kind(data) == "encrypted":
        return "smime"
    return None


# --------------------------------------------------------------------------- ZIP, ODF


def zip_member_encrypted(info: zipfile.ZipInfo, /) -> bool:
    """Bit 0 of the general-purpose flags: the member is encrypted (ZipCrypto or AES)."""
    return bool(info.flag_bits & 0x1)


def _zip_kind(data: bytes, lim: Limits) -> str | None:
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            if len(infos) > lim.max_members:
                return None
            files = [i for i in infos if not i.is_dir()]
            if (
                files
                and all(zip_member_encrypted(i) for i in files)
                and not any(zip_member_clear(data, i, limit=lim.max_part_bytes) for i in files)
            ):
                return "zip"
            return "office" if odf_encrypted(archive) else None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        return None


_AES = 99
_AES_EXTRA = 0x9901
_SALT = {1: 8, 2: 12, 3: 16}
_ZIPCRYPTO_HEADER = 12
_AES_MAC = 10


def zip_member_clear(data: bytes, info: zipfile.ZipInfo, /, *, limit: int) -> bytes | None:
    """The clear content of a member flagged encrypted whose bytes are not, or None.

    A member flagged encrypted (ZipCrypto or WinZip AES) is tried as if it were not: its
    data as stored, and past the 12-byte ZipCrypto header or the AES salt. When one of
    them decompresses to its end and matches the member's CRC, or reads as text or a
    document, the flag lied and those bytes are what the archive really carries.
    """
    if not zip_member_encrypted(info):
        return None
    start = member_data_offset(data, info)
    if start is None:
        return None
    raw = data[start : start + info.compress_size]
    method = info.compress_type
    candidates = [raw, raw[_ZIPCRYPTO_HEADER:]]
    if method == _AES:
        extra = _aes_extra(info.extra)
        if extra is None:
            return None
        strength, method = extra
        skip = _SALT.get(strength, 16) + 2
        candidates = [raw, raw[skip:-_AES_MAC], raw[skip:]]
    for candidate in candidates:
        clear = _clear_payload(candidate, method, info.CRC, limit)
        if clear:
            return clear
    return None


def member_data_offset(data: bytes | memoryview, info: zipfile.ZipInfo, /) -> int | None:
    """Where a member's stored bytes start, from its local header."""
    off: int = info.header_offset
    if off < 0 or off + 30 > len(data) or data[off : off + 4] != b"PK\x03\x04":
        return None
    name_len: int = struct.unpack_from("<H", data, off + 26)[0]
    extra_len: int = struct.unpack_from("<H", data, off + 28)[0]
    return off + 30 + name_len + extra_len


def _aes_extra(extra: bytes) -> tuple[int, int] | None:
    """(key strength, real compression method) from a WinZip AES extra field."""
    pos = 0
    while pos + 4 <= len(extra):
        ident, size = struct.unpack_from("<HH", extra, pos)
        if ident == _AES_EXTRA and size >= 7 and pos + 4 + size <= len(extra):
            strength = extra[pos + 8]
            (method,) = struct.unpack_from("<H", extra, pos + 9)
            return strength, method
        pos += 4 + size
    return None


def _clear_payload(candidate: bytes, method: int, crc: int, limit: int) -> bytes | None:
    import zipfile

    if len(candidate) < 8:
        return None
    if method == zipfile.ZIP_STORED:
        out = candidate[:limit]
    elif method == zipfile.ZIP_DEFLATED:
        inflater = zlib.decompressobj(-15)
        try:
            out = inflater.decompress(candidate, limit)
        except zlib.error:
            return None
        # A whole deflate stream, not a lucky prefix of random bytes.
        if not inflater.eof or len(inflater.unused_data) > _AES_MAC:
            return None
    else:
        return None
    if not out:
        return None
    if crc and zlib.crc32(out) & 0xFFFFFFFF == crc:
        return out
    return out if readable_clear(out) else None


def odf_encrypted(archive: zipfile.ZipFile, /) -> bool:
    """Whether an OpenDocument file has encrypted parts that really are encrypted.

    ODF keeps the ZIP itself clear and lists ``encryption-data`` for each encrypted
    member in its manifest. The manifest is read only when small (4 MB at most); the
    claim holds only when the text part (``content.xml``) is listed and its bytes are
    neither XML nor a deflate stream.
    """
    return _odf_claim(archive) and not odf_content_clear(archive)


def _odf_claim(archive: zipfile.ZipFile) -> bool:
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


def odf_content_clear(archive: zipfile.ZipFile, /) -> bool:
    """Whether an OpenDocument file that claims encryption keeps its text in clear: its
    ``content.xml`` reads as XML as stored, or inflates (ODF compresses, then encrypts)."""
    if not _odf_claim(archive):
        return False
    try:
        info = archive.getinfo("content.xml")
    except KeyError:
        return False
    if info.compress_size > 64 * 1024 * 1024 or zip_member_encrypted(info):
        return False
    with archive.open(info) as stream:
        head = stream.read(64 * 1024)
    if readable_clear(head):
        return True
    inflater = zlib.decompressobj(-15)
    try:
        out = inflater.decompress(head, 4096)
    except zlib.error:
        return False
    return readable_clear(out)


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
            return pdf_error_encrypted(err) and pdf_encryption_covers(data)
        document.close()
    return False


def pdf_encryption_covers(data: bytes, /, *, expired: Callable[[], bool] | None = None) -> bool:
    """Whether the encryption an ``/Encrypt`` dictionary announces really covers the
    document's streams: none of them inflates, or reads as text, without the key."""
    from leakguard.extract.pdf_streams import clear_streams

    return not clear_streams(data, expired or (lambda: False))


def pdf_without_encryption(data: bytes, /) -> bytes:
    """The document with its ``/Encrypt`` entries renamed (same length, so every offset
    holds): what a PDF whose streams are in clear really says, for PDFium to read."""
    return data.replace(b"/Encrypt", b"/Encrypx")


# --------------------------------------------------------------------------- OpenPGP


def pgp_armoured(text: str, /) -> bool:
    """Whether ``text`` is one ASCII-armoured OpenPGP message that really is encrypted,
    and nothing else.

    Clear text before, after or inside the armour (a note written between two blocks)
    makes it not encrypted: that text would travel readable. So does armour whose
    base64 decodes to anything but session-key packets followed by encrypted data.
    """
    body = text.strip()
    if not (body.startswith(PGP_BEGIN) and body.endswith(PGP_END)):
        return False
    if len(body) > _MAX_ARMOUR or body.count(PGP_BEGIN) != 1 or body.count(PGP_END) != 1:
        return False
    found = read_openpgp(body)
    return found is not None and found.encrypted


def openpgp_encrypted(data: bytes, /) -> bool:
    """Whether the bytes are an OpenPGP encrypted message, armoured or binary, read
    packet by packet."""
    if data[:4096].lstrip().startswith(PGP_BEGIN.encode()):
        # Armour counts only alone: clear text around it would travel readable.
        return len(data) <= _MAX_ARMOUR and pgp_armoured(data.decode("utf-8", "replace"))
    found = read_openpgp(data)
    return found is not None and found.encrypted


# --------------------------------------------------------------- OLE compound files

_END_OF_CHAIN = 0xFFFFFFFE
_FREE = 0xFFFFFFFF
_MINI_CUTOFF = 4096


# Versions of the EncryptionInfo stream (MS-OFFCRYPTO 2.3.4): RC4 CryptoAPI, standard,
# extensible and agile encryption.
_ENCRYPTION_INFO_VERSIONS = frozenset({(2, 2), (3, 2), (4, 2), (3, 3), (4, 3), (4, 4)})
# Text a person wrote, as the skimming reader finds it: too long a run to occur by
# chance in ciphertext (the odds of 24 printable bytes in a row are below 1 in 10^9).
_CLEAR_RUN = re.compile(rb"[\x20-\x7e]{24,}|(?:[\x20-\x7e]\x00){12,}")
_MAIN_STREAMS = ("WordDocument", "Workbook", "Book", "PowerPoint Document")


def ole_encrypted(data: bytes, /) -> bool:
    """Whether a compound file (MS-CFB) is a password-protected Office document whose
    content really is encrypted.

    The claim is read from its directory and stream heads, not by searching the bytes: an
    OOXML file encrypted into ``EncryptedPackage``, a PowerPoint with ``EncryptedSummary``,
    a Word document whose FIB says ``fEncrypted``, a workbook whose BOF is followed by
    FILEPASS. It holds only when the content is not readable all the same: the package
    must come with an ``EncryptionInfo`` of a known version and not be a clear ZIP, and
    a legacy document's main stream must show no run of text.
    """
    claim = _ole_claim(data)
    return claim is not None and ole_clear_content(data, claim=claim) is None


def ole_clear_content(data: bytes, /, *, claim: str | None = None) -> bytes | None:
    """For a compound file that claims encryption but is readable: the bytes to read (the
    package it holds, or the file itself), else None."""
    claim = claim or _ole_claim(data)
    if claim is None:
        return None
    import olefile

    try:
        ole = olefile.OleFileIO(io.BytesIO(data))
    except Exception:
        return None
    try:
        if claim == "package":
            info = _stream(ole, "EncryptionInfo", 8)
            package = _stream(ole, "EncryptedPackage", 64 * 1024 * 1024)
            if package is None:
                return None
            body = package[8:]
            version = struct.unpack_from("<HH", info) if info and len(info) >= 4 else None
            if readable_clear(body):
                size = int.from_bytes(package[:8], "little")
                return body[:size] if 0 < size <= len(body) else body
            if version not in _ENCRYPTION_INFO_VERSIONS:
                return data
            return None
        for name in _MAIN_STREAMS:
            stream = _stream(ole, name, 64 * 1024 * 1024)
            if stream is not None and _CLEAR_RUN.search(stream, 68):
                return data
        return None
    finally:
        ole.close()


def _stream(ole: object, name: str, limit: int) -> bytes | None:
    try:
        if not ole.exists(name):  # type: ignore[attr-defined]
            return None
        with ole.openstream(name) as stream:  # type: ignore[attr-defined]
            return bytes(stream.read(limit))
    except Exception:
        return None


def _ole_claim(data: bytes) -> str | None:
    """``package`` or ``legacy`` when the compound file's structure says it is encrypted."""
    try:
        ole = _Ole(data)
        names = ole.stream_names()
    except (ValueError, struct.error, IndexError):
        return None
    if "EncryptedPackage" in names:
        return "package"
    if "EncryptedSummary" in names:
        return "legacy"
    try:
        word = ole.stream_head("WordDocument")
        if word is not None and len(word) >= 12:
            # FIB base: flags word at offset 0x0A, fEncrypted is bit 8.
            flags: int = struct.unpack_from("<H", word, 0x0A)[0]
            return "legacy" if flags & 0x0100 else None
        book = ole.stream_head("Workbook") or ole.stream_head("Book")
        if book is not None and len(book) >= 8:
            kind, length = struct.unpack_from("<HH", book, 0)
            # A FILEPASS record (0x002F) right after the BOF (0x0809) marks encryption.
            if kind == 0x0809 and 4 + length + 2 <= len(book):
                following: int = struct.unpack_from("<H", book, 4 + length)[0]
                return "legacy" if following == 0x002F else None
    except (ValueError, struct.error, IndexError):
        return None
    return None


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
