"""ZIP, tar, gzip, bzip2 and xz archives, read member by member under the message's
limits.

Members are decompressed in small blocks and abandoned as soon as they pass the size or
compression-ratio cap, so a zip bomb costs a few megabytes and milliseconds. Office and
OpenDocument readers open their containers through :func:`open_zip` and
:func:`read_member` too.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from typing import Protocol

from leakguard.core import Location
from leakguard.extract._common import (
    Context,
    Item,
    Unreadable,
    inner_items,
    name_items,
    text_items,
)
from leakguard.extract._types import Budget, Problem
from leakguard.extract.encryption import (
    member_data_offset,
    zip_member_clear,
    zip_member_encrypted,
)

__all__ = [
    "open_zip",
    "read_compressed",
    "read_gzip",
    "read_member",
    "read_member_checked",
    "read_tar",
    "read_zip",
]

_BLOCK = 1024 * 1024
# Below this decompressed size the ratio is not judged: a small file of blanks may
# legitimately shrink a thousandfold.
_RATIO_FLOOR = 1024 * 1024
# A central directory announcing this many times the member limit is refused before
# being parsed (parsing it would itself cost memory).
_MEMBER_SLACK = 10


def _declared_entries(data: bytes) -> int | None:
    """Entry count from the end-of-central-directory record, without parsing the rest."""
    tail = data[-(65535 + 22) :]
    i = tail.rfind(b"PK\x05\x06")
    if i < 0 or len(tail) - i < 22:
        return None
    total = int.from_bytes(tail[i + 10 : i + 12], "little")
    if total == 0xFFFF:
        j = tail.rfind(b"PK\x06\x06", 0, i)
        if j >= 0 and i - j >= 56:
            total = int.from_bytes(tail[j + 32 : j + 40], "little")
    return total


def open_zip(data: bytes, budget: Budget) -> zipfile.ZipFile:
    """Open a ZIP held in memory; :class:`Unreadable` when it cannot or should not be."""
    declared = _declared_entries(data)
    if declared is not None and declared > budget.limits.max_members * _MEMBER_SLACK:
        raise Unreadable("too_many_members")
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise Unreadable("corrupt") from None


def _cap(budget: Budget) -> int:
    limits = budget.limits
    return max(0, min(limits.max_part_bytes, limits.max_total_bytes - budget.bytes_used))


def _check_ratio(produced: int, compressed: int, budget: Budget) -> None:
    if produced > _RATIO_FLOOR and produced > budget.limits.max_ratio * max(compressed, 1):
        raise Unreadable("compression_ratio")


class _Stream(Protocol):
    """A decompressing stream (a ZIP member, a gzip file)."""

    def read(self, size: int, /) -> bytes: ...


def read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, budget: Budget) -> bytes:
    """The decompressed bytes of one member, within the part, total, ratio and time limits.

    The sizes written in the archive are checked first but not trusted: the stream is
    measured as it is inflated, and a deflated member is read to the end of its deflate
    stream whatever its headers say (see :func:`read_member_checked`).
    """
    return read_member_checked(zf, info, budget)[0]


def read_member_checked(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, budget: Budget
) -> tuple[bytes, bool]:
    """A member's bytes, and whether its headers lied about them (size, compressed size
    or CRC): a deflated member is inflated from its local header to the end of the
    deflate stream, as unzip reads it, not cut where the headers say it ends."""
    if zip_member_encrypted(info):
        raise Unreadable("encrypted", "zip")
    _check_ratio(info.file_size, info.compress_size, budget)
    cap = _cap(budget)
    if info.file_size > cap:
        raise Unreadable("too_large")
    archive = _archive_bytes(zf)
    start = member_data_offset(archive, info) if archive is not None else None
    if info.compress_type == zipfile.ZIP_DEFLATED and archive is not None and start is not None:
        return _inflate_raw(archive, start, info, budget)
    try:
        with zf.open(info) as stream:
            return _inflate(stream, info.compress_size, budget), False
    except Unreadable:
        raise
    except NotImplementedError:
        raise Unreadable("unsupported") from None
    except Exception:
        raise Unreadable("corrupt") from None


def _archive_bytes(zf: zipfile.ZipFile) -> memoryview | None:
    handle = zf.fp
    return handle.getbuffer() if isinstance(handle, io.BytesIO) else None


def _inflate_raw(
    archive: memoryview, start: int, info: zipfile.ZipInfo, budget: Budget
) -> tuple[bytes, bool]:
    cap = _cap(budget)
    inflater = zlib.decompressobj(-15)
    blocks: list[bytes] = []
    produced = 0
    pos = start
    pending: bytes | memoryview = b""
    damaged = False
    while not inflater.eof:
        if budget.expired():
            raise Unreadable("timeout")
        if not pending:
            if pos >= len(archive):
                damaged = True  # the stream breaks off with the archive
                break
            pending = archive[pos : pos + _BLOCK]
            pos += len(pending)
        try:
            block = inflater.decompress(pending, _BLOCK)
        except zlib.error:
            if not produced:
                raise Unreadable("corrupt") from None
            damaged = True
            break
        pending = inflater.unconsumed_tail
        produced += len(block)
        _check_ratio(produced, pos - start - len(pending), budget)
        if produced > cap:
            raise Unreadable("too_large")
        blocks.append(block)
    content = b"".join(blocks)
    budget.take_bytes(produced)
    consumed = pos - start - len(pending) - len(inflater.unused_data)
    lied = (
        len(content) != info.file_size
        or consumed != info.compress_size
        or zlib.crc32(content) & 0xFFFFFFFF != info.CRC
    )
    return content, damaged or lied


def _inflate(stream: _Stream, compressed: int, budget: Budget) -> bytes:
    """A decompressing stream read to its end in blocks, stopped at the first limit passed."""
    cap = _cap(budget)
    blocks: list[bytes] = []
    produced = 0
    while True:
        if budget.expired():
            raise Unreadable("timeout")
        block = stream.read(_BLOCK)
        if not block:
            break
        produced += len(block)
        _check_ratio(produced, compressed, budget)
        if produced > cap:
            raise Unreadable("too_large")
        blocks.append(block)
    budget.take_bytes(produced)
    return b"".join(blocks)


def read_zip(data: bytes, location: Location, ctx: Context) -> Iterator[Item]:
    """Every member of a ZIP archive, each read as the document it is."""

    budget = ctx.budget
    zf = open_zip(data, budget)
    with zf:
        # The archive's comment, which archive tools print first.
        yield from text_items(_comment_text(zf.comment), location, budget)
        members = [info for info in zf.infolist() if not info.is_dir()]
        told_encrypted = False
        for count, info in enumerate(members):
            if count >= budget.limits.max_members:
                yield Problem(location, "too_many_members")
                return
            if budget.expired():
                yield Problem(location, "timeout")
                return
            where = location.child(info.filename)
            yield from text_items(_comment_text(info.comment), where, budget)
            if zip_member_encrypted(info):
                clear = zip_member_clear(data, info, limit=_cap(budget))
                if clear is None:
                    # One report for the archive: the protection check wants to know it
                    # is encrypted, and a hundred identical lines would help nobody.
                    if not told_encrypted:
                        told_encrypted = True
                        yield Problem(location, "encrypted", "zip")
                    # Its name is not encrypted: it travels in clear, and is read.
                    yield from name_items(info.filename, where, budget)
                    continue
                # Flagged encrypted, stored in clear: the flag lies, the bytes are read.
                yield Problem(where, "mislabelled", "zip")
                budget.take_bytes(len(clear))
                content = clear
            else:
                try:
                    content, lied = read_member_checked(zf, info, budget)
                except Unreadable as err:
                    yield Problem(where, err.reason, err.container)
                    continue
                if lied:
                    # Read in full all the same; its headers do not match what it holds.
                    yield Problem(where, "corrupt")
            yield from inner_items(content, where, ctx, info.filename)


def _comment_text(comment: bytes) -> str:
    """A ZIP comment as archive tools show it: UTF-8 when it is, else code page 437."""
    if not comment:
        return ""
    try:
        return comment.decode("utf-8")
    except UnicodeDecodeError:
        return comment.decode("cp437")


def read_gzip(data: bytes, location: Location, ctx: Context) -> Iterator[Item]:
    """A gzip file: its one decompressed document, read at the same location."""
    yield from read_compressed("gzip", data, location, ctx)


def _decompressor(family: str, data: bytes) -> gzip.GzipFile | bz2.BZ2File | lzma.LZMAFile:
    source = io.BytesIO(data)
    if family == "gzip":
        return gzip.GzipFile(fileobj=source)
    if family == "bzip2":
        return bz2.BZ2File(source)
    return lzma.LZMAFile(source)


# The names of a compressed file and of what it holds.
_SUFFIXES = {
    "gzip": (".gz", ".tgz"),
    "bzip2": (".bz2", ".tbz2", ".tbz"),
    "xz": (".xz", ".txz"),
}


def read_compressed(family: str, data: bytes, location: Location, ctx: Context) -> Iterator[Item]:
    """A gzip, bzip2 or xz file: its one decompressed document, read at the same
    location, inflated in blocks under the size and ratio caps."""

    budget = ctx.budget
    suffixes = _SUFFIXES[family]
    try:
        with _decompressor(family, data) as stream:
            content = _inflate(stream, len(data), budget)
    except Unreadable:
        raise
    except Exception:
        raise Unreadable("corrupt") from None
    inner = ctx.filename or ""
    for suffix in suffixes:
        if inner.lower().endswith(suffix):
            inner = inner[: -len(suffix)] + (".tar" if suffix.startswith(".t") else "")
            break
    yield from inner_items(content, location, ctx, inner or None)


def read_tar(data: bytes, location: Location, ctx: Context) -> Iterator[Item]:
    """Every file of a tar archive, each read as the document it is. A tar is not
    compressed: its members are slices of bytes already counted."""

    budget = ctx.budget
    try:
        archive = tarfile.TarFile(fileobj=io.BytesIO(data), mode="r")
    except (tarfile.TarError, OSError, ValueError, EOFError):
        raise Unreadable("corrupt") from None
    with archive:
        count = 0
        while True:
            try:
                info = archive.next()
            except (tarfile.TarError, OSError, ValueError, EOFError):
                yield Problem(location, "corrupt")
                return
            if info is None:
                return
            if budget.expired():
                yield Problem(location, "timeout")
                return
            if not info.isfile():
                continue
            if count >= budget.limits.max_members:
                yield Problem(location, "too_many_members")
                return
            count += 1
            where = location.child(info.name)
            if info.size > _cap(budget):
                yield Problem(where, "too_large")
                continue
            stream = archive.extractfile(info)
            content = stream.read() if stream is not None else b""
            if len(content) < info.size:
                yield Problem(where, "corrupt")
            yield from inner_items(content, where, ctx, info.name)
