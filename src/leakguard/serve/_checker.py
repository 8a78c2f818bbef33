"""The checks in a process of their own, beside the service's event loop.

Reading a large message holds the interpreter's lock in single C calls (parsing 34 MB of
JSON, decoding an attachment, a regular expression over the whole text) for up to a
second each on a busy machine. Run in the service's own process, every such call would
also stop ``/healthz``, the refusals and the uploads. So the checks run in a checker
process forked when the service starts, with one thread per worker, each fed through a
pipe by one of the runner's threads: the runner still decides admission and deadlines,
and waits for the pipe without holding the lock. The checker's log records (the audit
trail among them) come back to the service's process and are logged there, as if the
checks had run in it.

Where processes cannot be forked (Windows), the checks run in the runner's threads.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import multiprocessing
import os
import queue
import signal
import stat
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leakguard.core import Deadline, Lang
from leakguard.serve._judge import judge

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from leakguard.guard import Guard

__all__ = ["Checker", "CheckerGone", "CheckerStuck"]

log = logging.getLogger("leakguard.serve")

#: Seconds between two looks at the checker process when nothing else wakes the watch.
_WATCH_EVERY = 1.0


class CheckerGone(Exception):
    """The checker process ended (killed for memory, crashed) while a check was asked."""


class CheckerStuck(CheckerGone):
    """The check ran past its deadline, its grace and ``kill_after``: the checker
    process was killed (and replaced) to end it."""


class Checker:
    """``workers`` checks at once for ``guard``, in a forked process (see the module).

    A check still running ``kill_after`` seconds past its deadline and ``grace`` (the
    service answered it long ago) is ended the only way work in another process can be:
    the process is killed and a new one forked. The other checks it was running are
    asked again of the new process, within what is left of their own deadlines. A
    checker process stopped or gone is reported by :meth:`health`.
    """

    def __init__(
        self, guard: Guard, workers: int, *, grace: float = 1.0, kill_after: float = 2.0
    ) -> None:
        self.guard = guard
        self.workers = workers
        self.grace = grace
        self.kill_after = kill_after
        self._lock = threading.Lock()
        self._process: BaseProcess | None = None
        self._free: queue.SimpleQueue[Connection] = queue.SimpleQueue()
        self._forked = "fork" in multiprocessing.get_all_start_methods()
        # The checks under way: their hard end and the process they were sent to.
        self._calls: dict[int, tuple[float, BaseProcess]] = {}
        self._killed_for: set[int] = set()
        self._watch = threading.Condition(self._lock)
        self._watching = False
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        """The checker process's id (None when checks run in this process)."""
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Fork the checker process (call before the service opens its sockets)."""
        with self._lock:
            self._start()
            if self._forked and not self._watching:
                self._watching = True
                threading.Thread(
                    target=self._watchdog, name="leakguard-checker-watch", daemon=True
                ).start()

    def _start(self) -> None:
        if not self._forked:
            return
        context = multiprocessing.get_context("fork")
        ends = [context.Pipe() for _ in range(self.workers)]
        ours = [a for a, _ in ends]
        theirs = [b for _, b in ends]
        # A queue of its own for each process: one killed while writing to its queue
        # would leave the queue's lock taken, and the next process's records stuck.
        logs = context.Queue()
        process = context.Process(
            target=_checker_main,
            args=(self.guard, theirs, logs),
            name="leakguard-checker",
            daemon=True,
        )
        process.start()
        threading.Thread(
            target=_relay_logs, args=(logs, process), name="leakguard-checker-log", daemon=True
        ).start()
        for end in theirs:
            end.close()
        self._process = process
        self._free = queue.SimpleQueue()
        for end in ours:
            self._free.put(end)

    def health(self) -> str | None:
        """None while checks can be answered; otherwise why not (``stopped``: the
        process is suspended; ``gone``: it ended and no new one runs; ``stuck``: a check
        is past its hard end)."""
        with self._lock:
            process = self._process
            if not self._forked or self._watching is False:
                return None
            if process is None or not process.is_alive():
                return "gone"
            if any(time.monotonic() > hard for hard, _ in self._calls.values()):
                return "stuck"
        if _state(process.pid) in ("T", "t"):
            return "stopped"
        return None

    def judge(
        self, kind: str, data: bytes, lang: Lang, verdict_id: str, deadline: Deadline
    ) -> tuple[int, bytes]:
        """The answer's status and body (blocks; at most ``workers`` callers at once)."""
        if not self._forked:
            return judge(self.guard, kind, data, lang, verdict_id, deadline)
        try:
            return self._ask(kind, data, lang, verdict_id, deadline)
        except CheckerStuck:
            raise
        except CheckerGone:
            # Killed for another check (or crashed): once more in the new process, if
            # there is time left.
            if deadline.remaining() <= 0:
                raise
            return self._ask(kind, data, lang, verdict_id, deadline)

    def _ask(
        self, kind: str, data: bytes, lang: Lang, verdict_id: str, deadline: Deadline
    ) -> tuple[int, bytes]:
        hard = time.monotonic() + deadline.remaining() + self.grace + self.kill_after
        conn, process = self._take(hard)
        call = id(threading.current_thread())
        with self._lock:
            self._calls[call] = (hard, process)
            self._watch.notify()
        try:
            conn.send((kind, lang, verdict_id, deadline.at))
            conn.send_bytes(data)
            status, body = conn.recv()
        except (EOFError, OSError):
            conn.close()
            with self._lock:
                killed = call in self._killed_for
                self._killed_for.discard(call)
            self._restart(process)
            raise (CheckerStuck if killed else CheckerGone) from None
        finally:
            with self._lock:
                self._calls.pop(call, None)
        with self._lock:
            current = process is self._process
        if current:
            self._free.put(conn)
        else:
            conn.close()
        return int(status), bytes(body)

    def _take(self, hard: float) -> tuple[Connection, BaseProcess]:
        """A free connection to the current checker process, and that process."""
        while True:
            with self._lock:
                free, process = self._free, self._process
            if process is None:
                raise CheckerGone
            try:
                conn = free.get(timeout=0.25)
            except queue.Empty:
                if time.monotonic() > hard:
                    raise CheckerGone from None
                continue
            with self._lock:
                if process is self._process:
                    return conn, process
            conn.close()  # a connection to a process since replaced

    def _watchdog(self) -> None:
        """Kill the checker process when a check runs past its hard end."""
        with self._lock:
            while self._watching:
                now = time.monotonic()
                late = [
                    (call, process)
                    for call, (hard, process) in self._calls.items()
                    if now > hard and process is self._process
                ]
                if late:
                    process = late[0][1]
                    self._killed_for.update(call for call, _ in late)
                    log.error(
                        "a check ran %.0f s past its deadline; the checker process is "
                        "replaced to end it",
                        self.grace + self.kill_after,
                    )
                    self._replace(process)
                    continue
                current = self._process
                if current is not None and not current.is_alive():
                    # Ended on its own (killed for memory, crashed): a new one at once,
                    # not at the next check.
                    log.error(
                        "the checker process ended (exit status %s); starting a new one",
                        current.exitcode,
                    )
                    self._replace(current)
                    continue
                ends = [hard - now for hard, _ in self._calls.values()]
                self._watch.wait(max(0.05, min([_WATCH_EVERY, *ends])))

    def _replace(self, process: BaseProcess) -> None:
        """Kill ``process`` and fork a new one (called with the lock held)."""
        process.kill()
        process.join(5)
        if process is self._process:
            self.restarts += 1
            self._start()

    def _restart(self, process: BaseProcess) -> None:
        with self._lock:
            if process is not self._process:
                return  # replaced already
            if process.is_alive():
                # Its pipe failed while it still runs: it cannot be trusted any more.
                log.error("the checker process stopped answering; starting a new one")
            else:
                log.error(
                    "the checker process ended (exit status %s); starting a new one",
                    process.exitcode,
                )
            self._replace(process)

    def close(self) -> None:
        with self._lock:
            self._watching = False
            self._watch.notify()
            process, self._process = self._process, None
            if process is None:
                return
            while True:
                try:
                    self._free.get_nowait().close()
                except queue.Empty:
                    break
            process.join(2)
            if process.is_alive():
                process.kill()
                process.join(2)


def _state(pid: int | None) -> str:
    """The process's state letter from /proc (R, S, T…), or "" where unknown."""
    if pid is None:
        return ""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rpartition(")")[2].split()[0] if ")" in stat else ""


def _relay_logs(records: Any, process: BaseProcess) -> None:
    """Log here what the checker logged there, by this process's levels and handlers,
    until the checker process has ended and everything it wrote was read."""
    while True:
        try:
            record = records.get(timeout=1.0)
        except queue.Empty:
            if not process.is_alive():
                return
            continue
        except (EOFError, OSError):
            return
        logger = logging.getLogger(record.name)
        if logger.isEnabledFor(record.levelno):
            logger.handle(record)


def _close_inherited_sockets(keep: set[int]) -> None:
    """Close the sockets this process got from the service (listening sockets, clients'
    connections): held here, a connection the service closes would stay open."""
    folder = Path("/proc/self/fd")
    if not folder.is_dir():
        folder = Path("/dev/fd")
    try:
        fds = [int(entry.name) for entry in folder.iterdir()]
    except (OSError, ValueError):
        return
    for fd in fds:
        if fd in keep or fd < 3:
            continue
        with contextlib.suppress(OSError):
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                os.close(fd)


def _checker_main(guard: Guard, conns: list[Connection], logs: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the service stops it, not Ctrl-C
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _close_inherited_sockets({c.fileno() for c in conns})
    _forward_logs(guard, logs)
    threads = [threading.Thread(target=_serve, args=(guard, conn), daemon=True) for conn in conns]
    for th in threads:
        th.start()
    for th in threads:
        th.join()


def _forward_logs(guard: Guard, logs: Any) -> None:
    """Every record of leakguard's loggers (and of the guard's audit logger) goes back to
    the service, which filters it by its levels of the moment: they may have changed
    since this process was forked."""
    audit = getattr(getattr(guard, "audit", None), "logger", None)
    tops = {"leakguard"} | ({audit.name} if isinstance(audit, logging.Logger) else set())
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and any(name.startswith(t + ".") for t in tops):
            logger.handlers = []
            logger.propagate = True
            logger.setLevel(logging.NOTSET)
    for name in tops:
        top = logging.getLogger(name)
        top.handlers = [logging.handlers.QueueHandler(logs)]
        top.setLevel(logging.DEBUG)
        top.propagate = False


def _serve(guard: Guard, conn: Connection) -> None:
    while True:
        try:
            kind, lang, verdict_id, at = conn.recv()
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return  # the service closed its end: stop
        try:
            reply = judge(guard, kind, data, lang, verdict_id, Deadline(at))
        except Exception as exc:  # never a traceback: it could quote the message
            log.error("check %s failed: %s", verdict_id, type(exc).__name__)
            reply = (500, b"")
        del data
        try:
            conn.send(reply)
        except (EOFError, OSError):
            return
