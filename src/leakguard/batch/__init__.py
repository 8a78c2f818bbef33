"""Check whole archives and folders, on this machine or on a Dask cluster.

    from leakguard import Guard
    from leakguard.batch import check

    guard = Guard.from_policy("policy.toml")
    for outcome in check(["Sent.mbox", "Maildir"], guard=guard, jobs=4):
        print(outcome.source, outcome.error or outcome.verdict.action.value)

    check(paths, guard=guard, cluster="tcp://scheduler:8786")  # on a Dask cluster

The inputs (mbox, Maildir, PST, folders, ``.eml`` files) are cut into *shards* that a
worker opens by itself: byte ranges of an mbox cut at ``From`` lines, lists of Maildir or
``.eml`` files, ranges of items of a PST folder. Shards run in local worker processes
(``jobs``), on a Dask cluster (``cluster``, the optional ``leakguard[cluster]`` extra;
the paths must be reachable from the workers) or on any ``concurrent.futures`` executor
(``executor``). An input may also be a URL that fsspec reads (``s3://bucket/Sent.mbox``,
``sftp://``, ``file://``; PST files excepted), read by the workers themselves.
Results come back in input order, whatever runs them; a message whose
worker died is checked again, and one that kills its worker every time is reported,
never dropped. :func:`check` and :func:`scan` give one :class:`Outcome` per message;
:func:`affected` reduces the identifiers sent to one recipient (see also
:func:`leakguard.learn.learn`, which runs here too).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from leakguard.batch._context import Context
from leakguard.batch._engine import (
    CLUSTER_SHARD,
    LOCAL_SHARD,
    ClusterError,
    Done,
    Interrupted,
    cores,
    run_task,
)
from leakguard.batch._shards import End, plan
from leakguard.batch._tasks import (
    AffectedPart,
    AffectedTask,
    CheckTask,
    Outcome,
    ScanTask,
    Value,
    ordered,
    recipients_of,
)
from leakguard.core import Fingerprinter, Lang

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from leakguard.extract._types import Limits
    from leakguard.guard import Guard

__all__ = [
    "CLUSTER_SHARD",
    "LOCAL_SHARD",
    "Affected",
    "ClusterError",
    "Interrupted",
    "Outcome",
    "Value",
    "affected",
    "check",
    "cores",
    "plan",
    "recipients_of",
    "scan",
]

Paths = Sequence[str | os.PathLike[str]]


def check(
    paths: Paths,
    /,
    *,
    guard: Guard | None = None,
    jobs: int | None = None,
    cluster: Any = None,
    executor: Executor | None = None,
    shard_size: int | None = None,
    progress: Callable[[int], object] | None = None,
    lang: Lang = "en",
) -> Generator[Outcome, None, None]:
    """``guard.check`` on every message of ``paths``, in input order.

    ``jobs``: local worker processes (default: one per core); ``cluster``: a Dask
    scheduler address (``tcp://host:8786``) or a ``distributed.Client``; ``executor``:
    any ``concurrent.futures.Executor``. ``shard_size``: messages per shard (default
    :data:`LOCAL_SHARD`, :data:`CLUSTER_SHARD` on a cluster). ``progress`` is called with
    the number of messages done as shards finish. An input that is not an e-mail, or
    that cannot be read, gives an outcome with ``error`` set (in ``lang``). Each message
    has the guard's time budget (``guard.limits.max_seconds``), wherever it runs.
    """
    from leakguard.guard import Guard

    guard = guard if guard is not None else Guard()
    context = Context(guard.fingerprinter, guard)
    done = run_task(
        CheckTask(lang),
        paths,
        context=context,
        reading="check",
        jobs=jobs,
        cluster=cluster,
        executor=executor,
        shard_size=shard_size,
        progress=progress,
    )
    yield from _outcomes(done, lang)


def scan(
    paths: Paths,
    /,
    *,
    fingerprinter: Fingerprinter | None = None,
    limits: Limits | None = None,
    jobs: int | None = None,
    cluster: Any = None,
    executor: Executor | None = None,
    shard_size: int | None = None,
    progress: Callable[[int], object] | None = None,
    lang: Lang = "en",
) -> Generator[Outcome, None, None]:
    """The content findings of every message and document of ``paths`` (a folder gives
    every file in it, archives expanded), in input order; ``limits`` bound each one
    (default :class:`~leakguard.extract.Limits`: past ``max_seconds`` what was not read
    is reported ``timeout``); other options as :func:`check`."""
    context = Context(fingerprinter or Fingerprinter())
    done = run_task(
        ScanTask(lang, limits),
        paths,
        context=context,
        reading="scan",
        jobs=jobs,
        cluster=cluster,
        executor=executor,
        shard_size=shard_size,
        progress=progress,
    )
    yield from _outcomes(done, lang)


def _outcomes(done: Iterator[Done], lang: Lang) -> Iterator[Outcome]:
    given = 0  # outcomes of the current input, to report an empty archive
    for d in done:
        if isinstance(d.shard, End):
            if not given and d.shard.kind is not None:
                yield Outcome(d.shard.source, error=d.shard.error().message(lang))
            given = 0
            continue
        assert d.result is not None
        given += len(d.result.outcomes)
        yield from d.result.outcomes


@dataclass(slots=True)
class Affected:
    """Whose data left: the identifier values found in the messages sent to a recipient
    or domain (:func:`affected`).

    ``values`` are in the order ``leakguard affected`` lists them (first date, kind,
    masked form); ``read`` counts the messages read, ``sent`` those that went to the
    recipient, ``with_identifiers`` those of them that carried identifiers; ``errors``
    the inputs and messages that could not be read. ``partial`` is true when the run
    was interrupted: the values are those of the messages read until then.
    """

    values: list[Value] = field(default_factory=list)
    read: int = 0
    sent: int = 0
    with_identifiers: int = 0
    errors: list[Outcome] = field(default_factory=list)
    partial: bool = False


def affected(
    paths: Paths,
    /,
    *,
    recipient: str | None = None,
    domain: str | None = None,
    since: date | None = None,
    fingerprinter: Fingerprinter | None = None,
    jobs: int | None = None,
    cluster: Any = None,
    executor: Executor | None = None,
    shard_size: int | None = None,
    progress: Callable[[int], object] | None = None,
    lang: Lang = "en",
) -> Affected:
    """The identifier values in the messages of ``paths`` sent (To, Cc, Bcc) to
    ``recipient``, or to anyone at ``domain`` or its sub-domains, dated on or after
    ``since`` (undated messages kept); with neither, every message. Each shard is
    reduced where it is read; the client merges per (kind, fingerprint). Options as
    :func:`check`. Ctrl-C raises :class:`Interrupted` holding the partial result."""
    task = AffectedTask(lang, recipient, domain, since)
    context = Context(fingerprinter or Fingerprinter())
    total = AffectedPart()
    errors: list[Outcome] = []
    given = 0
    try:
        for d in run_task(
            task,
            paths,
            context=context,
            reading="check",
            jobs=jobs,
            cluster=cluster,
            executor=executor,
            shard_size=shard_size,
            progress=progress,
        ):
            if isinstance(d.shard, End):
                if not given and d.shard.kind is not None:
                    errors.append(Outcome(d.shard.source, error=d.shard.error().message(lang)))
                given = 0
                continue
            assert d.result is not None
            given += d.result.read
            errors += d.result.outcomes
            if d.result.partial is not None:
                total.update(d.result.partial)
    except KeyboardInterrupt:
        raise Interrupted(_affected(total, errors, partial=True)) from None
    return _affected(total, errors, partial=False)


def _affected(total: AffectedPart, errors: list[Outcome], *, partial: bool) -> Affected:
    return Affected(
        ordered(total.values.values()),
        total.read,
        total.sent,
        total.with_identifiers,
        errors,
        partial,
    )
