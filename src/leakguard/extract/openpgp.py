"""OpenPGP messages read packet by packet (RFC 9580 §4-5), armoured or binary: is this an
encrypted message (session-key packets, then encrypted data that is not clear), and if
not, what clear content does it carry (literal data, compressed or not)?

Nothing is decrypted and no signature is checked: the guard only needs to know whether
the bytes would travel readable.
"""

from __future__ import annotations

import binascii
import bz2
import re
import zlib
from dataclasses import dataclass

__all__ = ["PGP_BEGIN", "PgpMessage", "armour_blocks", "read_openpgp"]

PGP_BEGIN = "-----BEGIN PGP MESSAGE-----"
PGP_END = "-----END PGP MESSAGE-----"

# Packet tags (RFC 9580 §5).
_PKESK, _SIG, _SKESK, _ONE_PASS, _SED, _MARKER, _COMPRESSED = 1, 2, 3, 4, 9, 10, 8
_LITERAL, _TRUST, _SEIPD, _AEAD, _PADDING = 11, 12, 18, 20, 21
_ESK = frozenset({_PKESK, _SKESK})
_ENCRYPTED = frozenset({_SED, _SEIPD, _AEAD})
# Most packets walked in one message: an honest one has a handful.
_MAX_PACKETS = 1000
_MAX_NESTING = 8
_ARMOUR_HEADER = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,40}: ?[^\r\n]{0,500}")
_B64_LINE = re.compile(r"[A-Za-z0-9+/]*={0,2}")


@dataclass(frozen=True, slots=True)
class PgpMessage:
    """What an OpenPGP message (or bytes that claim to be one) really is.

    ``encrypted``: session-key packets followed by encrypted data whose bytes are not
    clear content. Otherwise ``clear`` holds what the bytes carry readable: the literal
    data of a signed or compressed message, or the decoded armour when it holds no
    OpenPGP packets at all (empty when nothing readable could be found).
    """

    encrypted: bool
    clear: bytes = b""


class _Bad(ValueError):
    pass


def _packets(data: bytes, limit: int) -> list[tuple[int, bytes]]:
    """(tag, body) of every packet; :class:`_Bad` when the framing does not hold.

    Bodies of partial-length packets are joined; no body is kept past ``limit`` bytes.
    """
    out: list[tuple[int, bytes]] = []
    pos = 0
    n = len(data)
    while pos < n:
        if len(out) >= _MAX_PACKETS:
            raise _Bad("too many packets")
        first = data[pos]
        pos += 1
        if not first & 0x80:
            raise _Bad("not a packet header")
        pieces: list[bytes] = []
        kept = 0
        if first & 0x40:
            tag = first & 0x3F
            while True:
                if pos >= n:
                    raise _Bad("truncated length")
                octet = data[pos]
                partial = False
                if octet < 192:
                    length, pos = octet, pos + 1
                elif octet < 224:
                    if pos + 2 > n:
                        raise _Bad("truncated length")
                    length, pos = ((octet - 192) << 8) + data[pos + 1] + 192, pos + 2
                elif octet == 255:
                    if pos + 5 > n:
                        raise _Bad("truncated length")
                    length, pos = int.from_bytes(data[pos + 1 : pos + 5], "big"), pos + 5
                else:
                    length, pos, partial = 1 << (octet & 0x1F), pos + 1, True
                if pos + length > n:
                    raise _Bad("truncated body")
                if kept < limit:
                    pieces.append(data[pos : pos + min(length, limit - kept)])
                    kept += length
                pos += length
                if not partial:
                    break
        else:
            tag = (first >> 2) & 0x0F
            size = (1, 2, 4, 0)[first & 0x03]
            if size:
                if pos + size > n:
                    raise _Bad("truncated length")
                length = int.from_bytes(data[pos : pos + size], "big")
                pos += size
            else:  # indeterminate: to the end of the data
                length = n - pos
            if pos + length > n:
                raise _Bad("truncated body")
            pieces.append(data[pos : pos + min(length, limit)])
            pos += length
        if tag == 0:
            raise _Bad("reserved tag")
        out.append((tag, b"".join(pieces)))
    return out


def _encrypted(packets: list[tuple[int, bytes]]) -> bool:
    """Session-key packets (at least one) then one encrypted-data packet, with the
    versions the standard knows, and a body that does not read as clear content."""
    from leakguard.extract.encryption import readable_clear

    tags = [t for t, _ in packets if t not in (_MARKER, _PADDING)]
    bodies = [b for t, b in packets if t not in (_MARKER, _PADDING)]
    if len(tags) < 2 or tags[-1] not in _ENCRYPTED or any(t not in _ESK for t in tags[:-1]):
        return False
    for tag, body in zip(tags[:-1], bodies[:-1], strict=True):
        if not body:
            return False
        if tag == _PKESK and body[0] not in (3, 6):
            return False
        if tag == _SKESK and body[0] not in (4, 5, 6):
            return False
    tag, body = tags[-1], bodies[-1]
    if tag == _SEIPD:
        if not body or body[0] not in (1, 2):
            return False
        body = body[1:] if body[0] == 1 else body[36:]
    elif tag == _AEAD:
        if not body or body[0] != 1:
            return False
        body = body[4:]
    return len(body) >= 16 and not readable_clear(body)


def _literal(packets: list[tuple[int, bytes]], limit: int, depth: int) -> bytes:
    """The literal data of a message that is not encrypted (signed, compressed, or both)."""
    out: list[bytes] = []
    for tag, body in packets:
        if tag == _LITERAL and len(body) >= 6:
            name_len = body[1]
            out.append(body[2 + name_len + 4 :])
        elif tag == _COMPRESSED and body and depth < _MAX_NESTING:
            inner = _decompress(body[0], body[1:], limit)
            try:
                out.append(_literal(_packets(inner, limit), limit, depth + 1))
            except _Bad:
                out.append(inner)
    return b"".join(out)[:limit]


def _decompress(algorithm: int, data: bytes, limit: int) -> bytes:
    """Inflate at most ``limit`` bytes: a compressed packet may be a bomb."""
    try:
        if algorithm == 0:
            return data[:limit]
        if algorithm in (1, 2):
            inflater = zlib.decompressobj(-15 if algorithm == 1 else 15)
            return inflater.decompress(data, limit)
        if algorithm == 3:
            return bz2.BZ2Decompressor().decompress(data, limit)
    except (zlib.error, OSError, ValueError, EOFError):
        return b""
    return b""


def _dearmour(block: str) -> bytes | None:
    """The bytes an armour block encodes (headers, blank line, base64, checksum), or None
    when its lines are not base64."""
    # The first line is what followed the BEGIN marker on its line.
    lines = block.splitlines()[1:]
    body: list[str] = []
    headers = True
    for raw in lines:
        line = raw.strip()
        if headers and _ARMOUR_HEADER.fullmatch(line):
            continue
        headers = False
        if not line:
            continue
        if line.startswith("=") and len(line) == 5:
            continue  # the CRC-24 line
        if not _B64_LINE.fullmatch(line):
            return None
        body.append(line)
    try:
        return binascii.a2b_base64("".join(body).encode("ascii"), strict_mode=False)
    except (binascii.Error, ValueError):
        return None


def armour_blocks(text: str) -> list[str]:
    """The text between each ``BEGIN PGP MESSAGE`` and ``END PGP MESSAGE`` line."""
    out: list[str] = []
    pos = 0
    while len(out) < _MAX_PACKETS:
        start = text.find(PGP_BEGIN, pos)
        if start < 0:
            break
        end = text.find(PGP_END, start)
        if end < 0:
            break  # (searching again from each later BEGIN would be quadratic)
        out.append(text[start + len(PGP_BEGIN) : end])
        pos = end + len(PGP_END)
    return out


def read_openpgp(data: bytes | str, /, *, limit: int = 50 * 1024 * 1024) -> PgpMessage | None:
    """Read bytes (or text) as an OpenPGP message.

    Armour is decoded first (every block of the text must be encrypted for the whole to
    count as encrypted). None when the bytes are neither armour nor OpenPGP packets.
    At most ``limit`` bytes of clear content are returned.
    """
    if isinstance(data, bytes):
        head = data[:4096].lstrip()
        if head.startswith(PGP_BEGIN.encode()):
            data = data.decode("utf-8", errors="replace")
    if isinstance(data, str):
        blocks = armour_blocks(data)
        if not blocks:
            return None
        found = [_one(_dearmour(b), limit) for b in blocks]
        if all(m.encrypted for m in found):
            return PgpMessage(True)
        return PgpMessage(False, b"\n".join(m.clear for m in found if not m.encrypted))
    if not data or not data[0] & 0x80:
        return None
    try:
        packets = _packets(data, limit)
    except _Bad:
        return None
    if _encrypted(packets):
        return PgpMessage(True)
    return PgpMessage(False, _literal(packets, limit, 0))


def _one(decoded: bytes | None, limit: int) -> PgpMessage:
    if decoded is None:
        return PgpMessage(False)
    try:
        packets = _packets(decoded, limit)
    except _Bad:
        # Base64 of something that is not OpenPGP: what it decodes to is in clear.
        return PgpMessage(False, decoded[:limit])
    if _encrypted(packets):
        return PgpMessage(True)
    return PgpMessage(False, _literal(packets, limit, 0))
