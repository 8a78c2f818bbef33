"""The services' bounded runner: admission answered at once, deadlines, release."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from leakguard.core import Deadline
from leakguard.runner import Busy, Overdue, Runner


def test_work_gets_a_deadline_of_the_time_budget() -> None:
    runner = Runner(workers=1, max_pending=2, max_bytes=100, time_budget=5.0)
    seen: list[Deadline] = []

    def work(deadline: Deadline) -> str:
        seen.append(deadline)
        return "done"

    assert asyncio.run(runner.run(work, size=10)) == "done"
    assert 4.0 < seen[0].remaining() <= 5.0
    assert runner.pending == 0 and runner.bytes_held == 0
    runner.close()


def test_full_runner_answers_busy_at_once_and_frees_its_place() -> None:
    runner = Runner(workers=1, max_pending=2, max_bytes=10**9, time_budget=5.0)
    gate = threading.Event()

    async def scenario() -> float:
        held = [asyncio.ensure_future(runner.run(lambda _: gate.wait(5))) for _ in range(2)]
        await asyncio.sleep(0.05)
        started = time.monotonic()
        with pytest.raises(Busy) as busy:
            await runner.run(lambda _: None)
        refused_in = time.monotonic() - started
        assert busy.value.reason == "pending" and busy.value.retry_after >= 1
        gate.set()
        await asyncio.gather(*held)
        await runner.run(lambda _: None)  # room again
        return refused_in

    assert asyncio.run(scenario()) < 0.05
    runner.close()


def test_memory_budget_refuses_a_second_large_input_but_not_the_first() -> None:
    runner = Runner(workers=2, max_pending=10, max_bytes=1000, time_budget=5.0, footprint=2)
    gate = threading.Event()

    async def scenario() -> None:
        first = asyncio.ensure_future(runner.run(lambda _: gate.wait(5), size=4000))
        await asyncio.sleep(0.05)
        assert runner.bytes_held == 8000  # alone, it is admitted whatever its size
        with pytest.raises(Busy) as busy:
            await runner.run(lambda _: None, size=10)
        assert busy.value.reason == "memory"
        gate.set()
        await first
        assert runner.bytes_held == 0

    asyncio.run(scenario())
    runner.close()


def test_overdue_work_counts_until_its_thread_ends() -> None:
    runner = Runner(workers=1, max_pending=1, max_bytes=100, time_budget=0.1, grace=0.1)
    gate = threading.Event()

    async def scenario() -> None:
        with pytest.raises(Overdue):
            await runner.run(lambda _: gate.wait(5))
        # Its answer was given up on, but the thread still runs: no room yet.
        with pytest.raises(Busy):
            await runner.run(lambda _: None)
        gate.set()
        for _ in range(100):
            if runner.pending == 0:
                break
            await asyncio.sleep(0.01)
        assert runner.pending == 0

    asyncio.run(scenario())
    runner.close()


def test_errors_of_the_work_reach_the_caller_and_release() -> None:
    runner = Runner(workers=1, max_pending=1, max_bytes=100, time_budget=1.0)

    def work(_: Deadline) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        asyncio.run(runner.run(work))
    assert runner.pending == 0
    runner.close()


def test_bounds_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Runner(workers=0, max_pending=1, max_bytes=1, time_budget=1)


def test_a_place_held_before_the_input_counts_its_bytes_as_they_arrive() -> None:
    runner = Runner(workers=1, max_pending=4, max_bytes=1000, time_budget=5.0, footprint=1)
    first = runner.admit(600)
    assert (runner.pending, runner.bytes_held) == (1, 600)
    with pytest.raises(Busy) as busy:
        runner.admit(500)  # would pass the budget: refused before a byte of it is read
    assert busy.value.reason == "memory"
    second = runner.admit()  # size unknown yet (a chunked body): counted as it arrives
    second.grow(300)
    assert runner.bytes_held == 900
    with pytest.raises(Busy):
        second.grow(500)
    assert runner.bytes_held == 900  # the refused growth was not counted
    second.release()
    second.release()  # twice is harmless
    assert (runner.pending, runner.bytes_held) == (1, 600)
    first.grow(5000)  # alone, a check may grow past the budget: the size limit bounds it
    assert runner.bytes_held == 5000
    with first:
        pass
    assert (runner.pending, runner.bytes_held) == (0, 0)
    runner.close()


def test_run_takes_over_a_held_place_and_a_deadline_already_running() -> None:
    runner = Runner(workers=1, max_pending=1, max_bytes=100, time_budget=5.0, grace=0.1)
    started = Deadline.after(0.3)  # e.g. when the request arrived
    gate = threading.Event()
    seen: list[Deadline] = []

    def work(deadline: Deadline) -> None:
        seen.append(deadline)
        gate.wait(5)

    async def scenario() -> float:
        place = runner.admit(10)
        t0 = time.monotonic()
        with pytest.raises(Overdue):
            await runner.run(work, admission=place, deadline=started)
        took = time.monotonic() - t0
        place.release()  # run owns it now: this does not free it early
        assert runner.pending == 1
        with pytest.raises(ValueError):
            await runner.run(work, admission=place)
        gate.set()
        for _ in range(100):
            if runner.pending == 0:
                break
            await asyncio.sleep(0.01)
        assert (runner.pending, runner.bytes_held) == (0, 0)
        return took

    assert asyncio.run(scenario()) < 0.3 + 0.1 + 0.15
    assert seen == [started]
    runner.close()
