"""What the benches that run gongkai's processes share: a service started as a process in a
namespace of its own, on the local RabbitMQ and FerretDB, and that namespace removed after."""

import contextlib
import os
import subprocess
import sys
from pathlib import Path

from shared.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
GONGKAI = str(ROOT / ".venv/bin/gongkai")


def env_of(settings: Settings) -> dict[str, str]:
    return {**os.environ, **settings.as_environment()}


@contextlib.contextmanager
def running(settings: Settings, *command: str, ready: str, env: dict[str, str] | None = None):
    """`command` as a process with `settings` (and `env`), once `gongkai ready <ready>` answers."""
    env = {**env_of(settings), **(env or {})}
    process = subprocess.Popen(
        list(command), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        subprocess.run([GONGKAI, "ready", ready, "--wait", "30"], env=env, check=True)
        yield process
    finally:
        process.terminate()
        process.wait(15)


def service(settings: Settings, name: str):
    return running(settings, sys.executable, "-m", f"services.{name}", ready=name)


def drop_databases(settings: Settings, *owners: str) -> None:
    drop = "import pymongo, sys; c = pymongo.MongoClient(sys.argv[1]); [c.drop_database(n) for n in sys.argv[2:]]"
    names = [settings.database_name(owner) for owner in owners]
    subprocess.run([sys.executable, "-c", drop, settings.mongodb_url, *names], check=False)
