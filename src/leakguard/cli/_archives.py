"""Archives as input to ``check`` and ``scan``: expansion, worker processes, progress bar.

Each path on the command line becomes one or more items: a message file, a document
(``scan`` only), or every message of an mbox file, a Maildir folder, a PST file or a
directory tree. ``--jobs N`` checks them in N worker processes; results always come
back in input order. A progress bar (count, rate, time left) is drawn on standard error
when it is a terminal, and nothing at all otherwise.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime
from itertools import chain, islice
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from leakguard.archives import ArchiveError, archive_kind, iter_messages
from leakguard.cli._common import Result, lang, readable, t
from leakguard.errors import LeakguardError
from leakguard.extract._types import Budget, Limits

if TYPE_CHECKING:
    from leakguard.core import Fingerprinter
    from leakguard.guard import Guard

__all__ = [
    "Checked",
    "Entry",
    "add_batch_options",
    "add_jobs_option",
    "check_all",
    "cores",
    "entries",
    "file_error",
    "jobs_type",
    "progress_bar",
    "recipients_of",
    "run_scan",
    "scan_all",
]

_ARCHIVES = frozenset({"mbox", "maildir", "pst"})


@dataclass(frozen=True, slots=True)
class Entry:
    """One thing to check: a message (``is_message``) or a document, with its bytes."""

    source: str
    data: bytes
    is_message: bool
    name: str = "stdin"
    date: datetime | None = None


@dataclass(frozen=True, slots=True)
class Checked:
    """A result with what the HTML report and ``affected`` need besides the verdict."""

    result: Result
    date: datetime | None = None
    recipients: tuple[str, ...] = ()


def add_batch_options(p: argparse.ArgumentParser, *, documents: bool) -> None:
    """The archive-aware ``PATH`` arguments, ``--jobs`` and ``--report`` of check and scan."""
    p.add_argument(
        "paths",
        nargs="+",
        metavar=t("PATH", "CHEMIN"),
        help=t(
            "message or document, folder (every file in it; mbox, Maildir and PST "
            "expanded), mbox file, Maildir, PST file, or - for a message on standard input",
            "message ou document, dossier (tous ses fichiers ; mbox, Maildir et PST "
            "dépliés), fichier mbox, Maildir, fichier PST, ou - pour un message sur "
            "l'entrée standard",
        )
        if documents
        else t(
            ".eml file, mbox file, Maildir, PST file, folder (walked for all of these), "
            "or - for standard input",
            "fichier .eml, fichier mbox, Maildir, fichier PST, dossier (parcouru pour "
            "tout cela), ou - pour l'entrée standard",
        ),
    )
    add_jobs_option(p)
    p.add_argument(
        "--time-budget",
        type=seconds_type,
        default=None,
        metavar=t("SECONDS", "SECONDES"),
        help=t(
            f"time one message or document may take (default: {Limits().max_seconds:g}); "
            "past it what was not read is reported (timeout)",
            f"durée permise pour un message ou un document (par défaut : "
            f"{Limits().max_seconds:g}) ; au-delà ce qui n'a pas été lu est signalé (timeout)",
        ),
    )
    p.add_argument(
        "--report",
        metavar=t("FILE.html", "FICHIER.html"),
        help=t(
            "also write a self-contained HTML report (masked values only)",
            "écrire aussi un rapport HTML autonome (valeurs masquées uniquement)",
        ),
    )


def add_jobs_option(p: argparse.ArgumentParser) -> None:
    """``--jobs N``: worker processes, one per core by default."""
    p.add_argument(
        "--jobs",
        "-j",
        type=jobs_type,
        default=0,
        metavar="N",
        help=t(
            "worker processes (default: one per core); results stay in input order",
            "processus de travail (par défaut : un par cœur) ; les résultats restent "
            "dans l'ordre des entrées",
        ),
    )


def jobs_type(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = -1
    if n < 1:
        raise argparse.ArgumentTypeError(
            t(
                f"expected a whole number ≥ 1, got {value!r}",
                f"nombre entier ≥ 1 attendu : {value!r}",
            )
        )
    return n


def seconds_type(value: str) -> float:
    try:
        n = float(value)
    except ValueError:
        n = -1.0
    if not 0 < n < float("inf"):
        raise argparse.ArgumentTypeError(
            t(
                f"expected a number of seconds > 0, got {value!r}",
                f"nombre de secondes > 0 attendu : {value!r}",
            )
        )
    return n


def limits_of(args: argparse.Namespace) -> Limits:
    """The limits of each message or document: ``--time-budget`` as their time."""
    budget = getattr(args, "time_budget", None)
    return Limits() if budget is None else Limits(max_seconds=budget)


def file_error(path: object, exc: OSError, en: str, fr: str) -> LeakguardError:
    """``path: <en> (<why>).`` in English, the same in French, for a file the CLI needs."""
    why = exc.strerror or type(exc).__name__
    return LeakguardError(f"{path}: {en} ({why}).", fr=f"{path} : {fr} ({why}).")


def cores() -> int:
    """The cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


# --------------------------------------------------------------------------- inputs


def entries(paths: Sequence[str], *, only_eml: bool) -> Iterator[Entry | Result]:
    """Every item the paths hold, in order, or a result saying why one could not be read.

    ``only_eml`` (``check``): a folder gives its ``.eml`` files and the archives in it.
    Otherwise (``scan``): a folder gives every file, archives expanded into messages.
    """
    for raw in paths:
        p = Path(raw)
        try:
            kind = archive_kind(p) if raw != "-" and p.exists() else None
        except ArchiveError as exc:
            yield Result(raw, error=exc.message(lang()))
            continue
        if kind in _ARCHIVES or (kind == "tree" and only_eml):
            found = False
            for item in _archive(raw):
                found = True
                yield item
            if not found:
                yield Result(raw, error=_empty(kind))
        elif kind == "tree":
            yield from _documents(p)
        else:
            yield _plain(raw)


def _empty(kind: str | None) -> str:
    if kind == "tree":
        return t("no file to check in this folder", "aucun fichier à vérifier dans ce dossier")
    return t("this archive holds no message", "cette archive ne contient aucun message")


def _archive(raw: str) -> Iterator[Entry | Result]:
    try:
        for m in iter_messages(raw):
            if m.error is not None:
                yield Result(m.source, error=m.error.message(lang()))
            else:
                yield Entry(m.source, m.data, True, date=m.date)
    except ArchiveError as exc:
        yield Result(raw, error=exc.message(lang()))


def _plain(raw: str) -> Entry | Result:
    """A single file (``-``: standard input): a message or, for ``scan``, a document."""
    got = readable(raw)
    if isinstance(got, Result):
        return got
    item, data = got
    path = item.path
    is_message = path is None or path.suffix.lower() in (".eml", ".msg822", ".mbox")
    return Entry(item.source, data, is_message, "stdin" if path is None else path.name)


def _documents(root: Path) -> Iterator[Entry | Result]:
    """``scan`` of a folder: every file; mbox, PST and Maildir messages one by one."""
    files = sorted(q for q in root.rglob("*") if q.is_file())
    if not files:
        yield Result(str(root), error=_empty("tree"))
    done: set[Path] = set()
    for q in files:
        box = _maildir_of(q, root)
        if box is not None:
            if box not in done:
                done.add(box)
                yield from _archive(str(box))
            continue
        try:
            kind = archive_kind(q)
        except ArchiveError as exc:
            yield Result(str(q), error=exc.message(lang()))
            continue
        if kind in _ARCHIVES:
            yield from _archive(str(q))
        else:
            yield _plain(str(q))


def _maildir_of(q: Path, root: Path) -> Path | None:
    """The outermost Maildir below ``root`` that holds file ``q`` (its messages, its
    Maildir++ sub-folders and its index files alike), or ``None``."""
    found = None
    for folder in q.parents:
        if folder == root:
            break
        if archive_kind(folder) == "maildir":
            found = folder
    return found


def count(paths: Sequence[str]) -> int | None:
    """How many messages and files the paths hold, cheaply (for the progress bar)."""
    total = 0
    for raw in paths:
        p = Path(raw)
        if raw == "-" or not p.exists():
            total += 1
            continue
        if p.suffix.lower() in (".pst", ".ost"):
            return None  # counting PST items means opening the file: no total, no ETA
        try:
            if p.is_dir():
                for q in p.rglob("*"):
                    if q.is_file():
                        total += _count_file(q)
            else:
                total += _count_file(p)
        except OSError:
            return None
    return total


def _count_file(q: Path) -> int:
    if q.parent.name == "tmp":
        return 0
    with q.open("rb") as fh:
        head = fh.read(5)
        if head != b"From ":
            return 1
        fh.seek(0)
        return sum(1 for line in fh if line.startswith(b"From "))


# --------------------------------------------------------------------------- workers

# The guard of a worker process: set before the workers are forked, so each inherits
# the parent's guard (policy, colleagues and fingerprint key) without pickling it.
_GUARD: Guard | None = None
_FINGERPRINTER: Fingerprinter | None = None
_LIMITS: Limits | None = None


def _check_one(item: Entry | Result) -> Checked:
    if isinstance(item, Result):
        return Checked(item)
    assert _GUARD is not None
    from leakguard.message import require_message

    try:
        # Not an e-mail (empty, binary, a document): a usage error for this input only.
        require_message(item.data)
        verdict = _GUARD.check(item.data, source=item.source)
    except LeakguardError as exc:
        return Checked(Result(item.source, error=exc.message(lang())), item.date)
    except Exception as exc:  # one bad input never costs the others their results
        return Checked(Result(item.source, error=_internal_error(exc)), item.date)
    return Checked(Result(item.source, verdict=verdict), item.date, recipients_of(item.data))


def _internal_error(exc: Exception) -> str:
    # The exception's text may quote the message: only its type is shown.
    name = type(exc).__name__
    return t(
        f"this message could not be checked (internal error {name}); please report it",
        f"ce message n'a pas pu être vérifié (erreur interne {name}) ; merci de la signaler",
    )


def _scan_one(item: Entry | Result) -> Checked:
    if isinstance(item, Result):
        return Checked(item)
    from leakguard.content import scan_chunks
    from leakguard.message import document_content, iter_content, load_message

    assert _FINGERPRINTER is not None
    limits = _LIMITS or Limits()
    try:
        # One time budget for reading and scanning the item (the scan reports the rest).
        budget = Budget(limits)
        if item.is_message:
            chunks = iter_content(load_message(item.data), budget=budget)
        else:
            chunks = document_content(item.data, name=item.name, limits=limits)
        report = scan_chunks(chunks, fingerprinter=_FINGERPRINTER, deadline=budget.until)
    except LeakguardError as exc:
        return Checked(Result(item.source, error=exc.message(lang())), item.date)
    recipients = recipients_of(item.data) if item.is_message else ()
    return Checked(Result(item.source, findings=tuple(report.findings)), item.date, recipients)


def recipients_of(data: bytes) -> tuple[str, ...]:
    """The To/Cc/Bcc addresses of a raw message, lower-cased, from its header block, read
    by the guard's own bounded reader (the same addresses the guard checked)."""
    from email.parser import BytesHeaderParser
    from email.policy import compat32

    from leakguard._headers import read_address_list

    end = data.find(b"\n\n")
    end2 = data.find(b"\r\n\r\n")
    cut = min(e for e in (end, end2, len(data)) if e >= 0)
    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(data[: cut + 2])
    except Exception:
        return ()
    room = Limits().max_header_chars
    found: list[str] = []
    for value in (str(v) for h in ("To", "Cc", "Bcc") for v in headers.get_all(h, [])):
        read = read_address_list(value, max_chars=max(room, 0))
        room -= len(value)
        found += [a for _, a in read.mailboxes] + list(read.tokens)
    return tuple(dict.fromkeys(a.strip().lower() for a in found if a.strip()))


_BATCH = 16  # items per task sent to a worker: fewer round trips
_AHEAD = 4  # batches in flight per worker: bounded memory, workers never idle


def _work_batch(
    work: Callable[[Entry | Result], Checked], batch: list[Entry | Result]
) -> list[Checked]:
    return [work(item) for item in batch]


def _lost(item: Entry | Result) -> Checked:
    """The result for a message whose worker process died (a crash in a native reader)."""
    if isinstance(item, Result):
        return Checked(item)
    why = t(
        "the worker process checking this message stopped unexpectedly",
        "le processus qui vérifiait ce message s'est arrêté de façon inattendue",
    )
    return Checked(Result(item.source, error=why))


def _run(
    work: Callable[[Entry | Result], Checked],
    items: Iterator[Entry | Result],
    jobs: int,
    total: int | None,
) -> Iterator[Checked]:
    """``work`` over ``items`` in ``jobs`` forked processes, results in input order.

    Items are read lazily, with at most ``jobs * _AHEAD`` batches in flight. When a
    worker dies, the messages that were in flight are checked again one by one in fresh
    workers: the one that kills its worker again is reported as an error, never dropped,
    and the others get their answer.
    """
    bar = progress_bar(total)
    try:
        head = list(islice(items, 2))
        stream = chain(head, items)
        can_fork = "fork" in multiprocessing.get_all_start_methods()
        if jobs <= 1 or len(head) < 2 or not can_fork:
            for item in stream:
                yield work(item)
                bar.update(1)
            return
        for done in _pooled(work, stream, jobs, multiprocessing.get_context("fork")):
            yield done
            bar.update(1)
    finally:
        bar.close()


def _pooled(
    work: Callable[[Entry | Result], Checked],
    stream: Iterator[Entry | Result],
    jobs: int,
    ctx: BaseContext,
) -> Iterator[Checked]:
    gc.freeze()  # what the workers inherit is never scanned nor copied by their collector
    pool = ProcessPoolExecutor(jobs, mp_context=ctx)
    pending: deque[tuple[list[Entry | Result], Future[list[Checked]]]] = deque()
    try:
        while True:
            batch = list(islice(stream, _BATCH))
            retry: list[Entry | Result] | None = None
            if batch:
                try:
                    pending.append((batch, pool.submit(_work_batch, work, batch)))
                except BrokenProcessPool:  # a worker died since the last look
                    retry = [item for b, _ in pending for item in b] + batch
            if retry is None and pending and (not batch or len(pending) >= jobs * _AHEAD):
                first, future = pending.popleft()
                try:
                    yield from future.result()
                except BrokenProcessPool:
                    retry = first + [item for b, _ in pending for item in b]
            if retry is not None:
                # Everything in flight died with the worker: check it again, one by one.
                pending.clear()
                pool.shutdown(wait=False, cancel_futures=True)
                pool = ProcessPoolExecutor(jobs, mp_context=ctx)
                for item in retry:
                    try:
                        yield from pool.submit(_work_batch, work, [item]).result()
                    except BrokenProcessPool:
                        yield _lost(item)
                        pool.shutdown(wait=False, cancel_futures=True)
                        pool = ProcessPoolExecutor(jobs, mp_context=ctx)
            elif not batch and not pending:
                return
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        gc.unfreeze()


class _Progress(Protocol):
    def update(self, n: int = 1) -> object: ...
    def close(self) -> None: ...


def progress_bar(total: int | None) -> _Progress:
    """A progress bar on standard error when it is a terminal (no ETA without ``total``),
    else one that draws nothing."""
    if not sys.stderr.isatty():
        return _Bar()
    from tqdm import tqdm

    bar: _Progress = tqdm(
        total=total, unit=" msg", file=sys.stderr, dynamic_ncols=True, leave=False
    )
    return bar


class _Bar:
    """The progress bar when standard error is not a terminal: does nothing."""

    def update(self, n: int = 1) -> None:
        return None

    def close(self) -> None:
        return None


def check_all(guard: Guard, args: argparse.Namespace) -> Iterator[Checked]:
    """``check`` every item of ``args.paths`` with ``guard``, in input order."""
    global _GUARD
    jobs = args.jobs or cores()
    total = count(args.paths) if sys.stderr.isatty() else None
    _GUARD = guard
    try:
        yield from _run(_check_one, entries(args.paths, only_eml=True), jobs, total)
    finally:
        _GUARD = None


def scan_all(fingerprinter: Fingerprinter, args: argparse.Namespace) -> Iterator[Checked]:
    """``scan`` every item of ``args.paths``, in input order."""
    total = count(args.paths) if sys.stderr.isatty() else None
    items = entries(args.paths, only_eml=False)
    yield from run_scan(fingerprinter, items, args.jobs or cores(), total, limits_of(args))


def run_scan(
    fingerprinter: Fingerprinter,
    items: Iterator[Entry | Result],
    jobs: int,
    total: int | None = None,
    limits: Limits | None = None,
) -> Iterator[Checked]:
    """The content findings of each item, in input order, with ``jobs`` processes."""
    global _FINGERPRINTER, _LIMITS
    _FINGERPRINTER, _LIMITS = fingerprinter, limits
    try:
        yield from _run(_scan_one, items, jobs, total)
    finally:
        _FINGERPRINTER, _LIMITS = None, None
