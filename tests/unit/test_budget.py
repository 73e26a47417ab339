"""The budget that keeps hostile input from stalling a service: real worker processes."""

import asyncio
import time

import pytest

from shared.budget import Budget, OverBudget, WorkerPool


def sleep_for(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def allocate(size: int) -> int:
    return len(bytearray(size))


def fail() -> None:
    raise ValueError("refused")


@pytest.fixture
async def pool():
    pool = WorkerPool(2, Budget(seconds=1.5, memory_bytes=512 * 2**20), preload=(__name__,))
    yield pool
    pool.close()


async def test_a_call_answers_its_result(pool):
    assert await pool.run(allocate, 1000) == 1000


async def test_work_over_its_time_is_stopped_and_the_pool_goes_on(pool):
    # Work that would outlast the suite's timeout (180 s) many times over: only its stop ends the test.
    with pytest.raises(OverBudget, match="longer than"):
        await pool.run(sleep_for, 3600)
    assert await pool.run(sleep_for, 0.01) == 0.01


async def test_work_over_its_memory_is_refused_and_the_pool_goes_on(pool):
    with pytest.raises(OverBudget, match="MB"):
        await pool.run(allocate, 2**30)
    assert await pool.run(allocate, 10) == 10


async def test_a_failure_is_an_error_not_a_budget(pool):
    with pytest.raises(RuntimeError, match="refused"):
        await pool.run(fail)


async def test_the_event_loop_runs_while_work_does(pool):
    # Ordering, not timing: a request answered while the work runs is answered before it ends.
    work = asyncio.gather(pool.run(sleep_for, 0.5), pool.run(sleep_for, 0.5))
    await asyncio.sleep(0.05)
    assert not work.done()
    await work
