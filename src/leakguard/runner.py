"""One bounded runner for the services (``serve``, the milter, the relay).

A service hands each check to :meth:`Runner.run`: a function that receives the check's
:class:`~leakguard.core.Deadline` and runs in one of a fixed number of worker threads.
Admission is decided at once, never by waiting: beyond ``max_pending`` checks running or
queued, or beyond ``max_bytes`` held by them together, :class:`Busy` is raised and the
service answers "try again" (503, 451). A check that has not answered shortly after its
deadline raises :class:`Overdue` for its caller; it keeps counting against the bounds
until its thread really ends, so a stuck check can never let more work in than the
bounds allow. A service that receives its input over the network holds a place with
:meth:`Runner.admit` before reading it, so the bytes count while they arrive; bytes held
outside any check (a message being received) count against the same memory bound with
:meth:`Runner.reserve`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from leakguard.core import Deadline

__all__ = ["Admission", "Busy", "Overdue", "Runner"]

T = TypeVar("T")


class Busy(Exception):
    """The runner is full (``reason``: ``"pending"`` or ``"memory"``): answer at once that
    the client should retry after ``retry_after`` seconds."""

    def __init__(self, reason: str, retry_after: float) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class Overdue(Exception):
    """The check did not answer by its deadline (plus ``grace``)."""


class Admission:
    """A place held in a :class:`Runner` for one check: one of ``max_pending`` and the
    bytes its input counts, taken before the input is read.

    :meth:`grow` counts more of the input as it arrives (:class:`Busy` when it no longer
    fits); :meth:`Runner.run` takes the place over and frees it when the check's thread
    ends; :meth:`release` (or leaving a ``with`` block) frees a place never handed to
    :meth:`Runner.run`, and does nothing once it was.
    """

    def __init__(self, runner: Runner, cost: int) -> None:
        self._runner = runner
        self.cost = cost
        self._owned = False
        self._released = False

    def __enter__(self) -> Admission:
        return self

    def __exit__(self, *_: object) -> None:
        self.release()

    def grow(self, size: int, /) -> None:
        """The input has reached ``size`` bytes: count it, or raise :class:`Busy`."""
        self._runner._grow(self, self._runner.cost(size))

    def release(self) -> None:
        if not self._owned:
            self._runner._release(self)


class Runner:
    """A fixed pool of worker threads with admission bounds and a deadline per check.

    ``workers`` threads run checks; ``max_pending`` bounds the checks running or waiting
    for a thread; ``max_bytes`` bounds the memory they may hold together, each check
    counting ``size * footprint`` bytes (its input and what reading it builds);
    ``time_budget`` is the seconds each check may take from its admission, and ``grace``
    the extra seconds its caller waits for the answer before giving up on it.
    """

    def __init__(
        self,
        *,
        workers: int,
        max_pending: int,
        max_bytes: int,
        time_budget: float,
        footprint: float = 3.0,
        grace: float = 1.0,
        name: str = "leakguard",
    ) -> None:
        if workers < 1 or max_pending < 1 or max_bytes < 1:
            raise ValueError("workers, max_pending and max_bytes must be at least 1")
        self.workers = workers
        self.max_pending = max_pending
        self.max_bytes = max_bytes
        self.time_budget = time_budget
        self.footprint = footprint
        self.grace = grace
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._lock = threading.Lock()
        self._pending = 0
        self._bytes = 0

    def __repr__(self) -> str:
        return (
            f"Runner(workers={self.workers}, pending={self._pending}/{self.max_pending}, "
            f"bytes={self._bytes}/{self.max_bytes})"
        )

    @property
    def pending(self) -> int:
        """Checks admitted and not yet ended (running, queued or overdue)."""
        return self._pending

    @property
    def bytes_held(self) -> int:
        """Bytes counted against ``max_bytes``: checks admitted and reservations."""
        return self._bytes

    def reserve(self, nbytes: int, /, *, force: bool = False) -> bool:
        """Count ``nbytes`` held outside a check (a message being received, a buffer)
        against ``max_bytes``; False, counting nothing, when they would pass it.

        With ``force`` the bytes are counted whatever the bound (they are held already:
        counting them keeps the checks and reservations that come next within it), and
        the answer says whether they fitted. Give them back with :meth:`release` once
        they are no longer held.
        """
        if nbytes <= 0:
            return True
        with self._lock:
            fits = self._bytes + nbytes <= self.max_bytes
            if fits or force:
                self._bytes += nbytes
            return fits

    def release(self, nbytes: int, /) -> None:
        """Give back bytes counted by :meth:`reserve`."""
        if nbytes > 0:
            with self._lock:
                self._bytes -= nbytes

    def cost(self, size: int) -> int:
        """The bytes a check of an input of ``size`` bytes counts against ``max_bytes``."""
        return max(1, int(size * self.footprint))

    def admit(self, size: int = 0, /) -> Admission:
        """Hold a place for a check whose input is ``size`` bytes (so far), or raise
        :class:`Busy` at once."""
        cost = self.cost(size)
        with self._lock:
            if self._pending >= self.max_pending:
                raise Busy("pending", self._retry_after())
            # One check alone is always let in, whatever its size: the service's own
            # request size limit bounds it.
            if self._pending and self._bytes + cost > self.max_bytes:
                raise Busy("memory", self._retry_after())
            self._pending += 1
            self._bytes += cost
        return Admission(self, cost)

    def _grow(self, place: Admission, cost: int) -> None:
        with self._lock:
            extra = cost - place.cost
            if extra <= 0 or place._released:
                return
            if self._pending > 1 and self._bytes + extra > self.max_bytes:
                raise Busy("memory", self._retry_after())
            self._bytes += extra
            place.cost = cost

    def _release(self, place: Admission) -> None:
        with self._lock:
            if place._released:
                return
            place._released = True
            self._pending -= 1
            self._bytes -= place.cost

    def _retry_after(self) -> float:
        # Every queued check may take its whole budget, ``workers`` at a time.
        rounds = 1 + self._pending // self.workers
        return max(1.0, round(min(rounds * self.time_budget, 120.0)))

    async def run(
        self,
        work: Callable[[Deadline], T],
        /,
        *,
        size: int = 0,
        admission: Admission | None = None,
        deadline: Deadline | None = None,
    ) -> T:
        """``work(deadline)`` in a worker thread: its result, or :class:`Busy` at once,
        or :class:`Overdue` once the deadline and the grace have passed; an exception
        ``work`` raises is raised here.

        ``admission`` is a place already held (see :meth:`admit`; ``size`` is then not
        used); ``deadline`` one already running, such as one started when a request
        arrived (default: ``time_budget`` from now).
        """
        place = admission if admission is not None else self.admit(size)
        if place._released or place._owned:
            raise ValueError("this admission was already released or run")
        deadline = deadline if deadline is not None else Deadline.after(self.time_budget)
        try:
            future = self._pool.submit(work, deadline)
        except BaseException:
            place.release()
            raise
        place._owned = True
        future.add_done_callback(lambda _: self._release(place))
        try:
            return await asyncio.wait_for(
                asyncio.wrap_future(future), deadline.remaining() + self.grace
            )
        except TimeoutError:
            raise Overdue from None

    def close(self) -> None:
        """Stop taking work; queued checks are cancelled, running ones end on their own."""
        self._pool.shutdown(wait=False, cancel_futures=True)
