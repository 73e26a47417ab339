"""What stats does: archive every event once and count it; answer figures; keep the operators'
report inputs; write the annual report."""

from datetime import date

from services.stats.domain import Figures, RateRules, Scope, figures, tally
from services.stats.report import AnnualReport, ReportInputs, annual_report, check
from services.stats.store import StatsStore
from shared.events import Event
from shared.problems import FieldError, Problem


async def on_event(store: StatsStore, event: Event) -> None:
    await store.record(event, tally(event))


async def figures_of(store: StatsStore, scope: Scope, rules: RateRules) -> Figures:
    return figures(scope, await store.counters_of(scope), rules)


async def _inputs(store: StatsStore, year: int) -> ReportInputs | None:
    doc = await store.report_inputs_of(year)
    return None if doc is None else ReportInputs.model_validate({k: v for k, v in doc.items() if k != "_id"})


def _refuse_broken(inputs: ReportInputs, last_year: ReportInputs | None, year: int) -> None:
    broken = check(inputs, last_year)
    if broken:
        raise Problem(
            422,
            "Check rule broken",
            f"The {year} report's inputs break {len(broken)} check rule(s) of the form; see errors.",
            errors=[FieldError(field=b.cell, reason=b.rule) for b in broken],
        )


async def save_inputs(store: StatsStore, year: int, inputs: ReportInputs) -> ReportInputs:
    """Keep the operator's inputs for `year`, only when they keep every check rule."""
    _refuse_broken(inputs, await _inputs(store, year - 1), year)
    await store.save_report_inputs(year, inputs.model_dump(mode="json"))
    return inputs


async def inputs_of(store: StatsStore, year: int) -> ReportInputs:
    return await _inputs(store, year) or ReportInputs()


async def annual(store: StatsStore, year: int, rules: RateRules, today: date) -> AnnualReport:
    """The year's report; refused (422, naming the cell) while its inputs break a rule — last
    year's may have changed since these were saved."""
    inputs = await inputs_of(store, year)
    _refuse_broken(inputs, await _inputs(store, year - 1), year)
    as_of = min(today, date(year, 12, 31))
    return annual_report(
        await figures_of(store, Scope(year), rules), inputs, await store.counters_of_years(year), as_of
    )
