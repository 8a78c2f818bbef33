"""The forked child that reads most of a long text: its answer comes back whole,
a failure of any kind leaves the caller to do the work, and no process outlives it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from leakguard import _child
from leakguard.core import Deadline, DeadlineExceeded

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="children are forked on Linux")


@pytest.fixture(autouse=True)
def _may_fork(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # The test process may hold a thread another test left (a server's): the rule is
    # tested on its own below; here a child is always allowed.
    monkeypatch.setattr(_child, "_one_thread", lambda: True)
    monkeypatch.delenv(_child.ENV, raising=False)
    monkeypatch.setattr(_child, "_forbidden", False)
    monkeypatch.setattr(_child, "_cores", lambda: 2)
    yield


def _gone(pid: int) -> bool:
    """True when ``pid`` is no child of this process any more (it was waited for)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def _started(work: object) -> _child.Child[object]:
    child = _child.Child.start(work)  # type: ignore[arg-type]
    assert child is not None
    return child


def test_the_answer_comes_back_whole_and_the_child_is_waited_for() -> None:
    answer = [("nir", "1 ** ** ** *** *** 42", "ab" * 10, 0.9)] * 50_000 + [(1, 2.5, None)]
    child = _started(lambda: (answer, False))
    pid = child._pid
    assert pid is not None and pid != os.getpid()
    assert child.result() == (answer, False)
    assert _gone(pid)


def test_the_child_computes_in_its_own_process() -> None:
    parent = os.getpid()
    assert _started(os.getpid).result() != parent


@pytest.mark.parametrize(
    "work",
    [
        pytest.param(lambda: 1 / 0, id="raises"),
        pytest.param(lambda: object(), id="answer-marshal-cannot-write"),
        pytest.param(lambda: os.kill(os.getpid(), 9), id="killed"),
        pytest.param(lambda: os._exit(0), id="ends-without-a-word"),
        pytest.param(lambda: sys.exit(3), id="exits"),
    ],
)
def test_a_child_that_fails_leaves_the_work_to_the_caller(work: object) -> None:
    child = _started(work)
    pid = child._pid
    with pytest.raises(_child.ChildFailed):
        child.result()
    assert pid is not None and _gone(pid)


def test_a_deadline_passing_while_waiting_kills_the_child() -> None:
    child = _started(lambda: time.sleep(30))
    pid = child._pid
    begin = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        child.result(Deadline.after(0.3))
    assert time.monotonic() - begin < 5
    assert pid is not None and _gone(pid)


def test_closing_kills_a_child_still_at_work_and_waits_for_it() -> None:
    child = _started(lambda: time.sleep(30))
    pid = child._pid
    begin = time.monotonic()
    child.close()
    assert time.monotonic() - begin < 5
    assert pid is not None and _gone(pid)
    with pytest.raises(_child.ChildFailed):
        child.result()
    child.close()  # twice: nothing more


def test_no_child_where_the_rules_forbid_one(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _child.allowed()
    monkeypatch.setenv(_child.ENV, "1")
    assert not _child.allowed() and _child.Child.start(lambda: 1) is None
    monkeypatch.setenv(_child.ENV, "2")
    assert _child.allowed()
    monkeypatch.setattr(_child, "_cores", lambda: 1)
    assert not _child.allowed()
    monkeypatch.setattr(_child, "_cores", lambda: 4)
    _child.forbid()
    assert not _child.allowed()


def test_no_child_beside_a_second_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    monkeypatch.undo()  # the real rule
    monkeypatch.setattr(_child, "_cores", lambda: 2)
    monkeypatch.delenv(_child.ENV, raising=False)
    monkeypatch.setattr(_child, "_forbidden", False)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not _child.allowed()
        assert _child.Child.start(lambda: 1) is None
    finally:
        stop.set()
        other.join()


_BUFFERS = """
import atexit, sys
from leakguard import _child
atexit.register(lambda: sys.stdout.write("[exit handler]"))
sys.stdout.write("[written before the fork]")  # held in the buffer of a pipe
child = _child.Child.start(lambda: 7)
print("[answer %s]" % (child.result() if child else "none"))
"""


def test_the_child_runs_no_exit_handler_and_writes_no_buffer() -> None:
    env = dict(os.environ)
    env.pop(_child.ENV, None)
    done = subprocess.run(
        [sys.executable, "-c", _BUFFERS],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    answer = "7" if len(os.sched_getaffinity(0)) >= 2 else "none"
    assert done.stdout == f"[written before the fork][answer {answer}]\n[exit handler]"


_ORPHAN = """
import sys, time
from leakguard import _child
child = _child.Child.start(lambda: time.sleep(60))
print(child._pid if child else "none", flush=True)
time.sleep(60)
"""


def _dead(pid: int) -> bool:
    """True when ``pid`` has ended (gone, or a zombie nobody has waited for yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


@pytest.mark.parametrize("signal_name", ["SIGKILL", "SIGTERM"])
def test_the_child_ends_when_its_parent_is_killed(signal_name: str) -> None:
    import signal

    env = dict(os.environ)
    env.pop(_child.ENV, None)
    parent = subprocess.Popen(
        [sys.executable, "-c", _ORPHAN], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline().strip()
        if len(os.sched_getaffinity(0)) < 2:
            assert line == "none"
            return
        pid = int(line)
        assert not _dead(pid)
        parent.send_signal(getattr(signal, signal_name))
        parent.wait(timeout=10)
        limit = time.monotonic() + 5
        while not _dead(pid) and time.monotonic() < limit:
            time.sleep(0.02)
        assert _dead(pid), "the child outlived its parent"
    finally:
        parent.kill()
        parent.communicate()


def test_the_answer_is_read_whatever_the_number_of_open_files() -> None:
    # A process holding more than a thousand descriptors (a service's sockets, a batch's
    # files) gets a pipe ``select`` could not watch.
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 1200
    if soft < wanted and (hard == resource.RLIM_INFINITY or hard >= wanted):
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    held: list[int] = []
    try:
        with Path(os.devnull).open("rb") as null:
            while len(held) < 1100:
                try:
                    held.append(os.dup(null.fileno()))
                except OSError:
                    break
            child = _started(lambda: "answer")
            assert child._fd is not None and (len(held) < 1100 or child._fd > 1024)
            assert child.result(Deadline.after(30)) == "answer"
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_each_turn_is_taken_by_one_process_only() -> None:
    # Both take turns as fast as they can: together they take each one, once.
    for _ in range(20):
        turns = _child.Turns(200)
        child = _started(lambda turns=turns: sum(turns.take(1 + i % 3) for i in range(300)))
        mine = sum(turns.take(1 + i % 2) for i in range(300))
        theirs = child.result()
        turns.close()
        assert mine + theirs == 200, f"{mine} + {theirs} turns taken of 200"
    # Several at once, as many as are left at most; how many are left; none left, or
    # closed: no turn, at once.
    turns = _child.Turns(10)
    assert turns.left() == 10
    assert turns.take(4) == 4 and turns.left() == 6
    assert turns.take(8) == 6 and turns.left() == 0
    assert turns.take() == 0
    turns.close()
    assert turns.take() == 0 and turns.left() == 0


def test_what_the_child_sends_as_it_goes_comes_before_its_answer() -> None:
    def work() -> str:
        for i in range(3):
            _child.send([i, "x" * 200_000])  # more than a pipe holds at once
        time.sleep(0.3)
        return "done"

    child = _started(work)
    time.sleep(0.15)
    child.receive()  # while the child still works: what it sent is taken in
    assert [item[0] for item in child.sent] == [0, 1, 2]
    assert child.result() == "done"
    assert [item[0] for item in child.sent] == [0, 1, 2]


def test_a_child_that_sends_what_no_child_writes_fails() -> None:
    def work() -> str:
        _child.send("first")
        fd = _child._sending
        assert fd is not None
        os.write(fd, b"?" * 64)
        return "never read"

    child = _started(work)
    time.sleep(0.1)
    child.receive()  # ends the child, says nothing
    with pytest.raises(_child.ChildFailed):
        child.result()
    child = _started(work)
    with pytest.raises(_child.ChildFailed):
        child.result()


def test_send_is_for_a_child_only() -> None:
    with pytest.raises(RuntimeError):
        _child.send("x")
