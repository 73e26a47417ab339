"""`gongkai audit verify`: check every link of the review audit chain (谁审查、谁负责)."""

import asyncio
import json

import typer

from cli.command import App
from shared.audit import AuditChain
from shared.ledger import Verdict
from shared.mongo import connect, database_of
from shared.settings import get_settings

app = App(help="The audit trail of screening results and review decisions.")


async def _verify() -> tuple[Verdict, dict | None]:
    settings = get_settings()
    client = connect(settings)
    try:
        chain = AuditChain(database_of(client, settings, "review").audit)
        return await chain.verify()
    finally:
        await client.close()


@app.command()
def verify(as_json: bool = typer.Option(False, "--json", help="Print the verdict as JSON")) -> None:
    """Verify every link of the chain: exit 0 when intact, 1 at the first broken link.

    Entries appended while it runs are checked too, and counted."""
    verdict, head = asyncio.run(_verify())
    head_hash = head["hash"] if head else None
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "intact": verdict.intact,
                    "verified": verdict.verified,
                    "broken_at": verdict.broken_at,
                    "reason": verdict.reason,
                    "head": head_hash,
                    "appended_while_verifying": verdict.appended,
                }
            )
        )
    elif verdict.intact:
        typer.echo(
            f"audit chain intact: {verdict.verified} entries verified; head {head_hash}; "
            f"{verdict.appended} appended while verifying"
        )
        typer.echo("(keep the head hash somewhere else too: it proves the chain up to here later)")
    else:
        typer.echo(
            f"audit chain BROKEN at entry {verdict.broken_at}: {verdict.reason} "
            f"({verdict.verified} entries before it verified)",
            err=True,
        )
    raise typer.Exit(0 if verdict.intact else 1)
