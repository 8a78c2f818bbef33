"""Outlook items (``.msg``) and ``winmail.dat`` (TNEF) written from scratch for the tests.

No library at hand writes compound files (olefile only reads them, or rewrites a stream
in place), so :func:`compound_file` writes one itself, following MS-CFB version 3:
512-byte sectors, streams under 4096 bytes in the mini stream, one FAT, the directory's
siblings chained to the right (a valid, if unbalanced, tree). The ``.msg`` and TNEF
builders then lay out MAPI properties as MS-OXMSG and MS-OXTNEF describe.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

Tree = Mapping[str, "bytes | Tree"]

_FREE, _END, _FATSECT, _NOSTREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
_SECTOR, _MINI, _CUTOFF = 512, 64, 4096


@dataclass
class _Entry:
    name: str
    kind: int  # 1 storage, 2 stream, 5 root
    data: bytes = b""
    children: list[int] = field(default_factory=list)
    start: int = _END
    size: int = 0
    left: int = _NOSTREAM
    right: int = _NOSTREAM
    child: int = _NOSTREAM


def _key(name: str) -> tuple[int, str]:
    return len(name), name.upper()


def compound_file(tree: Tree) -> bytes:
    """An OLE compound file holding ``tree`` (a name maps to a stream's bytes, or to a
    storage given as a mapping)."""
    entries = [_Entry("Root Entry", 5)]

    def add(parent: int, items: Tree) -> None:
        for name in sorted(items, key=_key):
            value = items[name]
            index = len(entries)
            if isinstance(value, bytes):
                entries.append(_Entry(name, 2, value, size=len(value)))
            else:
                entries.append(_Entry(name, 1))
                add(index, value)
            entries[parent].children.append(index)

    add(0, tree)
    for entry in entries:
        # Children in order, each the right sibling of the one before.
        if entry.children:
            entry.child = entry.children[0]
            for a, b in zip(entry.children, entry.children[1:], strict=False):
                entries[a].right = b

    mini = bytearray()
    mini_fat: list[int] = []
    big: list[_Entry] = []
    for entry in entries:
        if entry.kind != 2 or not entry.data:
            continue
        if len(entry.data) < _CUTOFF:
            entry.start = len(mini) // _MINI
            count = -(-len(entry.data) // _MINI)
            mini_fat.extend(range(entry.start + 1, entry.start + count))
            mini_fat.append(_END)
            mini += entry.data.ljust(count * _MINI, b"\0")
        else:
            big.append(entry)

    sectors: list[bytes] = []
    fat: list[int] = []

    def chain(data: bytes) -> int:
        first = len(sectors)
        count = max(1, -(-len(data) // _SECTOR))
        for i in range(count):
            sectors.append(data[i * _SECTOR : (i + 1) * _SECTOR].ljust(_SECTOR, b"\0"))
            fat.append(first + i + 1 if i + 1 < count else _END)
        return first

    for entry in big:
        entry.start = chain(entry.data)
    root = entries[0]
    if mini:
        root.start, root.size = chain(bytes(mini)), len(mini)
    mini_fat_start, mini_fat_count = _END, 0
    if mini_fat:
        table = b"".join(struct.pack("<I", v) for v in mini_fat)
        table = table.ljust(-(-len(table) // _SECTOR) * _SECTOR, b"\xff")
        mini_fat_start, mini_fat_count = chain(table), len(table) // _SECTOR
    directory = b"".join(_dir_entry(e) for e in entries)
    directory = directory.ljust(-(-len(directory) // _SECTOR) * _SECTOR, b"\0")
    dir_start = chain(directory)

    fat_count = 1
    while (len(sectors) + fat_count) > fat_count * (_SECTOR // 4):
        fat_count += 1
    assert fat_count <= 109, "test file too large for a header-only DIFAT"
    fat_first = len(sectors)
    fat.extend([_FATSECT] * fat_count)
    fat.extend([_FREE] * (fat_count * (_SECTOR // 4) - len(fat)))
    table = b"".join(struct.pack("<I", v) for v in fat)
    sectors.extend(table[i * _SECTOR : (i + 1) * _SECTOR] for i in range(fat_count))

    difat = [fat_first + i for i in range(fat_count)] + [_FREE] * (109 - fat_count)
    header = (
        bytes.fromhex("d0cf11e0a1b11ae1")
        + bytes(16)
        + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
        + bytes(6)
        + struct.pack("<IIII", 0, fat_count, dir_start, 0)
        + struct.pack("<IIIII", _CUTOFF, mini_fat_start, mini_fat_count, _END, 0)
        + struct.pack("<109I", *difat)
    )
    assert len(header) == _SECTOR
    return header + b"".join(sectors)


def _dir_entry(e: _Entry) -> bytes:
    name = (e.name + "\0").encode("utf-16-le")
    return (
        name.ljust(64, b"\0")
        + struct.pack("<HBB", len(name), e.kind, 1)
        + struct.pack("<III", e.left, e.right, e.child)
        + bytes(16 + 4 + 8 + 8)
        + struct.pack("<IQ", e.start if e.kind != 1 else 0, e.size)
    )


# --------------------------------------------------------------------------- .msg


@dataclass
class MsgAttachment:
    name: str
    data: bytes = b""
    item: OutlookItem | None = None


@dataclass
class OutlookItem:
    subject: str = ""
    body: str = ""
    html: str | None = None
    rtf: bytes | None = None
    headers: str = ""
    to: str = ""
    attachments: Sequence[MsgAttachment] = ()


def _utf16(text: str) -> bytes:
    return text.encode("utf-16-le")


def _item_tree(item: OutlookItem, header: int) -> dict[str, bytes | Tree]:
    tree: dict[str, bytes | Tree] = {"__properties_version1.0": bytes(header)}
    for ident, text in ((0x0037, item.subject), (0x1000, item.body), (0x007D, item.headers),
                        (0x0E04, item.to)):  # fmt: skip
        if text:
            tree[f"__substg1.0_{ident:04X}001F"] = _utf16(text)
    if item.html is not None:
        tree["__substg1.0_10130102"] = item.html.encode("utf-8")
    if item.rtf is not None:
        tree["__substg1.0_10090102"] = compress_rtf(item.rtf)
    for i, att in enumerate(item.attachments):
        storage: dict[str, bytes | Tree] = {"__properties_version1.0": bytes(8)}
        if att.item is not None:
            storage["__substg1.0_3001001F"] = _utf16(att.name)
            storage["__substg1.0_3701000D"] = _item_tree(att.item, 24)
        else:
            storage["__substg1.0_3707001F"] = _utf16(att.name)
            storage["__substg1.0_37010102"] = att.data
        tree[f"__attach_version1.0_#{i:08X}"] = storage
    return tree


def make_msg(item: OutlookItem) -> bytes:
    """An Outlook ``.msg`` file of ``item``, its attachments and attached items."""
    return compound_file(_item_tree(item, 32))


# --------------------------------------------------------------------------- RTF


_PREBUF_LEN = 207


def compress_rtf(rtf: bytes, *, reference: bool = True) -> bytes:
    """``rtf`` as a ``PR_RTF_COMPRESSED`` value (LZFu). When ``rtf`` starts with
    ``{\\rtf1`` and ``reference`` is set, those six bytes are written as a reference into
    the initial dictionary; the rest as literals."""
    out = bytearray()
    tokens: list[bytes | tuple[int, int]] = []
    rest = rtf
    if reference and rtf.startswith(b"{\\rtf1"):
        tokens.append((0, 6))
        rest = rtf[6:]
    tokens.extend(rest[i : i + 1] for i in range(len(rest)))
    write = _PREBUF_LEN + len(rtf)
    tokens.append((write % 4096, 2))  # the end marker: a reference to the write position
    for i in range(0, len(tokens), 8):
        group = tokens[i : i + 8]
        control = sum(1 << bit for bit, tok in enumerate(group) if isinstance(tok, tuple))
        out.append(control)
        for tok in group:
            if isinstance(tok, tuple):
                out += struct.pack(">H", (tok[0] << 4) | (tok[1] - 2))
            else:
                out += tok
    return struct.pack("<IIII", len(out) + 12, len(rtf), 0x75465A4C, 0) + bytes(out)


# --------------------------------------------------------------------------- TNEF


def _attr(level: int, ident: int, kind: int, value: bytes) -> bytes:
    head = struct.pack("<BII", level, (kind << 16) | ident, len(value))
    return head + value + struct.pack("<H", sum(value) & 0xFFFF)


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _prop(kind: int, ident: int, value: bytes) -> bytes:
    head = struct.pack("<HH", kind, ident)
    if kind in (0x001E, 0x001F, 0x0102, 0x000D):
        return head + struct.pack("<II", 1, len(value)) + _pad(value)
    return head + value


def _props(*props: bytes) -> bytes:
    return struct.pack("<I", len(props)) + b"".join(props)


@dataclass
class TnefAttachment:
    """``as_property``: the file travels as PR_ATTACH_DATA_BIN in attAttachment, with no
    attRenddata or attAttachData before it, as some Outlook versions write it."""

    name: str
    data: bytes = b""
    item: OutlookItem | None = None
    as_property: bool = False


def make_tnef(
    *,
    subject: str = "",
    body: str = "",
    rtf: bytes | None = None,
    attachments: Sequence[TnefAttachment] = (),
    corrupt_checksum: bool = False,
) -> bytes:
    """A ``winmail.dat`` carrying a subject, a plain body (attBody, cp1252) and/or an RTF
    body (compressed, in the MAPI properties), and attachments; an attachment with
    ``item`` is an attached Outlook item (a TNEF stream inside PR_ATTACH_DATA_OBJ)."""
    out = bytearray(struct.pack("<IH", 0x223E9F78, 0x0001))
    out += _attr(1, 0x9006, 0x0005, struct.pack("<I", 0x00010000))  # attTnefVersion
    out += _attr(1, 0x9007, 0x0006, struct.pack("<II", 1252, 0))  # attOemCodepage
    if subject:
        out += _attr(1, 0x8004, 0x0001, subject.encode("cp1252") + b"\0")
    if body:
        out += _attr(1, 0x800C, 0x0002, body.encode("cp1252"))
    props = [_prop(0x0003, 0x3FDE, struct.pack("<I", 1252))]  # PR_INTERNET_CPID
    if rtf is not None:
        props.append(_prop(0x0102, 0x1009, compress_rtf(rtf)))
    # A named property, which the reader must step over.
    props.append(
        struct.pack("<HH", 0x0003, 0x8001) + bytes(16) + struct.pack("<II", 0, 7) + bytes(4)
    )
    out += _attr(1, 0x9003, 0x0006, _props(*props))
    for att in attachments:
        if att.as_property:
            mapi = _props(
                _prop(0x001F, 0x3707, (att.name + "\0").encode("utf-16-le")),
                _prop(0x0102, 0x3701, att.data),
            )
            out += _attr(2, 0x9005, 0x0006, mapi)
            continue
        out += _attr(2, 0x9002, 0x0006, struct.pack("<HIHHI", 1, 0xFFFFFFFF, 0, 0, 0))
        out += _attr(2, 0x8010, 0x0001, att.name[:8].encode("cp1252") + b"\0")
        if att.item is None:
            out += _attr(2, 0x800F, 0x0006, att.data)
            mapi = _props(_prop(0x001F, 0x3707, (att.name + "\0").encode("utf-16-le")))
        else:
            inner = make_tnef(
                subject=att.item.subject,
                body=att.item.body,
                attachments=[TnefAttachment(a.name, a.data) for a in att.item.attachments],
            )
            iid = bytes.fromhex("0703020000000000c000000000000046")
            mapi = _props(
                _prop(0x001F, 0x3001, (att.name + "\0").encode("utf-16-le")),
                _prop(0x000D, 0x3701, iid + inner),
            )
        out += _attr(2, 0x9005, 0x0006, mapi)
    if corrupt_checksum:
        out[-1] ^= 0xFF
    return bytes(out)
