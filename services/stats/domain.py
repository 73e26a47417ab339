"""Statistics as counters: each event becomes a set of `$inc` increments keyed by precomputed
fields (year, month, channel, category, department), so that a query reads one document
however many events there were. Years and months are those of China Standard Time."""

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import chinese_calendar
from pydantic import BaseModel

from shared.domain import china_date
from shared.events import (
    Event,
    PublicationFailed,
    PublicationPublished,
    PublicationWithdrawn,
    ReviewApproved,
    ReviewRejected,
    ReviewReturned,
    SubmissionReceived,
    SubmissionWithdrawn,
)

ON_TIME_WORKING_DAYS = 20  # Art. 26: within 20 working days of being formed or changed


@dataclass(frozen=True)
class WorkingDays:
    count: int
    on_calendar: bool  # False: a year the calendar does not know yet was counted on weekdays


def _is_working_day(day: date) -> tuple[bool, bool]:
    """(working day?, known to the calendar?): public holidays and adjusted working days
    (调休) from chinese-calendar; Monday to Friday for a year it does not know yet."""
    try:
        return chinese_calendar.is_workday(day), True
    except NotImplementedError:
        return day.weekday() < 5, False


def working_days_between(start: date, end: date) -> WorkingDays:
    """Working days after `start` up to and including `end`."""
    days, known, day = 0, True, start
    while day < end:
        day += timedelta(days=1)
        working, on_calendar = _is_working_day(day)
        days += working
        known &= on_calendar
    return WorkingDays(days, known)


@dataclass(frozen=True)
class FirstPublication:
    """An item's earliest publication in a year: it is counted once, and judged on time or late."""

    at: datetime
    timeliness: str  # the counter it counts in: timeliness.on_time or timeliness.late


@dataclass(frozen=True)
class Tally:
    """What one event adds: counters of its year, and for a publication, a candidate first one."""

    year: int
    increments: dict[str, int]
    publication: FirstPublication | None = None


def first_publication_change(
    earlier: FirstPublication | None, candidate: FirstPublication
) -> tuple[dict[str, int], FirstPublication | None]:
    """The counters to change and the record to keep when `candidate` arrives for an item whose
    earliest publication so far is `earlier` — the same whatever order publications arrive in."""
    if earlier is None:
        return {"published.items": 1, candidate.timeliness: 1}, candidate
    if candidate.at >= earlier.at:
        return {}, None
    moved = (
        {}
        if candidate.timeliness == earlier.timeliness
        else {earlier.timeliness: -1, candidate.timeliness: 1}
    )
    return moved, candidate


def tally(event: Event) -> Tally | None:
    day = china_date(event.occurred_at)
    match event:
        case SubmissionReceived():
            return Tally(day.year, {"submissions.received": 1})
        case ReviewApproved():
            return Tally(day.year, {"submissions.approved": 1})
        case ReviewRejected():
            inc = {"submissions.rejected": 1, f"review.rejected_by_reason.{event.data.reason}": 1}
            if event.data.automatic:
                inc["review.auto_blocked"] = 1
            return Tally(day.year, inc)
        case ReviewReturned():
            return Tally(day.year, {"submissions.returned": 1})
        case SubmissionWithdrawn():
            return Tally(day.year, {"submissions.withdrawn": 1})
        case PublicationPublished():
            return _published(event)
        case PublicationWithdrawn():
            return Tally(day.year, {f"published.withdrawn.{event.data.channel}": 1})
        case PublicationFailed():
            return Tally(day.year, {f"published.failed.{event.data.channel}": 1})
    return None


def _published(event: PublicationPublished) -> Tally:
    d = event.data
    day = china_date(d.published_at)
    elapsed = working_days_between(d.item.formed_on, day)
    late = elapsed.count > ON_TIME_WORKING_DAYS
    return Tally(
        day.year,
        {
            "published.total": 1,
            f"published.by_channel.{d.channel}": 1,
            f"published.by_category.{d.item.category}": 1,
            f"published.by_department.{d.item.department}": 1,
            f"published.by_month.{day.month:02d}": 1,
            **({} if elapsed.on_calendar else {"timeliness.counted_on_weekdays": 1}),
        },
        FirstPublication(d.published_at, "timeliness.late" if late else "timeliness.on_time"),
    )


def aggregate(events: list[Event]) -> tuple[dict[int, dict], dict[tuple[int, str], FirstPublication]]:
    """Every year's counters, and every item's first publication per year, from the archived
    events, each counted once, exactly as the live path counts them (the same `tally` and
    `first_publication_change`), in whatever order the events come."""
    counters: dict[int, Counter] = defaultdict(Counter)
    firsts: dict[tuple[int, str], FirstPublication] = {}
    for event in events:
        counted = tally(event)
        if counted is None:
            continue
        counters[counted.year].update(counted.increments)
        if counted.publication:
            key = (counted.year, event.submission_id)
            change, keep = first_publication_change(firsts.get(key), counted.publication)
            counters[counted.year].update(change)
            if keep:
                firsts[key] = keep
    return {year: nested(flat) for year, flat in counters.items()}, firsts


def nested(flat: dict[str, int]) -> dict:
    """{"published.by_channel.portal": 1} → {"published": {"by_channel": {"portal": 1}}}, as $inc stores it."""
    tree: dict = {}
    for path, value in flat.items():
        *parents, leaf = path.split(".")
        node = tree
        for name in parents:
            node = node.setdefault(name, {})
        node[leaf] = value
    return tree


class Published(BaseModel):
    total: int = 0
    items: int = 0
    by_channel: dict[str, int] = {"platform": 0, "portal": 0}
    by_category: dict[str, int] = {}
    by_department: dict[str, int] = {}
    by_month: dict[str, int] = {}


class Submissions(BaseModel):
    received: int = 0
    approved: int = 0
    rejected: int = 0
    returned: int = 0
    withdrawn: int = 0


class Review(BaseModel):
    auto_blocked: int = 0
    rejected_by_reason: dict[str, int] = {}


class Timeliness(BaseModel):
    on_time: int = 0
    late: int = 0
    rate: float | None = None
    working_days_limit: int = ON_TIME_WORKING_DAYS
    warnings: list[str] = []


class Rates(BaseModel):
    disclosure: float | None = None  # 公开率: published items ÷ approved
    timeliness: float | None = None  # 及时率: on time ÷ published items
    accuracy: float | None = None  # 准确率: published items never withdrawn ÷ published items


class YearFigures(BaseModel):
    year: int
    published: Published
    submissions: Submissions
    review: Review
    timeliness: Timeliness
    rates: Rates


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def figures(year: int, counters: dict) -> YearFigures:
    """The year's figures from its counter document (empty when nothing happened that year)."""
    published = Published(**counters.get("published", {}))
    published.by_channel = {"platform": 0, "portal": 0, **published.by_channel}
    submissions = Submissions(**counters.get("submissions", {}))
    t = counters.get("timeliness", {})
    timeliness = Timeliness(on_time=t.get("on_time", 0), late=t.get("late", 0))
    if t.get("counted_on_weekdays"):
        timeliness.warnings.append(
            f"{t['counted_on_weekdays']} publication(s) counted on weekdays: the holiday calendar does not know "
            f"{year} yet (update the chinese-calendar package, then run gongkai stats rebuild)"
        )
    timeliness.rate = _ratio(timeliness.on_time, published.items)
    withdrawn = sum(counters.get("published", {}).get("withdrawn", {}).values())
    rates = Rates(
        disclosure=_ratio(published.items, submissions.approved),
        timeliness=timeliness.rate,
        accuracy=_ratio(max(published.items - withdrawn, 0), published.items),
    )
    return YearFigures(
        year=year,
        published=published,
        submissions=submissions,
        review=Review(**counters.get("review", {})),
        timeliness=timeliness,
        rates=rates,
    )
