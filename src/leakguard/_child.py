"""Work done beside this process, on a second processor core, by a forked child.

A long text's identifier search is shared: a child, forked at the start (it shares the
text without a copy), reads the segments it takes (:class:`Turns`) and sends back what
it found as it goes (:func:`send`), while this process reads the others. Nothing here
is needed for a right answer: wherever a child cannot be used, :meth:`Child.start`
answers ``None`` and the caller does the work itself; wherever a child fails (it died,
was killed, sent something unreadable), :meth:`Child.result` raises
:class:`ChildFailed` and the caller does the work itself.

A child is forked only:

- on Linux (fork is the system's own way there; elsewhere a fresh interpreter would
  cost more than it saves);
- when this process runs one Python thread (a lock held by another thread at the
  moment of the fork would stay locked in the child; a service answering requests on
  several threads reads each text itself);
- when this process may run on two processor cores at least;
- when ``LEAKGUARD_PROCESSES`` is not ``1`` (set it to keep every search in the calling
  process), and in no batch worker (``--jobs`` already gives each core a message).

The child ends with ``os._exit``: it never runs this process's exit handlers nor
writes its buffers. Ctrl-C ends it at once (the terminal sends the signal to both);
this process kills it when it no longer wants its answer, and always waits for it; and
the system kills it when this process ends first, however it ends: no process is left
behind.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import marshal
import os
import select
import signal
import struct
import sys
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from leakguard.core import Deadline, DeadlineExceeded

__all__ = ["ENV", "LONG_TEXT", "Child", "ChildFailed", "Turns", "allowed", "forbid", "send"]

T = TypeVar("T")

#: The environment variable that keeps every search in the calling process when "1".
ENV = "LEAKGUARD_PROCESSES"
#: A text this long (in characters) is read by two processes where they may run: below
#: it, the fork and the answer's way back cost about what the second core saves.
LONG_TEXT = 1 << 22
_forbidden = False


class ChildFailed(Exception):
    """The child sent no answer: the caller does the work itself."""


def forbid() -> None:
    """No child from this process on (a batch worker: its siblings use the cores)."""
    global _forbidden
    _forbidden = True


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - Linux has it
        return os.cpu_count() or 1


def _one_thread() -> bool:
    return threading.active_count() == 1


def allowed() -> bool:
    """True when a child may be forked now (see the module's documentation)."""
    return (
        not _forbidden
        and sys.platform == "linux"
        and os.environ.get(ENV, "").strip() != "1"
        and _one_thread()
        and _cores() >= 2
    )


class Child(Generic[T]):
    """A forked child computing ``work()``; its answer, made of what ``marshal`` writes
    (tuples, lists, strings, numbers), is read with :meth:`result`, and what the work
    sends before it (:func:`send`) is taken in by :meth:`receive` and :meth:`result`."""

    __slots__ = ("_answer", "_buffer", "_fd", "_pid", "sent")

    def __init__(self, pid: int, fd: int) -> None:
        self._pid: int | None = pid
        self._fd: int | None = fd
        self._buffer = bytearray()
        self._answer: Any = _NONE
        #: What the child sent with :func:`send` and this process has received, in order.
        self.sent: list[Any] = []

    @classmethod
    def start(cls, work: Callable[[], T]) -> Child[T] | None:
        """``work()`` started in a forked child, or ``None`` where no child is allowed
        (or the system refuses one)."""
        if not allowed():
            return None
        parent = os.getpid()
        try:
            prctl = _prctl()
            read, write = os.pipe()
        except OSError:
            return None
        with contextlib.suppress(OSError, AttributeError, ImportError):
            # A larger pipe (Linux lets a process ask for 1 MiB): what the child sends as
            # it goes seldom waits for this process to read it.
            import fcntl

            fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
        try:
            with warnings.catch_warnings():
                # Python 3.12 and later warn of threads the system counts (a numeric
                # library's own); the child runs none of their work.
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
        except OSError:
            os.close(read)
            os.close(write)
            return None
        if pid == 0:  # pragma: no cover - the child's side, measured by its answers
            os.close(read)
            _serve(work, write, parent, prctl)
        os.close(write)
        return cls(pid, read)

    def receive(self) -> None:
        """Take in, without waiting, what the child has sent so far: the items it sent
        with :func:`send` are added to :attr:`sent`. A child whose frames are not what
        a child writes is ended (:meth:`result` then raises :class:`ChildFailed`)."""
        fd = self._fd
        if fd is None:
            return
        ready = _watched(fd)
        while ready.poll(0) and self._take(fd):
            pass
        try:
            self._frames()
        except ChildFailed:
            self.close()

    def result(self, deadline: Deadline | None = None) -> T:
        """The child's answer, once it has sent it all (what it sent before with
        :func:`send` is in :attr:`sent`). Raises :class:`ChildFailed` when it ends
        without one, and ``DeadlineExceeded`` (the child killed) when ``deadline``
        passes first."""
        fd = self._fd
        if fd is None:
            raise ChildFailed
        ready = _watched(fd)
        try:
            while True:
                if deadline is not None:
                    left = deadline.at - time.monotonic()
                    if left <= 0:
                        raise DeadlineExceeded
                    if not ready.poll(min(left, 3600.0) * 1000):
                        continue
                if not self._take(fd):
                    break
        finally:
            self.close()
        self._frames()
        if self._answer is _NONE or self._buffer:
            raise ChildFailed
        return self._answer  # type: ignore[no-any-return]

    def _take(self, fd: int) -> bool:
        """What the pipe holds (up to 1 MiB) added to what was received; False at its
        end (the child has closed it)."""
        block = os.read(fd, 1 << 20)
        self._buffer += block
        return bool(block)

    def _frames(self) -> None:
        """The whole frames at the head of what was received, taken out: each item
        sent added to :attr:`sent`, the answer kept. ``ChildFailed`` when a frame is
        not what the child writes."""
        buffer, at = self._buffer, 0
        view = memoryview(buffer)
        try:
            while len(buffer) - at >= _HEAD.size and self._answer is _NONE:
                tag, size = _HEAD.unpack_from(buffer, at)
                end = at + _HEAD.size + size
                if tag not in (_ITEM, _ANSWER):
                    raise ChildFailed
                if len(buffer) < end:
                    break
                value = marshal.loads(view[at + _HEAD.size : end])
                if tag == _ITEM:
                    self.sent.append(value)
                else:
                    self._answer = value
                at = end
        except (EOFError, ValueError, TypeError) as exc:
            raise ChildFailed from exc
        finally:
            view.release()
        del buffer[:at]

    def close(self) -> None:
        """Kill the child if it still runs, and wait for it (nothing is left behind)."""
        fd, pid = self._fd, self._pid
        self._fd = self._pid = None
        if fd is not None:
            os.close(fd)
        if pid is not None:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
                if not done:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
            except (ChildProcessError, ProcessLookupError):  # pragma: no cover
                pass

    def __del__(self) -> None:
        if self._pid is not None:  # pragma: no cover - callers close their child
            with contextlib.suppress(Exception):
                self.close()


def _watched(fd: int) -> select.poll:
    # ``poll`` rather than ``select``: a process holding a thousand files or sockets gets
    # descriptors ``select`` cannot watch.
    ready = select.poll()
    ready.register(fd, select.POLLIN)
    return ready


class Turns:
    """``count`` turns that this process and its child take, one or several at a time,
    each turn taken by one of them only, whoever asks first: the work they share is cut
    in ``count`` parts and a part goes to whoever takes its turn.

    The turns are bytes in a pipe that nobody writes to any more (made before the
    fork, inherited by the child): reading one byte is atomic, and once they are all
    read a read answers at once that there is none left.
    """

    __slots__ = ("_fd",)

    def __init__(self, count: int) -> None:
        """``count`` below 4096 (what a pipe takes in one write). Raises ``OSError``
        when the system gives no pipe (too many open files)."""
        read, write = os.pipe()
        try:
            os.write(write, bytes(count))
        except OSError:
            os.close(read)
            raise
        finally:
            os.close(write)
        self._fd: int | None = read

    def take(self, most: int = 1) -> int:
        """How many turns this process took, ``most`` at most: 0 when none is left (or
        closed). Those it takes follow each other (one read of the pipe)."""
        fd = self._fd
        if fd is None:
            return 0
        try:
            return len(os.read(fd, max(1, most)))
        except OSError:  # pragma: no cover - a pipe with no writer answers at once
            return 0

    def left(self) -> int:
        """How many turns are left at this moment (either process may take some next);
        1 where the system does not say."""
        fd = self._fd
        if fd is None:
            return 0
        try:
            import fcntl
            import termios

            held = fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0")
        except (ImportError, OSError):  # pragma: no cover - Linux says
            return 1
        return int(struct.unpack("i", held)[0])

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def _serve(
    work: Callable[[], Any], fd: int, parent: int, prctl: Callable[..., int]
) -> None:  # pragma: no cover - in the child
    """The child: compute (what the work sends as it goes written at once), write the
    answer, end without running anything of the parent's (its exit handlers, its
    buffered output). It is killed by the system
    when the parent ends first, whatever ends it (a SIGKILL, a SIGTERM)."""
    global _sending
    status = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        # Linux's PR_SET_PDEATHSIG; then end now if the parent has already ended.
        if prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0 or os.getppid() != parent:
            raise ProcessLookupError("the parent has ended, or cannot be followed")
        gc.freeze()  # the inherited objects are never scanned (nor copied by it)
        _sending = fd
        _write(fd, _ANSWER, work())
        status = 0
    except BaseException:  # whatever failed, the parent does the work itself
        status = 1
    finally:
        os._exit(status)


_PR_SET_PDEATHSIG = 1
# The child's pipe: what it writes at once. Each frame: a tag (an item sent as the work
# goes, or the answer), the length, then the value as ``marshal`` writes it.
_PIPE_SIZE = 1 << 20
_HEAD = struct.Struct("<cQ")
_ITEM, _ANSWER = b"-", b"+"
_NONE = object()
# In a child: where it sends what it has (``None`` in any other process).
_sending: int | None = None


def send(item: Any) -> None:
    """From the work running in a child: send ``item`` (made of what ``marshal``
    writes) to the parent now, before the answer; the parent finds it in
    :attr:`Child.sent`. Outside a child, ``RuntimeError``."""
    if _sending is None:
        raise RuntimeError("send() is for the work running in a child")
    _write(_sending, _ITEM, item)


def _write(fd: int, tag: bytes, value: Any) -> None:
    data = marshal.dumps(value)
    for out in (memoryview(_HEAD.pack(tag, len(data))), memoryview(data)):
        while out:
            out = out[os.write(fd, out) :]


@functools.cache
def _prctl() -> Callable[..., int]:
    """The system's ``prctl``, found in this process before any fork: the child only
    calls it (loading a library after a fork could wait on a lock another thread held).
    ``OSError`` where the C library cannot be loaded."""
    import ctypes

    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except AttributeError as exc:  # pragma: no cover - every Linux C library has it
        raise OSError("prctl is missing") from exc
    return prctl
