"""The `gongkai` console script: what operators do by hand."""

import time

import httpx
import typer
import uvicorn
from pymongo.errors import ServerSelectionTimeoutError

from cli import admin, audit, demo, dlq, history, stats
from shared.settings import get_settings

app = typer.Typer(
    help="gongkai: proactive government information disclosure.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
UNREACHABLE = 2  # exit code: a server the command needs does not answer
app.add_typer(admin.app, name="admin")
app.add_typer(audit.app, name="audit")
app.add_typer(dlq.app, name="dlq")
app.add_typer(stats.app, name="stats")
app.command("demo")(demo.demo)
app.command("import", epilog=history.COLUMNS_HELP)(history.import_history)


@app.command()
def ready(
    services: list[str] = typer.Argument(help="ingest, review, publish, stats or sandbox"),
    wait: float = typer.Option(0, help="Seconds to keep trying before giving up"),
) -> None:
    """Exit 0 once every named service answers /readyz (make up and the compose healthchecks)."""
    settings = get_settings()
    deadline = time.monotonic() + wait
    for service in services:
        url = f"http://127.0.0.1:{settings.port_of(service)}/readyz"
        while True:
            try:
                httpx.get(url, timeout=3).raise_for_status()
                break
            except httpx.HTTPError as error:
                if time.monotonic() >= deadline:
                    typer.echo(f"{service} not ready: {error}", err=True)
                    raise typer.Exit(1) from error
                time.sleep(0.3)


sandbox = typer.Typer(help="Stand-ins for external systems, for development and demos.", no_args_is_help=True)
app.add_typer(sandbox, name="sandbox")


@sandbox.command("platform")
def sandbox_platform(
    port: int = typer.Option(None, help="Port (default GONGKAI_SANDBOX_PORT, 8090)"),
) -> None:
    """Run the unified-platform sandbox: checks signatures, keeps and lists what it receives."""
    from sandbox.platform import create_sandbox

    settings = get_settings()
    port = port or settings.sandbox_port
    base_url = f"http://{settings.host}:{port}"
    uvicorn.run(
        create_sandbox(settings.platform_secret, base_url), host=settings.host, port=port, log_level="warning"
    )


def main() -> None:
    """The console script: unreachable servers are one clear line, not a traceback."""
    try:
        app()
    except ServerSelectionTimeoutError:
        typer.echo(
            f"gongkai: cannot reach MongoDB at {get_settings().mongodb_url} (is `make up` running?)", err=True
        )
        raise SystemExit(UNREACHABLE) from None
