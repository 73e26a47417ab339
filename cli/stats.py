"""`gongkai stats rebuild`: recompute the statistics from the archive of every event."""

import asyncio
import json
from contextlib import asynccontextmanager

import typer

from cli.command import App
from services.stats.domain import Aggregate, Difference, Scope, differences, flattened, nested
from services.stats.store import StatsStore
from shared.mongo import connect, database_of
from shared.settings import get_settings

app = App(help="Statistics for the annual report.")
DIFFERENT = 1  # exit code of --check: a live figure differs from its rebuild


@asynccontextmanager
async def stats_store():
    """The stats service's own store, as the operator's commands use it."""
    settings = get_settings()
    client = connect(settings)
    try:
        yield StatsStore(database_of(client, settings, "stats"))
    finally:
        await client.close()


def _progress(done: int, total: int) -> None:
    typer.echo(f"  read {done:,} of {total:,} archived events", err=True)


async def _rebuilt(store: StatsStore) -> Aggregate:
    """Every year's events, even for one year's figures: an item's first publication may be in another."""
    result = Aggregate()
    async for event in store.archived(None, _progress):
        result.count(event)
    return result


def _whole_years(result: Aggregate, year: int | None) -> dict[int, dict]:
    return {
        scope.year: nested(counts)
        for scope, counts in result.counters.items()
        if scope == Scope(scope.year) and (year is None or scope.year == year)
    }


async def _rebuild(year: int | None) -> dict[int, dict]:
    async with stats_store() as store:
        result = await _rebuilt(store)
        await store.replace_counts(result, year)
        return _whole_years(result, year)


async def _check(year: int | None) -> tuple[int, list[Difference]]:
    """The scopes compared and every counter whose live value differs from the rebuilt one."""
    async with stats_store() as store:
        result = await _rebuilt(store)
        scopes = set(result.counters) | await store.scopes()
        scopes = sorted((s for s in scopes if year is None or s.year == year), key=lambda s: s.key)
        found = []
        for scope in scopes:
            live = flattened(await store.counters_of(scope))
            found += differences(scope, live, dict(result.counters.get(scope, {})))
        return len(scopes), found


def _report(checked: int, found: list[Difference], as_json: bool) -> None:
    if as_json:
        rows = [
            {"scope": d.scope.key, "counter": d.counter, "live": d.live, "rebuilt": d.rebuilt} for d in found
        ]
        typer.echo(json.dumps({"scopes_checked": checked, "differences": rows}, ensure_ascii=False))
    else:
        for d in found:
            typer.echo(f"{d.scope.key}  {d.counter}: live {d.live}, rebuilt {d.rebuilt}")
        typer.echo(f"{len(found)} difference(s) in {checked} scope(s) checked", err=bool(found))
    if found:
        raise typer.Exit(DIFFERENT)


@app.command()
def rebuild(
    year: int = typer.Option(
        None,
        min=2000,
        max=2100,
        help="Replace (or check) only this year's figures (default: every year's); the whole archive is read, since an item's first publication may lie in another year",
    ),
    check: bool = typer.Option(
        False,
        "--check",
        help="Change nothing: compare the live figures with the rebuilt ones and print each difference",
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print the rebuilt counters (or the differences) as JSON"
    ),
) -> None:
    """Recompute every figure from the archived events.

    The live counters are replaced. Stop the stats service first (make down, or stop its
    process): events it counted meanwhile would be lost. With --check nothing is written, and
    the service may run: exit 1 when a live counter differs from the rebuilt one (each printed
    with its scope), 0 when none does."""
    if check:
        _report(*asyncio.run(_check(year)), as_json)
        return
    rebuilt = asyncio.run(_rebuild(year))
    if as_json:
        typer.echo(json.dumps({str(y): c for y, c in rebuilt.items()}, ensure_ascii=False))
        return
    for each, counters in sorted(rebuilt.items()):
        published = counters.get("published", {})
        typer.echo(
            f"{each}: {published.get('total', 0)} publications of {published.get('items', 0)} items rebuilt"
        )
