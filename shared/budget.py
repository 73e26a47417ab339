"""Work on hostile input that must never stall a service: a pure function run in a worker process
of its own, with a time and a memory budget.

A worker that runs out of time is killed and replaced; one that runs out of memory answers with
`MemoryError` (its address space is capped) or dies. Either way the caller gets `OverBudget` and
the service's event loop — its API, console and consumer — never waited on the work itself.
Workers are started with `spawn`, never forked from a process that runs threads and an event loop.
"""

import asyncio
import contextlib
import importlib
import multiprocessing
import resource
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import structlog

log = structlog.get_logger(__name__)
_CONTEXT = multiprocessing.get_context("spawn")


@dataclass(frozen=True)
class Budget:
    seconds: float  # wall time of one call
    memory_bytes: int  # the worker's whole address space (the interpreter's own ~150 MB included)


class OverBudget(Exception):
    """The work did not finish within its budget: `reason` says which (time, memory, crash)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _serve(connection: Connection, memory_bytes: int, preload: tuple[str, ...]) -> None:
    """A worker's life: run each call it is sent, answer its result or why it failed."""
    for module in preload:
        importlib.import_module(module)
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    connection.send("ready")  # its start (the imports) is not counted against any call's time
    while True:
        try:
            function, args = connection.recv()
        except EOFError:
            return
        try:
            connection.send(("ok", function(*args)))
        except MemoryError:
            connection.send(("memory", None))
        except Exception as error:  # the caller decides; the worker lives on
            connection.send(("error", f"{type(error).__name__}: {error}"))


class _Worker:
    def __init__(self, memory_bytes: int, preload: tuple[str, ...]):
        self.connection, child = _CONTEXT.Pipe()
        self.process = _CONTEXT.Process(target=_serve, args=(child, memory_bytes, preload), daemon=True)
        self.process.start()
        child.close()
        if self.connection.recv() != "ready":
            raise OSError("the worker did not start")

    def kill(self) -> None:
        self.process.kill()  # its pipe closes with it, which ends any wait for its answer
        self.process.join(5)


class WorkerPool:
    """Up to `workers` calls at once, each in a process of its own, each within `budget`. The
    modules named in `preload` (those of the functions it runs) are imported as a worker starts."""

    def __init__(self, workers: int, budget: Budget, preload: tuple[str, ...] = ()):
        self.budget, self._preload = budget, preload
        self._idle: asyncio.Queue[_Worker] = asyncio.Queue()
        self._all: set[_Worker] = set()
        self._slots = asyncio.Semaphore(workers)

    async def run(self, function: Callable[..., Any], *args: Any) -> Any:
        """`function(*args)` in a worker (a module-level function: it travels by name)."""
        async with self._slots:
            worker = self._idle.get_nowait() if not self._idle.empty() else await self._start()
            try:
                status, value = await asyncio.wait_for(
                    self._call(worker, function, args), self.budget.seconds
                )
            except TimeoutError:
                self._discard(worker)
                raise OverBudget(f"took longer than {self.budget.seconds:g} s") from None
            except (EOFError, OSError):
                self._discard(worker)
                raise OverBudget("the worker died (out of memory or crashed)") from None
            except BaseException:  # cancelled mid-call: the worker may still be busy with it
                self._discard(worker)
                raise
            self._idle.put_nowait(worker)
        if status == "memory":
            raise OverBudget(f"needed more than {self.budget.memory_bytes // 2**20} MB")
        if status == "error":
            raise RuntimeError(value)
        return value

    async def _start(self) -> _Worker:
        worker = await asyncio.to_thread(_Worker, self.budget.memory_bytes, self._preload)
        self._all.add(worker)
        return worker

    @staticmethod
    async def _call(worker: _Worker, function: Callable, args: tuple) -> tuple[str, Any]:
        def exchange():
            worker.connection.send((function, args))
            return worker.connection.recv()

        return await asyncio.to_thread(exchange)

    def _discard(self, worker: _Worker) -> None:
        self._all.discard(worker)
        worker.kill()  # also ends the thread still waiting on its answer

    def close(self) -> None:
        for worker in list(self._all):
            with contextlib.suppress(Exception):
                worker.kill()
        self._all.clear()
