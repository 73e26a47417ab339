"""A poll interval that a local write can cut short: background loops wait on it between passes."""

import asyncio
import contextlib


class Wakeup:
    def __init__(self, seconds: float):
        self._seconds = seconds
        self._event = asyncio.Event()

    def set(self) -> None:
        self._event.set()

    async def wait(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), self._seconds)
        self._event.clear()
