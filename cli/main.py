"""The `gongkai` console script: what operators do by hand."""

import httpx
import typer
import uvicorn

from cli import admin, demo
from shared.settings import get_settings

app = typer.Typer(help="gongkai: proactive government information disclosure.", no_args_is_help=True)
app.add_typer(admin.app, name="admin")
app.command("demo")(demo.demo)


@app.command()
def ready(services: list[str] = typer.Argument(help="ingest, review, publish, stats or sandbox")) -> None:
    """Exit 0 when every named service answers /readyz (used by make up and compose healthchecks)."""
    settings = get_settings()
    for service in services:
        url = f"http://127.0.0.1:{settings.port_of(service)}/readyz"
        try:
            httpx.get(url, timeout=3).raise_for_status()
        except httpx.HTTPError as error:
            typer.echo(f"{service} not ready: {error}", err=True)
            raise typer.Exit(1) from error


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
