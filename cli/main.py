"""The `gongkai` console script: what operators do by hand."""

import typer
import uvicorn

from cli import admin, demo
from shared.settings import get_settings

app = typer.Typer(help="gongkai: proactive government information disclosure.", no_args_is_help=True)
app.add_typer(admin.app, name="admin")
app.command("demo")(demo.demo)

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
