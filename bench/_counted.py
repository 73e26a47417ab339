"""A gongkai service run with every database command it sends counted, for benches:
`python -m bench._counted NAME`. FerretDB keeps no per-client counters (its serverStatus counts
every client of the shared server together), so each process counts its own with a pymongo
command listener, with the time each took to be answered; on SIGUSR1 it writes the counts and
milliseconds so far, by command and collection, to `$GONGKAI_BENCH_COUNTS/<pid>.json`."""

import json
import os
import runpy
import signal
import sys
from collections import Counter
from pathlib import Path

from pymongo import monitoring

WRITES = {"insert", "update", "delete", "findAndModify"}


class Counting(monitoring.CommandListener):
    def __init__(self):
        self.counts: Counter[str] = Counter()
        self.milliseconds: Counter[str] = Counter()
        self.keys: dict[int, str] = {}  # request id → its key, until answered

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        collection = event.command.get(event.command_name)
        where = f"{event.database_name}.{collection}" if isinstance(collection, str) else event.database_name
        key = self.keys[event.request_id] = f"{event.command_name} {where}"
        self.counts[key] += 1

    def succeeded(self, event) -> None:
        self.answered(event)

    def failed(self, event) -> None:
        self.answered(event)

    def answered(self, event) -> None:
        if (key := self.keys.pop(event.request_id, None)) is not None:
            self.milliseconds[key] += event.duration_micros / 1000


def write_counts(counting: Counting) -> None:
    path = Path(os.environ["GONGKAI_BENCH_COUNTS"]) / f"{os.getpid()}.json"
    path.write_text(json.dumps({"counts": counting.counts, "milliseconds": counting.milliseconds}))


def main(name: str) -> None:
    counting = Counting()
    monitoring.register(counting)
    signal.signal(signal.SIGUSR1, lambda *_: write_counts(counting))
    runpy.run_module(f"services.{name}", run_name="__main__", alter_sys=True)


if __name__ == "__main__":  # not when a worker process imports this module again
    main(sys.argv[1])
