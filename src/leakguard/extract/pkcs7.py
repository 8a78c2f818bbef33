"""Just enough of CMS / PKCS #7 (BER) to tell signed from encrypted S/MIME and to take
the signed content out of an opaque-signed message, which is otherwise unreadable.

No signature is verified: leakguard only needs what the message would disclose.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["cms_kind", "signed_content"]

_SIGNED = bytes.fromhex("2a864886f70d010702")  # 1.2.840.113549.1.7.2 signedData
_ENVELOPED = bytes.fromhex("2a864886f70d010703")  # 1.2.840.113549.1.7.3 envelopedData
_AUTH_ENVELOPED = bytes.fromhex("2a864886f70d0109100117")  # 1.2.840.113549.1.9.16.1.23
_ENCRYPTED_DATA = bytes.fromhex("2a864886f70d010706")  # 1.2.840.113549.1.7.6 encryptedData
_MAX_NESTING = 64


class _BadBER(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class _TLV:
    tag: int
    constructed: bool
    start: int
    end: int
    after: int


def _read(data: bytes, pos: int, depth: int = 0) -> _TLV:
    if depth > _MAX_NESTING or pos + 2 > len(data):
        raise _BadBER
    first = data[pos]
    pos += 1
    if first & 0x1F == 0x1F:
        # High tag number: skip its continuation bytes (never used by the fields read).
        while pos < len(data) and data[pos] & 0x80:
            pos += 1
        pos += 1
    if pos >= len(data):
        raise _BadBER
    length = data[pos]
    pos += 1
    if length == 0x80:
        # Indefinite length: the content runs to an end-of-contents marker.
        child = pos
        while True:
            if child + 2 > len(data):
                raise _BadBER
            if data[child] == 0 and data[child + 1] == 0:
                return _TLV(first, True, pos, child, child + 2)
            child = _read(data, child, depth + 1).after
    if length & 0x80:
        count = length & 0x7F
        if count > 8 or pos + count > len(data):
            raise _BadBER
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    end = pos + length
    if end > len(data):
        raise _BadBER
    return _TLV(first, bool(first & 0x20), pos, end, end)


def _children(data: bytes, tlv: _TLV, depth: int) -> list[_TLV]:
    out: list[_TLV] = []
    pos = tlv.start
    while pos < tlv.end:
        child = _read(data, pos, depth + 1)
        out.append(child)
        pos = child.after
    return out


def _octets(data: bytes, tlv: _TLV, depth: int = 0) -> bytes:
    if depth > _MAX_NESTING:
        raise _BadBER
    if not tlv.constructed:
        return data[tlv.start : tlv.end]
    # A constructed OCTET STRING (streamed BER): the concatenation of its pieces.
    return b"".join(_octets(data, c, depth + 1) for c in _children(data, tlv, depth))


def _content_info(data: bytes) -> tuple[bytes, _TLV | None]:
    top = _read(data, 0)
    parts = _children(data, top, 0)
    if not parts or parts[0].tag != 0x06:
        raise _BadBER
    oid = data[parts[0].start : parts[0].end]
    return oid, parts[1] if len(parts) > 1 else None


def cms_kind(der: bytes) -> str | None:
    """``"signed"``, ``"encrypted"``, or None when ``der`` is not CMS we recognise."""
    try:
        oid, _ = _content_info(der)
    except (_BadBER, IndexError):
        return None
    if oid == _SIGNED:
        return "signed"
    if oid in (_ENVELOPED, _AUTH_ENVELOPED, _ENCRYPTED_DATA):
        return "encrypted"
    return None


def signed_content(der: bytes) -> bytes | None:
    """The content embedded in an opaque-signed CMS structure, or None."""
    try:
        oid, explicit = _content_info(der)
        if oid != _SIGNED or explicit is None:
            return None
        signed_data = _children(der, explicit, 1)[0]
        fields = _children(der, signed_data, 2)
        encap = fields[2]
        inner = _children(der, encap, 3)
        if len(inner) < 2:
            return None  # detached signature: the content travels beside it
        octets = _children(der, inner[1], 4)[0]
        return _octets(der, octets, 5)
    except (_BadBER, IndexError):
        return None
