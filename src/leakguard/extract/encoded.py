"""Files written inside a text the way mail programs did before MIME, and some still
do: uuencode (``begin 644 name`` … ``end``), yEnc (``=ybegin`` … ``=yend``) and BinHex
4.0. Mail programs show them as attachments; here they are decoded and read as the
documents they are.

Base64 written into a text is decoded too when it is a document or a text (anything but
noise: a hash, a key): the data of an HL7 v2 field whose encoding is ``Base64`` (a lab's
PDF report in an ``OBX`` segment), in a text of any size, and any block of base64 in a
text of at most ``BASE64_TEXT_MAX`` characters (a file pasted as MIME writes it, a line
encoded by a script).
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass

from leakguard.detectors._present import holding
from leakguard.extract._common import mostly_printable

__all__ = ["BASE64_TEXT_MAX", "EncodedFile", "encoded_files"]

_UU_BEGIN = re.compile(r"^begin(?:-base64)? [0-7]{3,4} ([^\r\n]{1,255})\r?$", re.MULTILINE)
_UU_END = re.compile(r"^end\r?$", re.MULTILINE)
_B64_END = re.compile(r"^(?:====|end)\r?$", re.MULTILINE)
_Y_BEGIN = re.compile(r"^=ybegin [^\r\n]*?name=([^\r\n]{1,255})\r?$", re.MULTILINE)
_Y_END = re.compile(r"^=yend\b", re.MULTILINE)
_HQX_MARK = "(This file must be converted with BinHex"
_HQX = "!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr"
_HQX_VALUE = {ch: i for i, ch in enumerate(_HQX)}
# "begin" is in both the uuencode and the yEnc markers.
_MARKERS = (b"begin", _HQX_MARK.encode("ascii"))
# More blocks than this in one text is not mail: the rest is left as text.
_MAX_FILES = 64
# A base64 block: at least 24 characters on one line (a short text encoded), then any
# lines of at least 16 more (a file as MIME writes it, 76 characters a line).
_BASE64_BLOCK = re.compile(r"[A-Za-z0-9+/]{24,}={0,2}(?:[ \t]*\r?\n[A-Za-z0-9+/]{16,}={0,2})*")
# HL7 v2 encapsulated data (ED): "<application>^<type>^<subtype>^Base64^<data>".
_HL7_BASE64 = re.compile(r"\^[Bb][Aa][Ss][Ee]64\^([A-Za-z0-9+/=]{24,})")
#: Texts up to this many characters are searched for any base64 block (the search costs
#: some 33 ms a megabyte); longer ones for HL7 base64 fields only.
BASE64_TEXT_MAX = 256 * 1024


@dataclass(frozen=True, slots=True)
class EncodedFile:
    """A file found in a text: its name, its bytes (at most the limit given) and whether
    its encoding was damaged or cut."""

    name: str
    data: bytes
    damaged: bool = False


def encoded_files(text: str, limit: int, *, base64: bool = True) -> list[EncodedFile]:
    """Every uuencoded, yEnc or BinHex file in ``text``, and with ``base64`` every base64
    document (see the module's text), each cut at ``limit`` bytes (and then marked
    damaged). Cheap on ordinary text: a marker is looked for first. An HTML part's
    base64 is read by the HTML reader (``data:`` URLs): it passes ``base64=False``."""
    found: list[EncodedFile] = []
    # The markers of the three encodings, looked for in one pass over a long text.
    held = holding(text, _MARKERS)
    if b"begin" in held:
        if "begin " in text or "begin-base64 " in text:
            found += _uudecoded(text, limit)
        if "=ybegin" in text:
            found += _ydecoded(text, limit)
    if _HQX_MARK.encode("ascii") in held:
        found += _binhex(text, limit)
    if base64 and len(found) < _MAX_FILES:
        found += _base64_files(text, limit, {f.data for f in found})
    return found[:_MAX_FILES]


def _base64_files(text: str, limit: int, known: set[bytes]) -> list[EncodedFile]:
    """The documents and texts written in base64 in ``text`` (see the module's text),
    each once, named ``document-<n>``; ``known`` are files found otherwise (a
    ``begin-base64`` block is found both ways)."""
    blocks: list[str] = []
    if "^" in text:
        blocks += [m.group(1) for m in _HL7_BASE64.finditer(text)]
    if len(text) <= BASE64_TEXT_MAX:
        blocks += [m.group() for m in _BASE64_BLOCK.finditer(text)]
    files: list[EncodedFile] = []
    for block in dict.fromkeys(blocks):
        data = _decoded_document(block)
        if data is None or data in known:
            continue
        known.add(data)
        name = f"document-{len(files) + 1}"
        files.append(EncodedFile(name, data[:limit], damaged=len(data) > limit))
        if len(files) >= _MAX_FILES:
            break
    return files


def _decoded_document(block: str) -> bytes | None:
    """What a base64 block decodes to when that is a document or a readable text (the
    JSON and XML readers' rule, with the text's own test); a block whose last line is a
    word after it ("Cordialement") is tried without that line."""
    from leakguard.extract.sniff import sniff
    from leakguard.extract.text_formats import base64_bytes

    candidates = [block, block.rsplit("\n", 1)[0]] if "\n" in block else [block]
    for candidate in candidates:
        data = base64_bytes(candidate)
        if data is None:
            continue
        family = sniff(data)
        if family == "text":
            return data if _readable(data) else None
        if family != "binary":
            return data
    return None


def _readable(data: bytes) -> bool:
    """Whether decoded bytes read as a text: nine characters in ten printable in UTF-8,
    or nine bytes in ten printable ASCII (a Latin-1 text). A run of letters in a text
    ("aaaa…") is base64 too, of bytes no one wrote."""
    sample = data[:4096]
    try:
        return mostly_printable(sample.decode("utf-8"))
    except UnicodeDecodeError:
        # Bytes past ASCII count as unprintable here.
        return mostly_printable(sample.decode("ascii", "replace").replace("\ufffd", "\x00"))


def _uudecoded(text: str, limit: int) -> list[EncodedFile]:
    files: list[EncodedFile] = []
    for begin in _UU_BEGIN.finditer(text):
        base64 = begin.group(0).startswith("begin-base64")
        # The base64 form ends with "====" (POSIX ``uuencode -m``), some writers add "end".
        end = (_B64_END if base64 else _UU_END).search(text, begin.end())
        stop = end.start() if end else len(text)
        out = bytearray()
        damaged = end is None
        body = text[begin.end() : stop].split("\n")
        if base64:
            try:
                out += binascii.a2b_base64(
                    "".join(line.strip() for line in body if line.strip() != "====")
                )
            except binascii.Error:
                damaged = True
        for line in () if base64 else body:
            line = line.rstrip("\r")
            if not line or line == "`":
                continue
            declared = (ord(line[0]) - 32) & 63
            needed = (declared * 4 + 2) // 3
            try:
                decoded = binascii.a2b_uu(line[: needed + 1])
            except binascii.Error:
                damaged = True
                continue
            if len(line) - 1 < needed:
                # A line cut short (or trailing spaces dropped by a writer: the missing
                # characters are taken as zero bits, the bytes they hold as unknown).
                keep = (len(line.rstrip()) - 1) * 3 // 4
                damaged = damaged or keep < declared
                decoded = decoded[: max(keep, 0)]
            out += decoded
            if len(out) > limit:
                del out[limit:]
                damaged = True
                break
        files.append(EncodedFile(begin.group(1).strip(), bytes(out), damaged))
        if len(files) >= _MAX_FILES:
            break
    return files


def _ydecoded(text: str, limit: int) -> list[EncodedFile]:
    files: list[EncodedFile] = []
    for begin in _Y_BEGIN.finditer(text):
        end = _Y_END.search(text, begin.end())
        stop = end.start() if end else len(text)
        raw = text[begin.end() : stop]
        lines = [line for line in raw.split("\n") if not line.startswith("=ypart")]
        data = "".join(line.rstrip("\r") for line in lines).encode("latin-1", "replace")
        out = bytearray()
        escape = False
        for byte in data:
            if escape:
                out.append((byte - 64 - 42) % 256)
                escape = False
            elif byte == 0x3D:  # "="
                escape = True
            else:
                out.append((byte - 42) % 256)
            if len(out) > limit:
                break
        damaged = end is None or len(out) > limit
        files.append(EncodedFile(begin.group(1).strip(), bytes(out[:limit]), damaged))
        if len(files) >= _MAX_FILES:
            break
    return files


def _binhex(text: str, limit: int) -> list[EncodedFile]:
    """BinHex 4.0: six-bit characters between colons, run-length coded, then a header
    (name, type, sizes) and the data fork. Only the data fork holds the file."""
    start = text.find(":", text.find(_HQX_MARK))
    if start < 0:
        return []
    end = text.find(":", start + 1)
    damaged = end < 0
    body = text[start + 1 : end if end >= 0 else len(text)]
    bits = 0
    count = 0
    packed = bytearray()
    for ch in body:
        value = _HQX_VALUE.get(ch)
        if value is None:
            if ch not in " \t\r\n":
                damaged = True
            continue
        bits = (bits << 6) | value
        count += 6
        if count >= 8:
            count -= 8
            packed.append((bits >> count) & 0xFF)
            bits &= (1 << count) - 1
        if len(packed) > 2 * limit + 4096:
            damaged = True
            break
    raw = _unrun(bytes(packed), limit + 4096)
    try:
        size = raw[0]
        name = raw[1 : 1 + size].decode("mac-roman", "replace")
        pos = 1 + size + 1 + 4 + 4 + 2
        data_size = int.from_bytes(raw[pos : pos + 4], "big")
        pos += 4 + 4 + 2  # resource fork size, header checksum
        data = raw[pos : pos + min(data_size, limit)]
        damaged = damaged or len(data) < data_size
    except IndexError:
        return [EncodedFile("binhex", b"", True)]
    return [EncodedFile(name or "binhex", data, damaged)]


def _unrun(data: bytes, limit: int) -> bytes:
    """BinHex's run-length coding: 0x90 then a count repeats the byte before it."""
    out = bytearray()
    i = 0
    while i < len(data) and len(out) <= limit:
        byte = data[i]
        if byte == 0x90 and i + 1 < len(data):
            repeat = data[i + 1]
            if repeat == 0:
                out.append(0x90)
            elif out:
                out += out[-1:] * (repeat - 1)
            i += 2
            continue
        out.append(byte)
        i += 1
    return bytes(out[:limit])
