"""The batch engine: shards go to an executor, results come back in input order.

A bounded number of shards is in flight at once; results are put back in input order
(so two runs print the same thing whatever the number of workers) and the messages of an
mbox cut into ranges are numbered as one file. A shard whose worker died is run again;
one that kills its worker every time is checked one message at a time, and the message
that still kills it is reported as such: nothing is lost, nothing is counted twice.
"""

from __future__ import annotations

import contextlib
import gc
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from itertools import chain
from typing import TYPE_CHECKING, Any, Protocol, cast

from leakguard import _child
from leakguard.batch._context import Context, ContextRef, Recipe, install, new_token, uninstall
from leakguard.batch._shards import End, Failed, MboxRange, Reading, Shard, plan
from leakguard.batch._tasks import Outcome, ShardResult, Task, execute, listing
from leakguard.core import Lang
from leakguard.errors import LeakguardError

if TYPE_CHECKING:
    # Loaded by the backends that run work elsewhere: one file read in this process
    # (``Inline``) needs no futures from the standard library.
    from concurrent.futures import Executor, Future, ProcessPoolExecutor

__all__ = [
    "Backend",
    "ClusterError",
    "Done",
    "ExecutorBackend",
    "Inline",
    "Interrupted",
    "Pending",
    "Processes",
    "Ran",
    "check_address",
    "cores",
    "dask_backend",
    "run_task",
    "stream",
]

_AHEAD = 4  # shards in flight per worker: bounded memory, workers never idle
_POLL = 0.2  # seconds between looks at the futures: Ctrl-C is noticed at once
_STALL_POLL = 5.0  # seconds without a result before asking whether work can go on


class Pending(Protocol):
    """A call handed to a backend: a ``concurrent.futures.Future``, or a call already
    made in this process (:class:`Ran`)."""

    def done(self) -> bool: ...

    def result(self, timeout: float | None = None) -> Any: ...

    def cancel(self) -> bool: ...


class Backend(Protocol):
    """Where shards run: this process, local worker processes, or a cluster."""

    #: How many shards run at once.
    slots: int
    #: How tasks find the context in their worker.
    ref: ContextRef
    #: True when a dead worker takes every shard in flight with it (a local pool):
    #: those are then run again one at a time to find the one at fault.
    isolate: bool

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Pending: ...

    def lost(self, exc: BaseException) -> bool:
        """Whether ``exc`` says the task's worker died (rather than the task failing)."""
        ...

    def renew(self) -> None:
        """Ready to run again after a worker died."""
        ...

    def stalled(self, lang: Lang) -> str | None:
        """Why nothing can run any more (every worker of a cluster gone for a while), in
        ``lang``; ``None`` while work can go on. Asked when nothing finished for a while."""
        ...

    def close(self, *, cancel: bool) -> None: ...


@dataclass(frozen=True, slots=True)
class Done:
    """A planned shard and what it gave; ``result`` is ``None`` for an :class:`End`
    marker (the caller reports the input if nothing came from it)."""

    shard: Shard | Failed | End
    result: ShardResult | None


class ClusterError(LeakguardError):
    """The cluster cannot be used: the extra is not installed, the scheduler is out of
    reach, no worker joined, or the workers run another version of leakguard."""

    code = "cluster"


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a batch run that reduces its results: ``result`` holds what was
    finished (marked ``partial``). Caught as any ``KeyboardInterrupt``."""

    def __init__(self, result: Any) -> None:
        super().__init__()
        self.result = result


_ADDRESS = re.compile(
    r"(?:(?:tcp|tls|ws|wss|ucx)://)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9._-]*)(?::\d{1,5})?"
)


def check_address(address: str) -> str:
    """``address`` when it is a scheduler address (``tcp://HOST:PORT``), else a
    :class:`ClusterError` saying what is expected."""
    if not _ADDRESS.fullmatch(address):
        raise ClusterError(
            f"{address!r} is not the address of a Dask scheduler; expected tcp://HOST:PORT "
            "(tls://, ws:// and wss:// too).",
            fr=f"{address!r} n'est pas l'adresse d'un ordonnanceur Dask ; attendu : "
            "tcp://HÔTE:PORT (ou tls://, ws://, wss://).",
        )
    return address


def dask_backend(cluster: Any, token: str, recipe: Recipe) -> Backend:
    """The Dask backend, or a :class:`ClusterError` naming the extra to install."""
    if isinstance(cluster, str):
        check_address(cluster)
    try:
        from leakguard.batch._cluster import DaskCluster
    except ImportError:
        raise ClusterError(
            "--cluster needs the optional 'cluster' extra: pip install 'leakguard[cluster]' "
            "(it installs dask[distributed]).",
            fr="--cluster demande l'extension facultative « cluster » : "
            "pip install 'leakguard[cluster]' (elle installe dask[distributed]).",
        ) from None
    return DaskCluster(cluster, token, recipe)


# --------------------------------------------------------------------------- backends


class _Steady:
    """A backend whose workers are not lost from under it (or not its to restart)."""

    isolate = False

    def lost(self, exc: BaseException) -> bool:
        return False

    def renew(self) -> None:
        return None

    def stalled(self, lang: Lang) -> str | None:
        return None


class Inline(_Steady):
    """Shards checked one after the other in this process (one job, or one shard)."""

    slots = 1

    def __init__(self, token: str, context: Context) -> None:
        self.ref = ContextRef(token)
        install(token, context)

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Ran:
        return Ran(fn, *args)

    def close(self, *, cancel: bool) -> None:
        uninstall(self.ref.token)


class Ran:
    """A call made at once, in this process: its result, or the exception it raised,
    given back as a finished ``Future`` gives them."""

    __slots__ = ("_error", "_value")

    def __init__(self, fn: Callable[..., Any], /, *args: Any) -> None:
        self._value: Any = None
        self._error: Exception | None = None
        try:
            self._value = fn(*args)
        except Exception as exc:
            self._error = exc

    def done(self) -> bool:
        return True

    def result(self, timeout: float | None = None) -> Any:
        if self._error is not None:
            raise self._error
        return self._value

    def cancel(self) -> bool:
        return False  # finished: too late, as for a finished future


def _finished(futures: list[Pending]) -> Collection[Pending]:
    """Those of ``futures`` that are done, waiting up to ``_POLL`` seconds for the first."""
    if all(isinstance(f, Ran) for f in futures):
        return futures  # made here, done already: nothing to wait for
    from concurrent.futures import FIRST_COMPLETED, wait

    waited = cast("list[Future[Any]]", futures)
    return wait(waited, timeout=_POLL, return_when=FIRST_COMPLETED).done


def _start_worker(token: str, context: Context | Recipe) -> None:
    # Ctrl-C at a terminal reaches the whole process group: the parent alone decides,
    # stops the workers and writes what was finished; workers print nothing.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Its siblings use the other cores: a long text is read in this process alone.
    _child.forbid()
    install(token, context)


class Processes:
    """Local worker processes (``--jobs N``), given the context as they start.

    Forked where the system can (the guard is inherited, nothing is pickled), else
    started fresh with the context's recipe.
    """

    isolate = True

    def __init__(self, jobs: int, token: str, context: Context) -> None:
        self.slots = jobs
        self.ref = ContextRef(token)
        import multiprocessing  # only here: one file in this process needs no pool

        fork = "fork" in multiprocessing.get_all_start_methods()
        self._mp = multiprocessing.get_context("fork" if fork else "spawn")
        self._initargs: tuple[str, Context | Recipe] = (
            token,
            context if fork else context.recipe(),
        )
        if fork:
            # The readers and detectors, imported once here, are shared by every worker
            # instead of each importing them on its first message.
            import leakguard.guard  # noqa: F401

            gc.freeze()  # what the workers inherit is never scanned nor copied by their collector
        self._frozen = fork
        self._pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(
            self.slots,
            mp_context=self._mp,
            initializer=_start_worker,
            initargs=self._initargs,
        )

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        from concurrent.futures import BrokenExecutor, Future

        try:
            return self._pool.submit(fn, *args)
        except BrokenExecutor as exc:  # a worker died since the last look
            future: Future[Any] = Future()
            future.set_exception(exc)
            return future

    def lost(self, exc: BaseException) -> bool:
        from concurrent.futures import BrokenExecutor

        return isinstance(exc, BrokenExecutor)

    def renew(self) -> None:
        self._stop(self._pool)
        self._pool = self._start()

    def stalled(self, lang: Lang) -> str | None:
        return None  # a dead pool is started again

    def close(self, *, cancel: bool) -> None:
        try:
            if cancel:
                self._stop(self._pool)
            else:
                self._pool.shutdown(wait=True)
        finally:
            if self._frozen:
                gc.unfreeze()
                self._frozen = False

    @staticmethod
    def _stop(pool: ProcessPoolExecutor) -> None:
        """Stop at once: pending work is dropped and the workers are ended, not awaited."""
        workers = list((getattr(pool, "_processes", None) or {}).values())
        manager = getattr(pool, "_executor_manager_thread", None)
        _quiet_exit_wakeup(manager)
        pool.shutdown(wait=False, cancel_futures=True)
        for process in workers:
            if process.is_alive():
                process.terminate()
        for process in workers:
            process.join(2)
            if process.is_alive():
                process.kill()
                process.join(1)
        if manager is not None:
            manager.join(2)


class _QuietWakeup:
    """The wake-up the interpreter's exit sends a process pool's manager thread, without
    the error it raises when that thread closes its pipe at the same moment (a pool
    stopped at once, on Ctrl-C: the standard library checks the pipe, then writes)."""

    __slots__ = ("_inner",)

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def wakeup(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._inner.wakeup()


def _quiet_exit_wakeup(thread: threading.Thread | None) -> None:
    """Have the exit hook of ``concurrent.futures`` wake ``thread`` (a pool's manager)
    through :class:`_QuietWakeup`: a traceback after a clean Ctrl-C line says something
    went wrong when nothing did."""
    from concurrent.futures import process

    wakeups = getattr(process, "_threads_wakeups", None)
    if thread is None or wakeups is None:
        return
    inner = wakeups.get(thread)
    if inner is not None and not isinstance(inner, _QuietWakeup):
        wakeups[thread] = _QuietWakeup(inner)


class ExecutorBackend(_Steady):
    """Any ``concurrent.futures.Executor`` (threads, MPI, a pool of the caller's own).

    The context's recipe travels with each shard and is built once per worker process.
    The executor stays the caller's: it is not shut down here, and a worker it loses
    fails the shard it ran.
    """

    def __init__(self, executor: Executor, token: str, context: Context, slots: int) -> None:
        self._executor = executor
        self.slots = slots
        self.ref = ContextRef(token, context.recipe())
        install(token, context)  # a thread pool finds it here, without building it again
        self._futures: list[Future[Any]] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        future = self._executor.submit(fn, *args)
        self._futures = [f for f in self._futures if not f.done()] + [future]
        return future

    def close(self, *, cancel: bool) -> None:
        if cancel:
            for future in self._futures:
                future.cancel()
        uninstall(self.ref.token)


# --------------------------------------------------------------------------- engine


_LOST = object()


def stream(
    task: Task,
    plan: Iterable[Shard | Failed | End],
    backend: Backend,
    *,
    progress: Callable[[int], object] | None = None,
) -> Iterator[Done]:
    """Run ``task`` over each shard of ``plan`` on ``backend``; results in plan order.

    The backend is closed at the end; when the consumer stops early (Ctrl-C, an error,
    a closed pipe) the work still in flight is cancelled.
    """
    run = _Run(task, backend, progress or (lambda n: None))
    finished = False
    with _ctrl_c_noted() as run.stop:
        try:
            yield from run.all(iter(plan))
            finished = True
        finally:
            backend.close(cancel=not finished)


@contextlib.contextmanager
def _ctrl_c_noted() -> Iterator[threading.Event]:
    """Ctrl-C raises ``KeyboardInterrupt`` as ever, and is also noted: raised while a
    finaliser runs (a cluster future's ``__del__``), the exception is lost, and the run
    would go on to its end. The run looks at the note between results. Such a lost
    interruption is not printed either (Python would print it as a traceback, "Exception
    ignored in …", above the one line that says the run was interrupted)."""
    seen = threading.Event()
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield seen  # a handler of the program's own is left alone
        return

    def noted(signum: int, frame: object) -> None:
        seen.set()
        raise KeyboardInterrupt

    printed = sys.unraisablehook

    def quiet(unraisable: Any) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt) and seen.is_set():
            return  # noted: the run raises it again between results
        printed(unraisable)

    signal.signal(signal.SIGINT, noted)
    sys.unraisablehook = quiet
    try:
        yield seen
    finally:
        sys.unraisablehook = printed
        signal.signal(signal.SIGINT, signal.default_int_handler)


class _Run:
    def __init__(self, task: Task, backend: Backend, progress: Callable[[int], object]) -> None:
        self.task = task
        self.backend = backend
        self.progress = progress
        self.offsets: dict[str, int] = {}
        self.cut: set[tuple[str, str | None]] = set()  # (file, error) already reported
        self.quiet_since = time.monotonic()  # when a result last came back
        self.stop = threading.Event()  # set by Ctrl-C (see ``_ctrl_c_noted``)

    def all(self, plan: Iterator[Shard | Failed | End]) -> Iterator[Done]:
        limit = max(2, self.backend.slots * _AHEAD)
        pending: dict[Pending, tuple[int, Shard]] = {}
        ready: dict[int, Done] = {}
        planned = emitted = 0
        exhausted = False
        while True:
            if self.stop.is_set():
                raise KeyboardInterrupt  # the one Ctrl-C raised was lost on the way
            while not exhausted and len(pending) < limit and len(ready) < 4 * limit:
                shard = next(plan, None)
                if shard is None:
                    exhausted = True
                    break
                seq, planned = planned, planned + 1
                if isinstance(shard, Failed):
                    outcome = Outcome(shard.source, error=shard.error.message(self.task.lang))
                    ready[seq] = Done(shard, ShardResult([outcome], None, 1, 0))
                    self.progress(1)
                elif isinstance(shard, End):
                    ready[seq] = Done(shard, None)
                else:
                    future = self.backend.submit(execute, self.backend.ref, self.task, shard)
                    pending[future] = (seq, shard)
            while emitted in ready:
                if self.stop.is_set():
                    raise KeyboardInterrupt  # the one Ctrl-C raised was lost on the way
                yield self._numbered(ready.pop(emitted))
                emitted += 1
            if exhausted and not pending:
                return
            if not pending:
                continue
            done = _finished(list(pending))
            if not done and (why := self._stalled()) is not None:
                # Nothing can run: what is left is reported, not waited for forever.
                for future, (seq, shard) in pending.items():
                    future.cancel()
                    ready[seq] = Done(shard, self._not_run(shard, why))
                pending.clear()
                for shard in plan:
                    seq, planned = planned, planned + 1
                    ready[seq] = (
                        Done(shard, None)
                        if isinstance(shard, End)
                        else Done(shard, self._not_run(shard, why))
                    )
                exhausted = True
                continue
            if done:
                self.quiet_since = time.monotonic()
            lost: list[tuple[int, Shard]] = []
            for future in done:
                seq, shard = pending.pop(future)
                try:
                    result = future.result()
                except Exception as exc:
                    if self.backend.lost(exc):
                        lost.append((seq, shard))
                        continue
                    result = self._failed(shard, exc)
                ready[seq] = Done(shard, result)
                self.progress(result.read)
            if lost:
                if self.backend.isolate:
                    # Every shard in flight died with the pool: run each alone.
                    lost += pending.values()
                    pending.clear()
                    self.backend.renew()
                for seq, shard in sorted(lost, key=lambda pair: pair[0]):
                    result = self._recover(shard)
                    ready[seq] = Done(shard, result)
                    self.progress(result.read)

    def _stalled(self) -> str | None:
        if time.monotonic() - self.quiet_since < _STALL_POLL:
            return None
        self.quiet_since = time.monotonic()
        return self.backend.stalled(self.task.lang)

    def _not_run(self, shard: Shard | Failed, why: str) -> ShardResult:
        if isinstance(shard, Failed):
            outcome = Outcome(shard.source, error=shard.error.message(self.task.lang))
            return ShardResult([outcome], None, 1, 0)
        # The messages of a range left out are not known: counted on this machine.
        return ShardResult([Outcome(_where(shard), error=why)], None, 1, 0, cut=True)

    def _numbered(self, done: Done) -> Done:
        """Messages of an mbox cut into ranges numbered from the start of the file."""
        shard, result = done.shard, done.result
        if result is None or isinstance(shard, Failed | End):
            return done
        if not isinstance(shard, MboxRange):
            if not result.cut:
                return done
            kept = [o for o in result.outcomes if not self._said(shard, o)]
            return (
                done
                if len(kept) == len(result.outcomes)
                else Done(shard, replace(result, outcomes=kept))
            )
        offset = 0 if shard.start == 0 else self.offsets.get(shard.path, 0)
        span = result.span
        outcomes = result.outcomes
        if result.cut:
            # The worker could not read the range to its end (the file is not there for
            # it, a read error): its messages are counted here when this machine can read
            # them, so the ranges after it keep their numbers; the error is said once.
            span = _messages_in(shard) or span
            outcomes = [o for o in outcomes if not self._said(shard, o)]
        self.offsets[shard.path] = offset + span
        if offset:
            prefix = shard.path + "#"
            outcomes = [_renumber(o, prefix, offset) for o in outcomes]
        if outcomes is result.outcomes:
            return done
        return Done(shard, replace(result, outcomes=outcomes))

    def _said(self, shard: Shard, outcome: Outcome) -> bool:
        """Whether ``outcome`` is the file's error already reported for an earlier part."""
        where = _where(shard)
        if outcome.source != where or outcome.error is None:
            return False
        key = (where, outcome.error)
        if key in self.cut:
            return True
        self.cut.add(key)
        return False

    # ------------------------------------------------------------------ faults

    def _recover(self, shard: Shard) -> ShardResult:
        """A shard whose worker died: alone again, else one message at a time."""
        lang = self.task.lang
        if self.backend.isolate:
            got = self._alone(execute, self.backend.ref, self.task, shard)
            if got is not _LOST:
                return got if isinstance(got, ShardResult) else self._failed(shard, got)
        items = self._alone(listing, shard)
        if items is _LOST:
            return ShardResult([Outcome(_where(shard), error=_died(lang, whole=True))], None, 1)
        if not isinstance(items, list):
            return self._failed(shard, items)
        outcomes: list[Outcome] = []
        partial: Any = None
        for index, (source, _) in enumerate(items):
            got = self._alone(execute, self.backend.ref, self.task, shard, index)
            if isinstance(got, ShardResult):
                outcomes += got.outcomes
                if got.partial is not None:
                    partial = self.task.merge(partial, got.partial)
            elif got is _LOST:
                outcomes.append(Outcome(source, error=_died(lang, whole=False)))
            else:
                outcomes.append(Outcome(source, error=_broken(lang, got)))
        span = sum(numbered for _, numbered in items)
        cut = not all(numbered for _, numbered in items)
        return ShardResult(outcomes, partial, len(items), span, cut)

    def _alone(self, fn: Callable[..., Any], /, *args: Any) -> Any:
        """``fn(*args)`` on a worker, waited for: its result, ``_LOST`` when the worker
        died, or the exception it raised."""
        future = self.backend.submit(fn, *args)
        while not future.done():
            _finished([future])
        try:
            return future.result()
        except Exception as exc:
            if self.backend.lost(exc):
                self.backend.renew()
                return _LOST
            return exc

    def _failed(self, shard: Shard, exc: BaseException) -> ShardResult:
        outcome = Outcome(_where(shard), error=_broken(self.task.lang, exc))
        return ShardResult([outcome], None, 1, 0)


def _messages_in(shard: MboxRange) -> int | None:
    """How many messages a range of an mbox holds, read on this machine (``None`` when
    it cannot be read here either)."""
    from leakguard.archives._fs import UrlError, place

    try:
        with place(shard.path).open("rb") as fh:
            fh.seek(shard.start)
            left = None if shard.end is None else shard.end - shard.start
            count = 0
            for line in fh:
                if left is not None:
                    if left <= 0:
                        break
                    left -= len(line)
                count += line.removeprefix(b"\xef\xbb\xbf" if not count else b"").startswith(
                    b"From "
                )
            return count
    except (OSError, UrlError):
        return None


def _renumber(outcome: Outcome, prefix: str, offset: int) -> Outcome:
    source = outcome.source
    if not source.startswith(prefix):
        return outcome
    rest = source[len(prefix) :]
    digits = len(rest) - len(rest.lstrip("0123456789"))
    if not digits:
        return outcome
    new = f"{prefix}{int(rest[:digits]) + offset}{rest[digits:]}"
    verdict = outcome.verdict
    if verdict is not None and verdict.source == source:
        verdict = replace(verdict, source=new)
    return replace(outcome, source=new, verdict=verdict)


def _where(shard: Shard) -> str:
    """The file a shard comes from, to name it when the shard as a whole failed."""
    from leakguard.batch._shards import FileList, Inline, MaildirFiles, PstRange

    if isinstance(shard, MboxRange | PstRange):
        return shard.path
    if isinstance(shard, MaildirFiles):
        return shard.folder
    if isinstance(shard, FileList):
        return shard.paths[0]
    assert isinstance(shard, Inline)
    return shard.source


def _died(lang: Lang, *, whole: bool) -> str:
    if whole:
        if lang == "fr":
            return (
                "le processus qui lisait cette partie de l'archive s'est arrêté de façon "
                "inattendue ; ses messages n'ont pas été vérifiés"
            )
        return (
            "the worker process reading this part of the archive stopped unexpectedly; "
            "its messages were not checked"
        )
    if lang == "fr":
        return "le processus qui vérifiait ce message s'est arrêté de façon inattendue"
    return "the worker process checking this message stopped unexpectedly"


def _broken(lang: Lang, exc: BaseException) -> str:
    # The exception's text may quote a message: only its type is shown.
    name = type(exc).__name__
    if lang == "fr":
        return f"cette partie de l'entrée n'a pas pu être lue (erreur {name})"
    return f"this part of the input could not be read ({name} error)"


# --------------------------------------------------------------------------- one run

#: Messages per shard on this machine: small enough to spread a small archive over
#: every worker, large enough that handing a shard over costs little.
LOCAL_SHARD = 4
#: Messages per shard on a cluster, where handing a shard over costs some milliseconds
#: (the scheduler, the network): large enough that this is a few per cent of the work.
CLUSTER_SHARD = 64


def cores() -> int:
    """The cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def run_task(
    task: Task,
    paths: Sequence[str | os.PathLike[str]],
    /,
    *,
    context: Context,
    reading: Reading,
    jobs: int | None = None,
    cluster: Any = None,
    executor: Executor | None = None,
    shard_size: int | None = None,
    progress: Callable[[int], object] | None = None,
) -> Iterator[Done]:
    """Plan ``paths`` into shards and run ``task`` over them, on ``cluster`` (a Dask
    scheduler address or client), on ``executor``, or in ``jobs`` local processes
    (default: one per core); results in input order."""
    token = new_token()
    if cluster is not None:
        size = shard_size or CLUSTER_SHARD
        backend: Backend = dask_backend(cluster, token, context.recipe())
        yield from stream(task, plan(paths, reading=reading, size=size), backend, progress=progress)
        return
    shards = plan(paths, reading=reading, size=shard_size or LOCAL_SHARD)
    if executor is not None:
        backend = ExecutorBackend(executor, token, context, jobs or cores())
        yield from stream(task, shards, backend, progress=progress)
        return
    # A single shard is not worth starting worker processes for.
    head: list[Shard | Failed | End] = []
    for shard in shards:
        head.append(shard)
        if _work(head) >= 2:
            break
    jobs = jobs or cores()
    if jobs > 1 and _work(head) >= 2:
        backend = Processes(jobs, token, context)
    else:
        backend = Inline(token, context)
    yield from stream(task, chain(head, shards), backend, progress=progress)


def _work(planned: list[Shard | Failed | End]) -> int:
    return sum(not isinstance(s, Failed | End) for s in planned)
