import contextlib
import subprocess
import sys
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import pytest

from shared.settings import Settings
from tests.conftest import Identities, remove_namespace
from tests.support import ROOT, free_port, isolated_settings, settings_env

pytestmark = pytest.mark.e2e
SERVICES = ("ingest", "review", "publish", "stats")
LOGS = ROOT / "tests" / "artifacts" / "e2e"
STARTUP_SECONDS = 60  # and a quarter more for each process started at once (they share the cores)


def command_of(service: str) -> list[str]:
    if service == "sandbox":
        return [str(ROOT / ".venv/bin/gongkai"), "sandbox", "platform"]
    return [sys.executable, "-m", f"services.{service}"]


def service_of(process: str) -> str:
    """`ingest` for its replica `ingest-2`, `sandbox` for `sandbox`."""
    return process.split("-")[0]


@dataclass
class System:
    settings: Settings
    urls: dict[str, str]  # by service; every replica of a service serves its URL (SO_REUSEPORT)
    processes: dict[str, subprocess.Popen]  # by process: `sandbox`, `ingest-1`, `ingest-2`…
    identities: Identities

    def replicas(self, service: str) -> list[str]:
        return [name for name in self.processes if service_of(name) == service]

    def start(self, *names: str) -> None:
        """Start these processes (again, after a kill or a stop) and wait until each serves."""
        env = settings_env(self.settings)
        for name in names:
            self.processes[name] = _start(name, command_of(service_of(name)), env)
        urls = {name: self.urls[service_of(name)] for name in names}
        _wait_ready(urls, self.processes, STARTUP_SECONDS * (1 + len(names) / 4))

    def kill(self, *names: str) -> None:
        """SIGKILL: no chance to finish, acknowledge or clean up anything."""
        for name in names:
            self.processes[name].kill()
        for name in names:
            self.processes[name].wait(10)

    def stop(self, *names: str) -> None:
        for name in names:
            self.processes[name].terminate()
        for name in names:
            self.processes[name].wait(15)


def _start(name: str, command: list[str], env: dict) -> subprocess.Popen:
    LOGS.mkdir(parents=True, exist_ok=True)
    log = open(LOGS / f"{name}.log", "ab")
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def _listens(pid: int, port: int) -> bool:
    """Does process `pid` itself listen on `port`? Replicas share a port (SO_REUSEPORT), so
    /readyz there may be answered by another one; a replica listens once its startup is done."""
    sockets = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True).stdout
    return f"pid={pid}," in sockets


def _wait_ready(
    urls: dict[str, str], processes: dict[str, subprocess.Popen], seconds: float = STARTUP_SECONDS
) -> None:
    """Wait until the process of each name answers /readyz at its URL and listens there itself."""
    deadline = time.monotonic() + seconds
    for name, url in urls.items():
        while True:
            if processes[name].poll() is not None:
                raise RuntimeError(f"{name} exited with {processes[name].returncode}; see {LOGS}/{name}.log")
            try:
                ready = httpx.get(f"{url}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                ready = False
            if ready and _listens(processes[name].pid, urlsplit(url).port):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} not ready after {seconds}s; see {LOGS}/{name}.log")
            time.sleep(0.2)


@contextlib.asynccontextmanager
async def running_system(servers, replicas: int = 1, **overrides):
    """The four services, `replicas` processes of each, and the platform sandbox, as separate
    processes in a namespace of their own."""
    ports = {name: free_port() for name in (*SERVICES, "sandbox")}
    settings = isolated_settings(
        servers,
        platform_url=f"http://127.0.0.1:{ports['sandbox']}",
        portal_base_url=f"http://127.0.0.1:{ports['publish']}",
        attachments_base_url=f"http://127.0.0.1:{ports['ingest']}",
        **{f"{name}_port": port for name, port in ports.items()},
        **overrides,
    )
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    system = System(settings, urls, {}, Identities(settings))
    try:
        system.start("sandbox", *(f"{s}-{n}" for s in SERVICES for n in range(1, replicas + 1)))
        yield system
    finally:
        system.stop(*system.processes)
        await remove_namespace(settings)


@pytest.fixture(scope="module")
async def system(servers):
    """The four services and the platform sandbox as separate processes, in a namespace of their own."""
    async with running_system(servers, office_name="场景镇人民政府") as system:
        yield system
