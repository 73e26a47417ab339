"""The `gongkai` console script: what operators do by hand.

Exit codes: 0 done, 1 the answer is "no" (not ready, chain broken), 2 bad usage or a server the
command needs does not answer, 3 an import file with errors."""

import json
import time
from importlib.metadata import version

import httpx
import typer
import uvicorn
from aio_pika.exceptions import AMQPConnectionError
from pydantic import ValidationError
from pymongo.errors import ServerSelectionTimeoutError

from cli import admin, audit, demo, dlq, history, stats
from cli.command import App, one_of
from shared.settings import Settings, get_settings

app = App()
UNREACHABLE = 2  # exit code: a server the command needs does not answer
USAGE = 2  # exit code of every usage error (click's)
SERVICES = ("ingest", "review", "publish", "stats", "sandbox")
app.add_typer(admin.app, name="admin")
app.add_typer(audit.app, name="audit")
app.add_typer(dlq.app, name="dlq")
app.add_typer(stats.app, name="stats")
app.command("demo")(demo.demo)
app.command("import", epilog=history.COLUMNS_HELP)(history.import_history)


def _version(shown: bool) -> None:
    if shown:
        typer.echo(f"gongkai {version('gongkai')}")
        raise typer.Exit()


@app.callback()
def gongkai(
    _: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """gongkai: proactive government information disclosure."""


def _ready(url: str, deadline: float) -> str | None:
    """None once `url` answers 2xx, else the last error when `deadline` has passed."""
    while True:
        try:
            httpx.get(url, timeout=3).raise_for_status()
            return None
        except httpx.HTTPError as error:
            if time.monotonic() >= deadline:
                return str(error)
            time.sleep(0.3)


@app.command()
def ready(
    services: list[str] = typer.Argument(help=f"Any of {', '.join(SERVICES)}", callback=one_of(SERVICES)),
    wait: float = typer.Option(0, min=0, help="Seconds to keep trying before giving up"),
    as_json: bool = typer.Option(False, "--json", help="Print each service's state as JSON"),
) -> None:
    """Exit 0 once every named service answers /readyz, else 1.

    What make up and the compose healthchecks wait for."""
    settings = get_settings()
    deadline = time.monotonic() + wait
    errors = {s: _ready(f"http://127.0.0.1:{settings.port_of(s)}/readyz", deadline) for s in services}
    if as_json:
        typer.echo(json.dumps({s: {"ready": e is None, "error": e} for s, e in errors.items()}))
    for service, error in errors.items():
        if error is not None and not as_json:
            typer.echo(f"{service} not ready: {error}", err=True)
    raise typer.Exit(0 if all(e is None for e in errors.values()) else 1)


sandbox = App(help="Stand-ins for external systems, for development and demos.")
app.add_typer(sandbox, name="sandbox")


@sandbox.command("platform")
def sandbox_platform(
    port: int = typer.Option(None, min=1, max=65535, help="Port (default GONGKAI_SANDBOX_PORT, 8090)"),
) -> None:
    """Run the unified-platform sandbox.

    It checks the signature of every push, keeps what it receives and lists it at /items."""
    from sandbox.platform import create_sandbox

    settings = get_settings()
    port = port or settings.sandbox_port
    base_url = f"http://{settings.host}:{port}"
    uvicorn.run(
        create_sandbox(settings.platform_secret, base_url), host=settings.host, port=port, log_level="warning"
    )


def _fail(message: str, code: int) -> None:
    typer.echo(f"gongkai: {message}", err=True)
    raise SystemExit(code)


def _setting_problems(error: ValidationError) -> str:
    """Each refused value named by its environment variable."""
    return "; ".join(f"GONGKAI_{str(e['loc'][0]).upper()}: {e['msg']}" for e in error.errors())


def main() -> None:
    """The console script: unreachable servers and bad settings are one clear line, not a traceback."""
    try:
        app()
    except ValidationError as error:
        if error.title != Settings.__name__:
            raise
        _fail(f"invalid setting: {_setting_problems(error)}", USAGE)
    except ServerSelectionTimeoutError:
        _fail(f"cannot reach MongoDB at {get_settings().mongodb_url} (is `make up` running?)", UNREACHABLE)
    except (AMQPConnectionError, ConnectionError):
        # the URL is not shown: it holds the broker's password
        _fail("cannot reach RabbitMQ at GONGKAI_RABBITMQ_URL (is `make up` running?)", UNREACHABLE)
    except httpx.TransportError as error:
        _fail(f"a service does not answer: {error} (is `make up` running?)", UNREACHABLE)
