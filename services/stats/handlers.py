"""What stats does: archive every event once and count it; answer figures; keep the operators'
report inputs; write the annual report as a draft, make it final (frozen as rendered), and serve
the final ones to anyone (the portal's 年报 page)."""

import asyncio
import base64
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from bson import Binary

from services.stats.domain import Figures, RateRules, Scope, figures
from services.stats.rendering import report_docx, report_text
from services.stats.report import (
    AnnualReport,
    ReportInputs,
    RuleBroken,
    annual_report,
    check,
    document_counts,
    finalised,
    not_finalisable,
    unnamed,
)
from services.stats.store import FINAL, ReportFinal, StatsStore
from shared.domain import OfficeLevel
from shared.events import Event, ReportPublished, ReportPublishedData, new_event
from shared.problems import FieldError, Problem

Format = Literal["json", "md", "html", "docx"]
RENDERED = ("md", "html", "docx")
LEGACY_PLACEHOLDER = "本机关"  # what inputs saved before the office was named defaulted to


@dataclass(frozen=True)
class Office:
    """The office whose reports these are (GONGKAI_OFFICE_NAME, GONGKAI_OFFICE_LEVEL)."""

    name: str = ""
    level: OfficeLevel = OfficeLevel.TOWNSHIP


async def on_event(store: StatsStore, event: Event) -> None:
    await store.record(event)


async def figures_of(store: StatsStore, scope: Scope, rules: RateRules) -> Figures:
    return figures(scope, await store.counters_of(scope), rules)


def _inputs_in(doc: dict | None) -> ReportInputs | None:
    if doc is None:
        return None
    if "inputs" in doc:
        return ReportInputs.model_validate(doc["inputs"])
    legacy = {k: v for k, v in doc.items() if k not in ("_id", "version", "state", "final")}
    if legacy.get("organisation") == LEGACY_PLACEHOLDER:  # never a name: the old default
        legacy.pop("organisation")
    return ReportInputs.model_validate(legacy)


async def _inputs(store: StatsStore, year: int) -> ReportInputs | None:
    return _inputs_in(await store.report_of(year))


def _refuse(broken: list[RuleBroken], title: str, detail: str, status: int = 422) -> None:
    if broken:
        raise Problem(status, title, detail, errors=[FieldError(field=b.cell, reason=b.rule) for b in broken])


async def _broken(
    store: StatsStore, year: int, inputs: ReportInputs, rules: RateRules, office: Office
) -> list[RuleBroken]:
    """Every rule of the form the year's inputs break, with the pipeline's Table A counts."""
    documents = document_counts(
        await figures_of(store, Scope(year), rules), await store.counters_of_years(year)
    )
    return check(inputs, await _inputs(store, year - 1), documents, office.level)


def _final_refusal(year: int) -> Problem:
    return Problem(
        409,
        "Report is final",
        f"The {year} report is final: it is kept as it was published and its inputs no longer change.",
    )


async def save_inputs(
    store: StatsStore, year: int, inputs: ReportInputs, rules: RateRules, office: Office
) -> ReportInputs:
    """Keep the operator's inputs for `year`, only when they keep every check rule and the
    year's report is not final."""
    doc = await store.report_of(year)
    if doc and doc.get("state") == FINAL:
        raise _final_refusal(year)
    _refuse(
        await _broken(store, year, inputs, rules, office),
        "Check rule broken",
        f"The {year} report's inputs break a check rule of the form; see errors.",
    )
    try:
        await store.save_report_inputs(year, inputs.model_dump(mode="json"))
    except ReportFinal:
        raise _final_refusal(year) from None
    return inputs


async def inputs_of(store: StatsStore, year: int) -> ReportInputs:
    return await _inputs(store, year) or ReportInputs()


async def _draft(
    store: StatsStore,
    year: int,
    inputs: ReportInputs,
    rules: RateRules,
    today: date,
    office: Office,
    also: list[RuleBroken] | None = None,
) -> AnnualReport:
    """The year's report written afresh; refused (409, naming the cell) while its inputs break a
    rule — last year's, or the figures, may have changed since these were saved —, while the
    office has no name, or while it breaks `also` (what keeps it from being final)."""
    broken = [
        *await _broken(store, year, inputs, rules, office),
        *unnamed(inputs, office.name),
        *(also or []),
    ]
    title = "Report cannot be final" if also is not None else "Report cannot be written"
    # 409: the request is sound; what is stored (the inputs, last year's, the office) is not yet.
    _refuse(broken, title, f"The {year} report breaks a rule of the form; see errors.", 409)
    as_of = min(today, date(year, 12, 31))
    return annual_report(
        await figures_of(store, Scope(year), rules),
        inputs,
        await store.counters_of_years(year),
        as_of,
        office.name,
    )


async def annual(
    store: StatsStore, year: int, fmt: Format, rules: RateRules, today: date, office: Office
) -> tuple[AnnualReport, str | bytes | None]:
    """The year's report and, for md, html and docx, its body: the frozen one once it is final,
    else the draft written from today's figures."""
    doc = await store.report_of(year)
    if doc and doc.get("state") == FINAL:
        return _frozen(doc, fmt)
    report = await _draft(store, year, _inputs_in(doc) or ReportInputs(), rules, today, office)
    return report, await rendered(report, fmt)


async def rendered(report: AnnualReport, fmt: Format) -> str | bytes | None:
    """The report's body in `fmt` (None for json). Word takes python-docx some 0.3 s of CPU (300
    cells built one element at a time), so it is built off the event loop."""
    if fmt == "docx":
        return await asyncio.to_thread(report_docx, report)
    return report_text(report, f"report.{fmt}") if fmt in RENDERED else None


def _frozen(doc: dict, fmt: Format) -> tuple[AnnualReport, str | bytes | None]:
    final = doc["final"]
    body = final[fmt] if fmt in RENDERED else None
    return AnnualReport.model_validate(final["report"]), bytes(body) if fmt == "docx" else body


async def finalise(
    store: StatsStore, year: int, by: str, rules: RateRules, today: date, now: datetime, office: Office
) -> AnnualReport:
    """Make the year's report final: only once the year is over, every rule is kept, the office
    is named and section 五 is written. The report is frozen as rendered — its figures, its
    text, its Markdown, HTML and Word files — so later events, corrections or code never change
    what was published."""
    doc = await store.report_of(year)
    if doc and doc.get("state") == FINAL:
        raise _final_refusal(year)
    inputs = _inputs_in(doc) or ReportInputs()
    also = not_finalisable(inputs, year, today)
    report = finalised(await _draft(store, year, inputs, rules, today, office, also), now)
    final = {
        "meta": {
            "year": year,
            "organisation": report.organisation,
            "title": report.title,
            "finalised_at": now,
            "finalised_by": by,
        },
        "report": report.model_dump(mode="json"),
        "md": await rendered(report, "md"),
        "html": await rendered(report, "html"),
        "docx": Binary(await rendered(report, "docx")),
    }
    if not await store.finalise_report(year, doc.get("version") if doc else None, final, announced(final)):
        raise Problem(
            409,
            "Report changed",
            f"The {year} report's inputs changed, or it was made final, while it was being made final; "
            "read it again.",
        )
    return report


def announced(final: dict) -> ReportPublished:
    """The event that takes a final report to the portal's 年报 page, with its frozen files."""
    meta = final["meta"]
    data = ReportPublishedData(
        year=meta["year"],
        title=meta["title"],
        organisation=meta["organisation"],
        finalised_at=meta["finalised_at"],
        html=final["html"],
        markdown=final["md"],
        docx=base64.b64encode(bytes(final["docx"])).decode("ascii"),
    )
    return new_event(ReportPublished, f"report-{meta['year']}", "stats", data)


async def final_report(store: StatsStore, year: int, fmt: Format) -> tuple[AnnualReport, str | bytes | None]:
    """A final report as it was frozen, for anyone; 404 while the year has none."""
    doc = await store.report_of(year)
    if not doc or doc.get("state") != FINAL:
        raise Problem(404, "Not found", f"There is no final report for {year} (yet).")
    return _frozen(doc, fmt)


async def final_reports(store: StatsStore) -> list[dict]:
    return await store.final_reports()
