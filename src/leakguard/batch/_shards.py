"""Shards: small picklable descriptions of a part of the inputs that a worker opens and
reads by itself, and the planner that cuts the inputs into them.

An mbox is cut into byte ranges at ``From`` lines without being read (a few seeks), a
Maildir into lists of its files, a PST file into ranges of items of one folder, a folder
of ``.eml`` files or documents into lists of files. Reading a shard gives its items in
the order :func:`leakguard.archives.iter_messages` gives them.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal, cast

from leakguard._files import NotRegular
from leakguard.archives import ArchiveError, archive_kind
from leakguard.archives._fs import FsPath, Place, UrlError, place
from leakguard.archives._read import (
    MAX_MESSAGE_BYTES,
    ArchivedMessage,
    _eml,
    _mbox,
    _unreadable,
    file_size,
    maildir_files,
    maildir_folders,
    maildir_message,
    message_too_large,
    remote_pst,
    walk_tree,
)
from leakguard.errors import InputError, LeakguardError

if TYPE_CHECKING:
    # Imported where a PST file is read: it rebuilds messages with the mail package.
    from leakguard.archives import _pst as pst

__all__ = [
    "End",
    "Failed",
    "FileList",
    "Inline",
    "Item",
    "MaildirFiles",
    "MboxRange",
    "PstRange",
    "Reading",
    "Shard",
    "mbox_ranges",
    "plan",
]

#: How the inputs are read. ``check``: messages (a single file is a message, a folder is
#: walked for ``.eml`` files and archives). ``scan``: a folder gives every file, a file
#: that is not a message is a document. ``learn``: as ``check``, and a single file keeps
#: its date.
Reading = Literal["check", "scan", "learn"]

_ARCHIVES = frozenset({"mbox", "maildir", "pst"})
_MESSAGE_SUFFIXES = frozenset({".eml", ".msg822", ".mbox"})
_SAMPLE = 1 << 20  # bytes read at the head of an mbox to guess its message size
_SEEK_CHUNK = 1 << 16
_MIN_STEP = 4096  # bytes: no smaller ranges, however small the messages


@dataclass(frozen=True, slots=True)
class Item:
    """One message or document read from a shard, inside a worker.

    ``error`` is set (and ``data`` empty) for an item that could not be read.
    ``numbered`` is false for the error that ends an archive cut short: it takes no
    place in the archive's numbering.
    """

    source: str
    data: bytes
    date: datetime | None = None
    is_message: bool = True
    name: str = "stdin"
    error: LeakguardError | None = None
    numbered: bool = True


@dataclass(frozen=True, slots=True)
class MboxRange:
    """Bytes ``start`` to ``end`` (``None``: the end of the file) of an mbox; both cut at
    the start of a ``From`` line. Messages are numbered from the range's start; the
    engine adds the messages of the ranges before it."""

    path: str
    start: int = 0
    end: int | None = None

    def items(self) -> Iterator[Item]:
        try:
            for m in _mbox(place(self.path), self.start, self.end):
                yield _item(m)
        except (ArchiveError, UrlError) as exc:
            yield Item(self.path, b"", error=exc, numbered=False)


@dataclass(frozen=True, slots=True)
class MaildirFiles:
    """Message files of one Maildir folder; the first is message number ``first``."""

    folder: str
    first: int
    names: tuple[str, ...]

    def items(self) -> Iterator[Item]:
        try:
            folder = place(self.folder)
        except UrlError as exc:
            yield Item(self.folder, b"", error=exc, numbered=False)
            return
        for number, name in enumerate(self.names, start=self.first):
            try:
                yield _item(maildir_message(folder, number, folder / name))
            except ArchiveError as exc:
                yield Item(f"{self.folder}#{number}", b"", error=exc)


@dataclass(frozen=True, slots=True)
class PstRange:
    """Items of a PST file: one folder's range (``part``), or every item (``None``)."""

    path: str
    part: pst.PstPart | None = None

    def items(self) -> Iterator[Item]:
        from leakguard.archives import _pst as pst

        try:
            for m in pst.read(Path(self.path), self.part):
                yield _item(m)
        except ArchiveError as exc:
            yield Item(self.path, b"", error=exc, numbered=False)


@dataclass(frozen=True, slots=True)
class FileList:
    """Files read whole, each one item.

    ``how``: ``plain``, a message given on its own (named by its path, no date read);
    ``eml``, a message file found in a folder or given to ``learn`` (its ``Date`` read);
    ``document``, a message or, when its name does not say message, a document (scan).
    """

    paths: tuple[str, ...]
    how: Literal["plain", "eml", "document"] = "plain"

    def items(self) -> Iterator[Item]:
        for raw in self.paths:
            yield self._one(raw)

    def _one(self, raw: str) -> Item:
        try:
            path = place(raw)
        except UrlError as exc:
            return Item(raw, b"", error=exc)
        if self.how == "eml":
            try:
                return _item(_eml(path))
            except ArchiveError as exc:
                return Item(raw, b"", error=exc)
        is_message = self.how == "plain" or path.suffix.lower() in _MESSAGE_SUFFIXES
        try:
            if not path.is_file():
                why = not_regular(path) or _file_error(errno.ENOENT, None)
                return Item(raw, b"", error=why)
            # Past the limit a file is not read (its reader could not read it whole
            # under any limits a batch may be given); below it, a document past its
            # reader's limit is reported too large by the reader.
            large = message_too_large(file_size(path), document=not is_message)
            if large is not None:
                return Item(raw, b"", error=large)
            data = path.read_bytes()
        except OSError as exc:
            return Item(raw, b"", error=_file_error(exc.errno, exc))
        return Item(raw, data, is_message=is_message, name=path.name)


@dataclass(frozen=True, slots=True)
class Inline:
    """A message the client already holds (standard input): its bytes travel along."""

    source: str
    data: bytes
    is_message: bool = True

    def items(self) -> Iterator[Item]:
        yield Item(self.source, self.data, is_message=self.is_message)


Shard = MboxRange | MaildirFiles | PstRange | FileList | Inline


@dataclass(frozen=True, slots=True)
class Failed:
    """An input that could not be planned (missing, unreadable): reported, not read."""

    source: str
    error: LeakguardError


@dataclass(frozen=True, slots=True)
class End:
    """The end of one input. An archive or folder (``kind``) that gave nothing at all is
    reported; ``kind`` is ``None`` for other inputs."""

    source: str
    kind: str | None = None

    def error(self) -> InputError:
        if self.kind == "tree":
            return InputError(
                "no file to check in this folder", fr="aucun fichier à vérifier dans ce dossier"
            )
        return InputError(
            "this archive holds no message", fr="cette archive ne contient aucun message"
        )


def _item(m: ArchivedMessage) -> Item:
    return Item(m.source, m.data, m.date, error=m.error)


_FILE_ERRORS = {
    errno.ENOENT: ("no such file", "fichier introuvable"),
    errno.ENOTDIR: (
        "a part of the path is not a folder",
        "une partie du chemin n'est pas un dossier",
    ),
    errno.EACCES: ("permission denied", "accès refusé"),
    errno.EPERM: ("permission denied", "accès refusé"),
    errno.EISDIR: ("it is a folder, not a file", "c'est un dossier, pas un fichier"),
    errno.ENOSPC: ("the disk is full", "le disque est plein"),
    errno.EDQUOT: ("the disk quota is used up", "le quota disque est atteint"),
    errno.EFBIG: ("the file is too large", "le fichier est trop gros"),
    errno.EROFS: ("read-only file system", "système de fichiers en lecture seule"),
    errno.EIO: ("input/output error", "erreur d'entrée-sortie"),
}


# What a device, a pipe or a socket named as a file is, in English and French.
_NOT_REGULAR = (
    "not a regular file (a device, a pipe or a socket)",
    "ce n'est pas un fichier ordinaire (un périphérique, un tube ou une socket)",
)


def _file_error(code: int | None, exc: OSError | None, *, writing: bool = False) -> InputError:
    """Why a file could not be read (or written), in both languages."""
    if isinstance(exc, NotRegular):
        return InputError(_NOT_REGULAR[0], fr=_NOT_REGULAR[1])
    if code in _FILE_ERRORS:
        en, fr = _FILE_ERRORS[code]
        return InputError(en, fr=fr)
    why = (exc.strerror if exc else None) or (type(exc).__name__ if exc else "error")
    return InputError(why, fr="erreur d'écriture" if writing else "erreur de lecture")


def not_regular(p: Place) -> InputError | None:
    """Why ``p`` is not read when it is a device, a pipe or a socket (reading one may
    never end: ``/dev/zero``, a named pipe nobody writes to); None for a file, a folder,
    or nothing there."""
    if not isinstance(p, Path):
        return None  # a store behind a URL holds files and folders only
    try:
        mode = p.stat().st_mode
    except OSError:
        return None  # said when it is read
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return InputError(
        f"{_NOT_REGULAR[0]}; for what a program writes, give `-` and pipe it to standard input",
        fr=f"{_NOT_REGULAR[1]} ; pour ce qu'écrit un programme, indiquez `-` et envoyez-le "
        "sur l'entrée standard",
    )


def file_problem(exc: OSError, *, writing: bool = False) -> InputError:
    """Why a file could not be read (``no such file``, ``permission denied``...), or with
    ``writing`` written, in English and French."""
    return _file_error(exc.errno, exc, writing=writing)


# --------------------------------------------------------------------------- planning


def plan(
    paths: Sequence[str | os.PathLike[str]], /, *, reading: Reading = "check", size: int = 4
) -> Iterator[Shard | Failed | End]:
    """The shards of ``paths``, in input order, of about ``size`` messages each.

    Lazy: a folder is walked and an mbox cut as the shards are asked for, so a large
    input starts being read at once. Reading every shard in order gives the items
    :func:`leakguard.archives.iter_messages` gives, in the same order.
    """
    if size < 1:
        raise ValueError("size must be at least 1")
    for path in paths:
        raw = os.fspath(path)
        yield from _input(raw, reading, size)


def _input(raw: str, reading: Reading, size: int) -> Iterator[Shard | Failed | End]:
    if raw == "-" and reading != "learn":
        yield _stdin()
        yield End(raw)
        return
    try:
        p = place(raw)
        there = p.exists()
    except UrlError as exc:
        yield Failed(raw, exc)
        yield End(raw)
        return
    except OSError as exc:  # a remote store that cannot be asked (network, rights)
        yield Failed(raw, file_problem(exc))
        yield End(raw)
        return
    if not there:
        yield Failed(raw, _file_error(errno.ENOENT, None))
        yield End(raw)
        return
    special = not_regular(p)
    if special is not None:
        yield Failed(raw, special)
        yield End(raw)
        return
    try:
        kind = archive_kind(p)
    except OSError as exc:
        yield Failed(raw, file_problem(exc))
        yield End(raw)
        return
    except ArchiveError as exc:
        yield Failed(raw, exc)
        yield End(raw)
        return
    if kind in _ARCHIVES or (kind == "tree" and reading != "scan"):
        yield from _archive(p, kind, size)
        yield End(raw, kind)
    elif kind == "tree":
        yield from _documents(p, size)
        yield End(raw)
    else:
        how: Literal["plain", "eml", "document"] = (
            "eml" if reading == "learn" else "document" if reading == "scan" else "plain"
        )
        yield FileList((raw,), how)
        yield End(raw)


def _stdin() -> Inline | Failed:
    try:
        data = sys.stdin.buffer.read(MAX_MESSAGE_BYTES + 1)
    except OSError as exc:
        return Failed("-", file_problem(exc))
    large = message_too_large(len(data), more=True)
    if large is not None:
        # What is past the limit is not read: a message that large is not judged.
        return Failed("-", large)
    return Inline("-", data, is_message=True)


def _archive(p: Place, kind: str, size: int) -> Iterator[Shard | Failed]:
    if kind == "mbox":
        yield from _mbox_ranges(p, size)
    elif kind == "maildir":
        yield from _maildir(p, size)
    elif kind == "pst":
        yield from _pst_ranges(p, size)
    else:
        yield from _tree(p, size)


def _tree(root: Place, size: int) -> Iterator[Shard | Failed]:
    """A folder as :func:`leakguard.archives.iter_messages` reads it: ``.eml`` files in
    runs of ``size``, archives cut into shards of their own."""
    run: list[str] = []
    for found in walk_tree(root):
        if isinstance(found, ArchivedMessage):
            yield from _flush(run, "eml")
            assert found.error is not None
            yield Failed(found.source, found.error)
        elif found[0] == "eml":
            run.append(str(found[1]))
            if len(run) == size:
                yield from _flush(run, "eml")
        else:
            yield from _flush(run, "eml")
            yield from _archive(found[1], found[0], size)
    yield from _flush(run, "eml")


def _documents(root: Place, size: int) -> Iterator[Shard | Failed]:
    """``scan`` of a folder: every file, in path order; mbox, PST and Maildir messages
    one by one, other files as documents in runs of ``size``."""
    files: list[Place] = [q for q in root.rglob("*") if q.is_file()]
    files.sort(key=str)
    if not files:
        yield Failed(str(root), End(str(root), "tree").error())
        return
    done: set[Place] = set()
    run: list[str] = []
    for q in files:
        box = _maildir_of(q, root)
        if box is None:
            try:
                kind = archive_kind(q)
            except ArchiveError as exc:
                yield from _flush(run, "document")
                yield Failed(str(q), exc)
                continue
            if kind not in _ARCHIVES:
                run.append(str(q))
                if len(run) == size:
                    yield from _flush(run, "document")
                continue
        yield from _flush(run, "document")
        if box is None:
            yield from _archive(q, kind, size)
        elif box not in done:
            done.add(box)
            yield from _maildir(box, size)
    yield from _flush(run, "document")


def _flush(run: list[str], how: Literal["eml", "document"]) -> Iterator[FileList]:
    """The files gathered so far as one shard; ``run`` is emptied."""
    if run:
        yield FileList(tuple(run), how)
        run.clear()


def _maildir_of(q: Place, root: Place) -> Place | None:
    """The outermost Maildir below ``root`` that holds file ``q`` (its messages, its
    Maildir++ sub-folders and its index files alike), or ``None``."""
    found = None
    for folder in q.parents:
        if folder == root:
            break
        if archive_kind(folder) == "maildir":
            found = folder
    return found


def _maildir(p: Place, size: int) -> Iterator[MaildirFiles | Failed]:
    try:
        for folder in maildir_folders(p):
            names = [_below(f, folder) for f in maildir_files(folder)]
            for first in range(0, len(names), size):
                yield MaildirFiles(str(folder), first + 1, tuple(names[first : first + size]))
    except ArchiveError as exc:
        yield Failed(str(p), exc)


def _below(f: Place, folder: Place) -> str:
    """The name of ``f`` inside ``folder`` (``cur/1700000000.x``)."""
    if isinstance(f, FsPath) and isinstance(folder, FsPath):
        return f.relative_to(folder)
    assert isinstance(f, Path) and isinstance(folder, Path)
    return str(f.relative_to(folder))


def _pst_ranges(p: Place, size: int) -> Iterator[PstRange | Failed]:
    from leakguard.archives import _pst as pst

    if isinstance(p, FsPath):  # the PST reader opens local files only
        yield Failed(str(p), remote_pst())
        return
    try:
        import pypff  # noqa: F401
    except ImportError:
        # Read whole where the extra is installed; elsewhere the worker names the extra.
        yield PstRange(str(p))
        return
    try:
        counts = list(pst.folders(p))
    except ArchiveError as exc:
        yield Failed(str(p), exc)
        return
    number = 1
    for folder, n in counts:
        if isinstance(n, str):  # a damaged place in the folder tree: one item, reported
            m = pst.damaged(p, number, n)
            assert m.error is not None
            yield Failed(m.source, m.error)
            number += 1
            continue
        for start in range(0, n, size):
            stop = min(n, start + size)
            yield PstRange(str(p), pst.PstPart(folder, start, stop, number + start))
        number += n


def _mbox_ranges(p: Place, size: int) -> Iterator[MboxRange | Failed]:
    """Byte ranges of about ``size`` messages each, the message size guessed from the
    first megabyte."""
    try:
        with p.open("rb") as fh:
            head = fh.read(_SAMPLE)
    except OSError as exc:
        yield Failed(str(p), _unreadable(p, exc))
        return
    separators = head.count(b"\nFrom ") + 1
    yield from mbox_ranges(p, max(_MIN_STEP, len(head) * size // separators))


def mbox_ranges(path: str | os.PathLike[str] | FsPath, step: int) -> Iterator[MboxRange | Failed]:
    """An mbox cut into ranges of about ``step`` bytes, where a line starts with ``From``.

    Each cut is found by seeking ``step`` bytes on and reading to the next ``From``
    line, so the file is read only around the cuts. The readers split at every line
    that starts with ``From`` (``>From`` is quoting, never a separator), so a cut there
    never falls inside a message, wherever the guessed offset landed.
    """
    p = path if isinstance(path, FsPath) else place(os.fspath(path))
    start = 0
    try:
        with _open_for_cuts(p) as fh:
            total = fh.seek(0, os.SEEK_END)
            while start + step < total:
                cut = _next_from(fh, start + step)
                if cut is None:
                    break
                yield MboxRange(str(p), start, cut)
                start = cut
    except OSError as exc:
        yield Failed(str(p), _unreadable(p, exc))
        return
    yield MboxRange(str(p), start, None)


def _open_for_cuts(p: Place) -> BinaryIO:
    """``p`` opened to look around a few offsets: on a remote store, in small blocks, so
    that each cut costs a few kilobytes, not the store's large read-ahead."""
    if isinstance(p, FsPath):
        return cast(BinaryIO, p.fs.open(p.path, "rb", block_size=_SEEK_CHUNK))
    return p.open("rb")


def _next_from(fh: BinaryIO, offset: int) -> int | None:
    """The first position at or after ``offset`` where a line starts with ``From``."""
    fh.seek(offset - 1)
    carry = b""
    base = offset - 1
    want = _MIN_STEP  # most messages are small: look a little way first, then further
    while True:
        chunk = fh.read(want)
        want = min(2 * want, _SEEK_CHUNK)
        if not chunk:
            return None
        data = carry + chunk
        at = data.find(b"\nFrom ")
        if at >= 0:
            return base + at + 1
        keep = min(len(data), 5)
        base += len(data) - keep
        carry = data[len(data) - keep :]
