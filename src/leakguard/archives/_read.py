"""Readers for mbox files, Maildir folders, directory trees and (optionally) PST files."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Literal

from leakguard.archives._fs import FsPath, Place, UrlError, place
from leakguard.errors import InputError

__all__ = ["ArchiveError", "ArchiveKind", "ArchivedMessage", "archive_kind", "iter_messages"]

ArchiveKind = Literal["eml", "mbox", "maildir", "tree", "pst"]

_PST_MAGIC = b"!BDN"
_PST_SUFFIXES = frozenset({".pst", ".ost"})
_ID_JUNK = re.compile(r"[\s<>\x00-\x1f\x7f]+")
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_BOM = b"\xef\xbb\xbf"
_MESSAGE_SUFFIXES = frozenset({".eml", ".msg822"})


class ArchiveError(InputError):
    """An archive cannot be opened or read; the text names the file and what to do.

    An :class:`~leakguard.errors.InputError` (``code`` ``"input"``), in English and French.
    """


@dataclass(frozen=True, slots=True)
class ArchivedMessage:
    """One message of an archive.

    ``source`` names where it is, for a person: the file, then ``#`` and the message's
    position in it (from 1), then its Message-ID in angle brackets when it has one, for
    example ``Sent.mbox#12 <abc@clinic.example>``. A single ``.eml`` file is named by its
    path alone. ``data`` is the raw RFC 5322 message, as :meth:`Guard.check` reads it.
    ``date`` is the message's ``Date`` header (or, failing that, the date its archive
    recorded), timezone-aware, or ``None`` when neither can be read.

    ``error`` is set, and ``data`` empty, for a message the archive lists but that could
    not be taken out of it (a damaged PST item): it is reported, never skipped.
    """

    source: str
    data: bytes
    date: datetime | None
    error: ArchiveError | None = None

    def __repr__(self) -> str:
        return (
            f"ArchivedMessage(source={self.source!r}, size={len(self.data)}, "
            f"date={self.date.isoformat() if self.date else None!r})"
        )


# --------------------------------------------------------------------------- detection


def archive_kind(path: str | os.PathLike[str] | FsPath) -> ArchiveKind:
    """What ``path`` is: ``mbox``, ``maildir``, ``tree``, ``pst`` or a single ``eml``.

    A folder with ``cur`` and ``new`` sub-folders is a Maildir, any other folder a tree.
    A file is a PST when it has the PST signature, an mbox when it starts with a
    ``From`` line, else one message. A file named as one message (``.eml``) is one
    message whatever its first line: some programs save the envelope line with it.
    ``path`` may be a URL that fsspec reads (``s3://bucket/Sent.mbox``).
    """
    p = _as_place(path)
    if p.is_dir():
        return "maildir" if _is_maildir(p) else "tree"
    head = _head(p)
    if head.startswith(_PST_MAGIC) or (not head and p.suffix.lower() in _PST_SUFFIXES):
        return "pst"
    if _starts_mbox(head) and p.suffix.lower() not in _MESSAGE_SUFFIXES:
        return "mbox"
    return "eml"


def _starts_mbox(head: bytes) -> bool:
    """An mbox file starts with a ``From`` line (after a byte-order mark, if an editor
    wrote one)."""
    return head.removeprefix(_BOM).startswith(b"From ")


def _is_maildir(p: Place) -> bool:
    if isinstance(p, FsPath):
        # Object stores (S3...) keep no empty folder: one of the two is enough there.
        return (p / "cur").is_dir() or (p / "new").is_dir()
    return (p / "cur").is_dir() and (p / "new").is_dir()


def _head(p: Place) -> bytes:
    try:
        with p.open("rb") as fh:
            return fh.read(8)
    except OSError as exc:
        raise _unreadable(p, exc) from None


def _unreadable(p: Place | str, exc: OSError) -> ArchiveError:
    why = exc.strerror or type(exc).__name__
    return ArchiveError(
        f"{p}: cannot read this archive ({why}).",
        fr=f"{p} : impossible de lire cette archive ({why}).",
    )


# --------------------------------------------------------------------------- entry point


def iter_messages(path: str | os.PathLike[str]) -> Iterator[ArchivedMessage]:
    """Every message stored at ``path`` (mbox, Maildir, tree, PST or one ``.eml``), in order.

    ``path`` may be a URL that fsspec reads (``s3://``, ``sftp://``, ``file://``...; PST
    files excepted, which must be local). Raises :class:`ArchiveError` when ``path`` does
    not exist or cannot be read, and when it is a PST file but ``libpff-python`` is not
    installed; an :class:`~leakguard.errors.InputError` when a URL cannot be opened at all.
    """
    p = _as_place(os.fspath(path))
    if not p.exists():
        raise ArchiveError(
            f"{p}: no such file or folder.", fr=f"{p} : fichier ou dossier introuvable."
        )
    kind = archive_kind(p)
    if kind == "tree":
        yield from _tree(p)
    elif kind == "maildir":
        yield from _maildir(p)
    elif kind == "mbox":
        yield from _mbox(p)
    elif kind == "pst":
        yield from _pst(p)
    else:
        yield _eml(p)


# --------------------------------------------------------------------------- formats


#: A message file larger than this is not read: its parts could not all be read (they
#: are read up to 200 MB in all, and base64 takes a third more), and a mail parser holds
#: several times what it reads.
MAX_MESSAGE_BYTES = 300 * 1024 * 1024
_MB = 1024 * 1024


def file_size(p: Place) -> int:
    """The size of the file at ``p``, as its file system says."""
    return p.stat().st_size if isinstance(p, Path) else p.size()


def message_too_large(
    size: int, *, more: bool = False, document: bool = False
) -> InputError | None:
    """Why a message (or a ``document``) of ``size`` bytes (``more``: of more than that)
    is not read, or None when it is."""
    if size <= MAX_MESSAGE_BYTES:
        return None
    most = MAX_MESSAGE_BYTES // _MB
    en, fr = (f"more than {most}", f"plus de {most}") if more else (size // _MB, size // _MB)
    what_en, what_fr = ("a file", "un fichier") if document else ("a message", "un message")
    return InputError(
        f"too large to read: {en} MB ({what_en} is read up to {most} MB)",
        fr=f"trop gros pour être lu : {fr} Mo ({what_fr} est lu jusqu'à {most} Mo)",
    )


def _too_large(where: object, large: InputError) -> ArchiveError:
    return ArchiveError(f"{where}: {large.message('en')}.", fr=f"{where} : {large.message('fr')}.")


def _message_file(p: Place) -> bytes:
    """The bytes of the message file ``p``; :class:`ArchiveError` when it cannot be read
    or is too large to be."""
    try:
        large = message_too_large(file_size(p))
        data = p.read_bytes() if large is None else b""
    except OSError as exc:
        raise _unreadable(p, exc) from None
    if large is not None:
        raise _too_large(p, large)
    return data


def _eml(p: Place) -> ArchivedMessage:
    data = _message_file(p)
    _, date = _id_and_date(data)
    return ArchivedMessage(str(p), data, date)


def _tree(root: Place) -> Iterator[ArchivedMessage]:
    """``.eml`` files, mbox files, PST files and Maildirs below ``root``, in path order.

    A file or folder that cannot be read becomes an item with ``error`` set, and the
    walk goes on.
    """
    for found in walk_tree(root):
        if isinstance(found, ArchivedMessage):
            yield found
            continue
        kind, f = found
        if kind == "eml":
            try:
                item = _eml(f)
            except ArchiveError as exc:
                item = ArchivedMessage(str(f), b"", None, error=exc)
            yield item
        elif kind == "maildir":
            yield from _guarded(f, _maildir(f))
        elif kind == "mbox":
            yield from _guarded(f, _mbox(f))
        else:
            yield from _guarded(f, _pst(f))


def walk_tree(root: Place) -> Iterator[tuple[ArchiveKind, Place] | ArchivedMessage]:
    """What :func:`_tree` reads below ``root``, in path order, without reading it: each
    ``.eml`` file, mbox file, PST file and Maildir with its kind, or an item with
    ``error`` set for a file or folder that cannot be looked at."""
    try:
        entries = _listing(root)
    except OSError as exc:
        yield _failed(str(root), exc)
        return
    for f in entries:
        if f.is_dir():
            if _is_maildir(f):
                yield ("maildir", f)
            else:
                yield from walk_tree(f)
        elif f.suffix.lower() == ".eml":
            yield ("eml", f)
        else:
            try:
                head = _head(f)
            except ArchiveError as exc:
                yield ArchivedMessage(str(f), b"", None, error=exc)
                continue
            if _starts_mbox(head):
                yield ("mbox", f)
            elif head.startswith(_PST_MAGIC):
                yield ("pst", f)


def _guarded(where: Place, items: Iterator[ArchivedMessage]) -> Iterator[ArchivedMessage]:
    """The items of one archive inside a tree; an error ends that archive, not the walk."""
    try:
        yield from items
    except ArchiveError as exc:
        yield ArchivedMessage(str(where), b"", None, error=exc)


def _failed(where: str, exc: OSError) -> ArchivedMessage:
    return ArchivedMessage(where, b"", None, error=_unreadable(where, exc))


def _maildir(p: Place) -> Iterator[ArchivedMessage]:
    """A Maildir, then its Maildir++ sub-folders (``.Sent``, ``.Archives.2026``)."""
    for folder in maildir_folders(p):
        yield from _maildir_only(folder)


def maildir_folders(p: Place) -> list[Place]:
    """A Maildir and its Maildir++ sub-folders, in the order they are read."""
    return [p] + [
        sub for sub in _listing(p) if sub.name.startswith(".") and sub.is_dir() and _is_maildir(sub)
    ]


def _maildir_only(p: Place) -> Iterator[ArchivedMessage]:
    for number, f in enumerate(maildir_files(p), start=1):
        yield maildir_message(p, number, f)


def maildir_files(p: Place) -> list[Place]:
    """The message files of one Maildir folder (``new`` and ``cur``), in delivery order."""
    names: list[tuple[str, Place]] = []
    for part in ("new", "cur"):
        folder = p / part
        if isinstance(folder, FsPath) and not folder.exists():
            continue  # an empty folder an object store did not keep
        try:
            entries = _listing(folder)
        except OSError as exc:
            raise _unreadable(folder, exc) from None
        names.extend((f.name, f) for f in entries if not f.name.startswith(".") and f.is_file())
    # Maildir names start with the delivery time: sorting them is the delivery order.
    return [f for _, f in sorted(names, key=lambda e: (e[0], str(e[1])))]


def _listing(p: Place) -> list[Place]:
    """The files and folders in folder ``p``, in name order."""
    entries: list[Place] = [*p.iterdir()]
    entries.sort(key=str)
    return entries


def maildir_message(p: Place, number: int, f: Place) -> ArchivedMessage:
    """Message file ``f``, the ``number``-th of Maildir folder ``p``."""
    data = _message_file(f)
    message_id, date = _id_and_date(data)
    if date is None:
        date = _maildir_date(f.name)
    return ArchivedMessage(_source(p, number, message_id), data, date)


def _maildir_date(name: str) -> datetime | None:
    stamp = name.split(".", 1)[0]
    if stamp.isdigit() and 8 <= len(stamp) <= 11:
        return datetime.fromtimestamp(int(stamp), tz=UTC)
    return None


def _mbox(p: Place, start: int = 0, end: int | None = None) -> Iterator[ArchivedMessage]:
    """Split on ``From`` lines at the start of a line, as Python's ``mailbox`` does (a
    byte-order mark before the first one is dropped).

    The separator line is not part of the message; the blank line mbox writers put
    before each separator is removed. ``>From`` quoting is left as it is (it only ever
    touches lines that begin with ``From``).

    ``start`` and ``end`` read only that byte range, cut at ``From`` lines (a shard of a
    large mbox); messages are then numbered from the start of the range.
    """
    try:
        fh = p.open("rb")
    except OSError as exc:
        raise _unreadable(p, exc) from None
    with fh:
        number = 0
        lines: list[bytes] = []
        envelope: bytes | None = None
        # The bytes of the message being read; past the limit its lines are let go.
        held = 0
        # Whether its last line read is blank (a whole line, not a long line's end).
        blank = False
        # Whether the piece read last was of the separator line, not yet ended.
        separator = False
        try:
            if start:
                fh.seek(start)
            for count, (line, begins) in enumerate(_lines_upto(fh, end, start)):
                if count == 0 and not start:
                    line = line.removeprefix(_BOM)
                if begins and line.startswith(b"From "):
                    if envelope is not None:
                        number += 1
                        yield _mbox_message(p, number, envelope, lines, held, blank)
                    envelope, lines, held = line, [], 0
                    separator = not line.endswith(b"\n")
                elif separator and envelope is not None:
                    # The rest of a long separator line (only its start tells a date).
                    envelope += line[: max(0, _SEPARATOR_KEPT - len(envelope))]
                    separator = not line.endswith(b"\n")
                elif envelope is not None:
                    held += len(line)
                    blank = begins and line in (b"\n", b"\r\n")
                    if held <= MAX_MESSAGE_BYTES:
                        lines.append(line)
                    elif lines:
                        lines = []
        except OSError as exc:
            raise _unreadable(p, exc) from None
        if envelope is not None:
            number += 1
            yield _mbox_message(p, number, envelope, lines, held, blank)


# A line is read in pieces of at most this many bytes (a file without line breaks is no
# reason to hold it whole); of a separator line, this much is kept.
_LINE_PIECE = 1 << 20
_SEPARATOR_KEPT = 1024


def _lines_upto(fh: BinaryIO, end: int | None, start: int) -> Iterator[tuple[bytes, bool]]:
    """The lines of ``fh`` that start before ``end`` (to its end: ``None``), reading from
    ``start``; a long line in pieces, each with whether it begins a line."""
    size = None if end is None else end - start
    begins = True
    while piece := fh.readline(_LINE_PIECE):
        if begins and size is not None and size <= 0:
            return
        if size is not None:
            size -= len(piece)
        yield piece, begins
        begins = piece.endswith(b"\n")


def _mbox_message(
    p: Place, number: int, envelope: bytes, lines: list[bytes], size: int, blank: bool
) -> ArchivedMessage:
    """The message of ``lines`` (``size`` bytes, its last line ``blank`` or not)."""
    large = message_too_large(size)
    if large is not None:
        where = _source(p, number, None)
        error = _too_large(where, large)
        return ArchivedMessage(where, b"", _envelope_date(envelope), error=error)
    if lines and blank:
        lines = lines[:-1]
    data = b"".join(lines)
    message_id, date = _id_and_date(data)
    if date is None:
        date = _envelope_date(envelope)
    return ArchivedMessage(_source(p, number, message_id), data, date)


def _envelope_date(line: bytes) -> datetime | None:
    # "From sender@example Mon Nov 23 09:00:00 2026": the last five words are the date.
    words = line.decode("ascii", "replace").split()
    if len(words) < 7:
        return None
    try:
        return datetime.strptime(" ".join(words[-5:]), "%a %b %d %H:%M:%S %Y").replace(tzinfo=UTC)
    except ValueError:
        return None


# --------------------------------------------------------------------------- PST


def _pst(p: Place) -> Iterator[ArchivedMessage]:
    from leakguard.archives import _pst as pst

    if isinstance(p, FsPath):
        raise remote_pst(p)
    yield from pst.read(p)


def remote_pst(p: Place | None = None) -> ArchiveError:
    """The PST reader needs a local file: a PST named by URL is refused, saying so
    (after its name ``p``, or the reason alone, as reports put it after the input)."""
    en = "a PST file is read from a local or shared path, not a URL: copy it first"
    fr = "un fichier PST se lit depuis un chemin local ou partagé, pas une URL : copiez-le d'abord"
    if p is None:
        return ArchiveError(en, fr=fr)
    return ArchiveError(f"{p}: {en}.", fr=f"{p} : {fr}.")


def _as_place(path: str | os.PathLike[str] | FsPath) -> Place:
    if isinstance(path, FsPath | Path):
        return path
    raw = os.fspath(path)
    try:
        return place(raw)
    except UrlError as exc:
        raise exc.naming(raw) from None


# --------------------------------------------------------------------------- helpers


def _source(container: Place, number: int, message_id: str | None) -> str:
    base = f"{container}#{number}"
    return f"{base} <{message_id}>" if message_id else base


def _id_and_date(data: bytes) -> tuple[str | None, datetime | None]:
    """The Message-ID and Date of a raw message, reading its header block only."""
    # The mail parser only here: deciding what a path is and reading a document need none.
    from email.parser import BytesHeaderParser
    from email.policy import compat32

    end = _HEADER_END.search(data)
    head = data[: end.end()] if end else data
    headers = BytesHeaderParser(policy=compat32).parsebytes(head)
    return clean_message_id(headers.get("Message-ID")), parse_date(headers.get("Date"))


def clean_message_id(raw: object) -> str | None:
    """A Message-ID fit to print: no brackets, spaces or control characters, 200 at most."""
    if raw is None:
        return None
    value = _ID_JUNK.sub("", str(raw))[:200]
    return value or None


def parse_date(raw: object) -> datetime | None:
    """An RFC 5322 date as an aware datetime (UTC when the zone is missing), or ``None``."""
    if raw is None:
        return None
    from email.utils import parsedate_to_datetime

    try:
        value = parsedate_to_datetime(str(raw))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
