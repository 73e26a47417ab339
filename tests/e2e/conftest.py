import subprocess
import sys
import time
from dataclasses import dataclass

import httpx
import pytest

from shared.settings import Settings
from tests.conftest import Identities, remove_namespace
from tests.support import ROOT, free_port, isolated_settings, settings_env

pytestmark = pytest.mark.e2e
SERVICES = ("ingest", "review", "publish", "stats")
LOGS = ROOT / "tests" / "artifacts" / "e2e"


@dataclass
class System:
    settings: Settings
    urls: dict[str, str]
    processes: dict[str, subprocess.Popen]
    identities: Identities


def _start(name: str, command: list[str], env: dict) -> subprocess.Popen:
    LOGS.mkdir(parents=True, exist_ok=True)
    log = open(LOGS / f"{name}.log", "ab")
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def _wait_ready(urls: dict[str, str], processes: dict[str, subprocess.Popen], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    for name, url in urls.items():
        while True:
            if processes[name].poll() is not None:
                raise RuntimeError(f"{name} exited with {processes[name].returncode}; see {LOGS}/{name}.log")
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} not ready after {seconds}s; see {LOGS}/{name}.log")
            time.sleep(0.2)


@pytest.fixture(scope="module")
async def system(servers):
    """The four services and the platform sandbox as separate processes, in a namespace of their own."""
    ports = {name: free_port() for name in (*SERVICES, "sandbox")}
    settings = isolated_settings(
        servers,
        platform_url=f"http://127.0.0.1:{ports['sandbox']}",
        portal_base_url=f"http://127.0.0.1:{ports['publish']}",
        attachments_base_url=f"http://127.0.0.1:{ports['ingest']}",
        office_name="场景镇人民政府",
        **{f"{name}_port": port for name, port in ports.items()},
    )
    env = settings_env(settings)
    processes = {"sandbox": _start("sandbox", [str(ROOT / ".venv/bin/gongkai"), "sandbox", "platform"], env)}
    for name in SERVICES:
        processes[name] = _start(name, [sys.executable, "-m", f"services.{name}"], env)
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    try:
        _wait_ready(urls, processes)
        yield System(settings, urls, processes, Identities(settings))
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            process.wait(15)
        await remove_namespace(settings)
