"""The batch options of ``check``, ``scan``, ``affected`` and ``learn``, and the
progress bar; the work itself is done by :mod:`leakguard.batch`.

Each path on the command line becomes one or more items: a message file, a document
(``scan`` only), or every message of an mbox file, a Maildir folder, a PST file or a
directory tree. ``--jobs N`` checks them in N worker processes, ``--cluster`` on a Dask
cluster; results always come back in input order. A progress bar (count, rate, time
left) is drawn on standard error when it is a terminal, and nothing at all otherwise.
"""

from __future__ import annotations

import argparse
import errno
import sys
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from leakguard import batch
from leakguard.archives import ArchiveError, archive_kind
from leakguard.archives._fs import FsPath, Place, UrlError, place
from leakguard.cli._common import EXIT_INTERRUPTED, Result, lang, say, t
from leakguard.errors import LeakguardError
from leakguard.extract._types import Limits

if TYPE_CHECKING:
    from leakguard.core import Fingerprinter
    from leakguard.guard import Guard

__all__ = [
    "Checked",
    "add_batch_options",
    "add_jobs_option",
    "check_all",
    "cores",
    "file_error",
    "interrupted",
    "jobs_type",
    "progress_bar",
    "runs_on",
    "scan_all",
]

cores = batch.cores


@dataclass(frozen=True, slots=True)
class Checked:
    """A result with what the HTML report and ``affected`` need besides the verdict."""

    result: Result
    date: datetime | None = None
    recipients: tuple[str, ...] = ()


def add_batch_options(p: argparse.ArgumentParser, *, documents: bool) -> None:
    """The archive-aware ``PATH`` arguments, ``--jobs``, ``--cluster`` and ``--report``
    of check and scan."""
    p.add_argument(
        "paths",
        nargs="+",
        metavar=t("PATH", "CHEMIN"),
        help=t(
            "message or document, folder (every file in it; mbox, Maildir and PST "
            "expanded), mbox file, Maildir, PST file, or - for a message on standard input; "
            "or a URL (s3://, sftp://, file://...)",
            "message ou document, dossier (tous ses fichiers ; mbox, Maildir et PST "
            "dépliés), fichier mbox, Maildir, fichier PST, ou - pour un message sur "
            "l'entrée standard ; ou une URL (s3://, sftp://, file://...)",
        )
        if documents
        else t(
            ".eml file, mbox file, Maildir, PST file, folder (walked for all of these), "
            "or - for standard input; or a URL (s3://, sftp://, file://...)",
            "fichier .eml, fichier mbox, Maildir, fichier PST, dossier (parcouru pour "
            "tout cela), ou - pour l'entrée standard ; ou une URL (s3://, sftp://, file://...)",
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
    """``--jobs N`` (worker processes, one per core by default) or ``--cluster ADDRESS``
    (a Dask scheduler), and ``--shard-size N``."""
    where = p.add_mutually_exclusive_group()
    where.add_argument(
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
    where.add_argument(
        "--cluster",
        type=address_type,
        metavar="tcp://HOST:PORT",
        help=t(
            "run on a Dask cluster: the address of its scheduler; the workers read the "
            "paths themselves (shared storage, or URLs such as s3://...). Needs the extra "
            "leakguard[cluster]",
            "travailler sur une grappe Dask : l'adresse de son ordonnanceur ; les workers "
            "lisent eux-mêmes les chemins (stockage partagé, ou URL comme s3://...). "
            "Demande l'extension leakguard[cluster]",
        ),
    )
    p.add_argument(
        "--shard-size",
        type=jobs_type,
        default=None,
        metavar="N",
        help=t(
            f"messages per part handed to a worker (default: {batch.LOCAL_SHARD}, "
            f"{batch.CLUSTER_SHARD} on a cluster)",
            f"messages par part confiée à un worker (par défaut : {batch.LOCAL_SHARD}, "
            f"{batch.CLUSTER_SHARD} sur une grappe)",
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


def address_type(value: str) -> str:
    from leakguard.batch._engine import check_address

    try:
        return check_address(value)
    except LeakguardError as exc:
        raise argparse.ArgumentTypeError(exc.message(lang())) from None


def runs_on(args: argparse.Namespace) -> dict[str, Any]:
    """The executor options of :mod:`leakguard.batch` given on the command line."""
    cluster = getattr(args, "cluster", None)
    return {
        "jobs": None if cluster else (args.jobs or None),
        "cluster": cluster,
        "shard_size": getattr(args, "shard_size", None),
    }


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


def file_error(
    path: object, exc: OSError, en: str, fr: str, *, writing: bool = False
) -> LeakguardError:
    """``path: <en> (<why>).`` in English, the same in French, for a file the CLI needs
    (or, with ``writing``, writes)."""
    from leakguard.batch._shards import file_problem

    if writing and exc.errno == errno.ENOENT:
        why_en, why_fr = "its folder does not exist", "son dossier n'existe pas"
    else:
        problem = file_problem(exc, writing=writing)
        why_en, why_fr = problem.message("en"), problem.message("fr")
    return LeakguardError(f"{path}: {en} ({why_en}).", fr=f"{path} : {fr} ({why_fr}).")


def interrupted(en: str, fr: str) -> int:
    """After Ctrl-C: one line saying what was written, and the exit status 130."""
    say(t(f"interrupted (Ctrl-C): {en}", f"interrompu (Ctrl-C) : {fr}"))
    return EXIT_INTERRUPTED


def count(paths: Sequence[str]) -> int | None:
    """How many messages and files the paths hold, cheaply (for the progress bar)."""
    total = 0
    for raw in paths:
        try:
            p = place(raw)
        except UrlError:
            total += 1  # reported as one unreadable input
            continue
        try:
            if raw == "-" or not p.exists():
                total += 1
                continue
            if p.suffix.lower() in (".pst", ".ost"):
                return None  # counting PST items means opening the file: no total, no ETA
            if p.is_dir():
                for q in p.rglob("*"):
                    if q.is_file():
                        total += _count_file(q)
            else:
                total += _count_file(p)
        except (OSError, ArchiveError):
            return None
    return total


_BOM = b"\xef\xbb\xbf"


_SAMPLE = 1 << 20  # bytes read at the head of a remote mbox to guess its count


def _count_file(q: Place) -> int:
    if q.parent.name == "tmp":
        return 0
    if archive_kind(q) != "mbox":  # a byte-order mark before From, a .eml with one
        return 1
    with q.open("rb") as fh:
        if isinstance(q, FsPath):
            # Not read whole over the network: its size (fs.info) over the size of the
            # messages at its head.
            head = fh.read(_SAMPLE)
            if len(head) < _SAMPLE:
                return head.count(b"\nFrom ") + 1
            return max(1, q.size() * (head.count(b"\nFrom ") + 1) // len(head))
        return sum(1 for line in fh if line.removeprefix(_BOM).startswith(b"From "))


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
    bar = progress_bar(count(args.paths) if sys.stderr.isatty() else None)
    outcomes = batch.check(
        args.paths, guard=guard, progress=bar.update, lang=lang(), **runs_on(args)
    )
    with closing(outcomes):
        try:
            yield from map(_checked, outcomes)
        finally:
            bar.close()


def scan_all(fingerprinter: Fingerprinter, args: argparse.Namespace) -> Iterator[Checked]:
    """``scan`` every item of ``args.paths``, in input order."""
    bar = progress_bar(count(args.paths) if sys.stderr.isatty() else None)
    outcomes = batch.scan(
        args.paths,
        fingerprinter=fingerprinter,
        limits=limits_of(args),
        progress=bar.update,
        lang=lang(),
        **runs_on(args),
    )
    with closing(outcomes):
        try:
            yield from map(_checked, outcomes)
        finally:
            bar.close()


def _checked(o: batch.Outcome) -> Checked:
    return Checked(Result(o.source, o.verdict, o.findings, o.error), o.date, o.recipients)
