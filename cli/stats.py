"""`gongkai stats rebuild`: recompute the statistics from the archive of every event."""

import asyncio
import json
from contextlib import asynccontextmanager

import typer

from cli.command import App
from services.stats.domain import Aggregate, Scope, nested
from services.stats.store import StatsStore
from shared.mongo import connect, database_of
from shared.settings import get_settings

app = App(help="Statistics for the annual report.")


@asynccontextmanager
async def stats_store():
    """The stats service's own store, as the operator's commands use it."""
    settings = get_settings()
    client = connect(settings)
    try:
        yield StatsStore(database_of(client, settings, "stats"))
    finally:
        await client.close()


async def _rebuild(year: int | None) -> dict[int, dict]:
    async with stats_store() as store:

        def progress(done: int, total: int) -> None:
            typer.echo(f"  read {done:,} of {total:,} archived events", err=True)

        result = (
            Aggregate()
        )  # every year's events, even for one: an item's first publication may be in another
        async for event in store.archived(None, progress):
            result.count(event)
        await store.replace_counts(result, year)
        return {
            scope.year: nested(counts)
            for scope, counts in result.counters.items()
            if scope == Scope(scope.year) and (year is None or scope.year == year)
        }


@app.command()
def rebuild(
    year: int = typer.Option(
        None,
        min=2000,
        max=2100,
        help="Replace only this year's figures (default: every year's); the whole archive is read, since an item's first publication may lie in another year",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the rebuilt counters as JSON"),
) -> None:
    """Recompute every figure from the archived events.

    The live counters are replaced. Stop the stats service first (make down, or stop its
    process): events it counted meanwhile would be lost."""
    rebuilt = asyncio.run(_rebuild(year))
    if as_json:
        typer.echo(json.dumps({str(y): c for y, c in rebuilt.items()}, ensure_ascii=False))
        return
    for each, counters in sorted(rebuilt.items()):
        published = counters.get("published", {})
        typer.echo(
            f"{each}: {published.get('total', 0)} publications of {published.get('items', 0)} items rebuilt"
        )
