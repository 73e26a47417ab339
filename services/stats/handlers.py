"""What stats does: archive every event once and count it."""

from services.stats.domain import YearFigures, figures, tally
from services.stats.store import StatsStore
from shared.events import Event


async def on_event(store: StatsStore, event: Event) -> None:
    await store.record(event, tally(event))


async def year_figures(store: StatsStore, year: int) -> YearFigures:
    return figures(year, await store.counters_of(year))
