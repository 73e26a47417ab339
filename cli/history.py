"""`gongkai import FILE`: a past year's published items, so that a township starts with its history."""

import asyncio
import json
import time
from pathlib import Path
from typing import Literal

import typer

from cli.stats import stats_store
from services.stats.history import COLUMNS, parse_history, read_rows
from shared.settings import get_settings

COLUMNS_HELP = "Columns (CSV header or JSON keys):\n\n" + "\n\n".join(f"{k}: {v}" for k, v in COLUMNS.items())
INVALID_FILE = 3  # exit code: the file has errors; nothing was imported
IMPORT_BATCH = 500


async def _import(events, progress) -> tuple[int, int]:
    imported = 0
    async with stats_store() as store:
        for start in range(0, len(events), IMPORT_BATCH):  # delivered together: counted in batches
            chunk = events[start : start + IMPORT_BATCH]
            imported += sum(await asyncio.gather(*(store.record(event) for event in chunk)))
            progress(start + len(chunk))
    return imported, len(events) - imported


def import_history(
    file: Path = typer.Argument(exists=True, dir_okay=False, readable=True, help="A .csv or .json file"),
    format: Literal["csv", "json"] | None = typer.Option(None, help="Default: from the file name"),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON"),
) -> None:
    """Import published items of past years.

    One row per publication on one channel (an item on both channels has two rows with the same
    item_id). Each becomes the publication.published event it would have been, archived and
    counted as live events are; importing a file again counts nothing twice.
    Exit 3 when the file has errors (each printed with its row): then nothing is imported."""
    kind = format or ("json" if file.suffix.lower() == ".json" else "csv")
    try:
        rows = read_rows(file.read_text(encoding="utf-8"), kind)
    except (ValueError, UnicodeDecodeError) as error:
        typer.echo(f"gongkai import: {file} cannot be read as {kind}: {error}", err=True)
        raise typer.Exit(INVALID_FILE) from error
    events, errors = parse_history(rows, get_settings().office_level)
    if errors:
        for e in errors[:50]:
            typer.echo(f"row {e.row}, {e.field}: {e.reason}", err=True)
        typer.echo(f"gongkai import: {len(errors)} error(s) in {file}; nothing was imported", err=True)
        raise typer.Exit(INVALID_FILE)
    started = time.monotonic()

    def progress(done: int) -> None:
        left = (time.monotonic() - started) / done * (len(events) - done)
        typer.echo(f"  {done:,} of {len(events):,} publications, about {left:.0f} s left", err=True)

    imported, known = asyncio.run(_import(events, progress))
    outcome = {"publications": len(events), "imported": imported, "already_imported": known}
    if as_json:
        typer.echo(json.dumps(outcome))
    else:
        typer.echo(f"{imported} publications imported, {known} already there")
