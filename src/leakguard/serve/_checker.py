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
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leakguard.core import Deadline, Lang
from leakguard.serve._judge import judge

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from leakguard.guard import Guard

__all__ = ["Checker", "CheckerGone"]

log = logging.getLogger("leakguard.serve")


class CheckerGone(Exception):
    """The checker process ended (killed for memory, crashed) while a check was asked."""


class Checker:
    """``workers`` checks at once for ``guard``, in a forked process (see the module)."""

    def __init__(self, guard: Guard, workers: int) -> None:
        self.guard = guard
        self.workers = workers
        self._lock = threading.Lock()
        self._process: BaseProcess | None = None
        self._free: queue.SimpleQueue[Connection] = queue.SimpleQueue()
        self._forked = "fork" in multiprocessing.get_all_start_methods()
        self._logs: Any = None

    @property
    def pid(self) -> int | None:
        """The checker process's id (None when checks run in this process)."""
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Fork the checker process (call before the service opens its sockets)."""
        with self._lock:
            self._start()

    def _start(self) -> None:
        if not self._forked:
            return
        context = multiprocessing.get_context("fork")
        ends = [context.Pipe() for _ in range(self.workers)]
        ours = [a for a, _ in ends]
        theirs = [b for _, b in ends]
        if self._logs is None:
            self._logs = context.Queue()
            threading.Thread(
                target=_relay_logs, args=(self._logs,), name="leakguard-checker-log", daemon=True
            ).start()
        process = context.Process(
            target=_checker_main,
            args=(self.guard, theirs, self._logs),
            name="leakguard-checker",
            daemon=True,
        )
        process.start()
        for end in theirs:
            end.close()
        self._process = process
        self._free = queue.SimpleQueue()
        for end in ours:
            self._free.put(end)

    def judge(
        self, kind: str, data: bytes, lang: Lang, verdict_id: str, deadline: Deadline
    ) -> tuple[int, bytes]:
        """The answer's status and body (blocks; at most ``workers`` callers at once)."""
        if not self._forked:
            return judge(self.guard, kind, data, lang, verdict_id, deadline)
        free = self._free
        conn = free.get()
        try:
            conn.send((kind, lang, verdict_id, deadline.at))
            conn.send_bytes(data)
            del data
            status, body = conn.recv()
        except (EOFError, OSError):
            conn.close()
            self._restart()
            raise CheckerGone from None
        free.put(conn)
        return int(status), bytes(body)

    def _restart(self) -> None:
        with self._lock:
            process = self._process
            if process is None or process.is_alive():
                return  # another caller restarted it already
            log.error(
                "the checker process ended (exit status %s); starting a new one",
                process.exitcode,
            )
            self._start()

    def close(self) -> None:
        with self._lock:
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
            if self._logs is not None:
                self._logs.put(None)  # ends the relay thread
                self._logs = None


def _relay_logs(records: Any) -> None:
    """Log here what the checker logged there, by this process's levels and handlers."""
    while True:
        try:
            record = records.get()
        except (EOFError, OSError):
            return
        if record is None:
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
