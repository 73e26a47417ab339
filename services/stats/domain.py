"""Statistics as counters: each event becomes a set of `$inc` increments keyed by precomputed
fields, added to the counter document of every scope it belongs to — the year; the year and its
month; and the same narrowed to the item's department, its category, or both — so that any
question `GET /v1/stats` can be asked reads one document however many events there were. Years
and months are those of China Standard Time.

Distributions (working days to publication, time from submission to publication) are kept as
histograms of counters, so that the on-time limit is applied when the figures are read and
medians are exact to the histogram's resolution."""

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from itertools import product
from math import ceil

import chinese_calendar
from pydantic import BaseModel

from shared.domain import china_date
from shared.events import (
    Event,
    ItemSubject,
    PublicationFailed,
    PublicationPublished,
    PublicationUpdated,
    PublicationWithdrawn,
    PublishedItem,
    ReviewApproved,
    ReviewRejected,
    ReviewReturned,
    SubmissionReceived,
    SubmissionWithdrawn,
)

ON_TIME_WORKING_DAYS = 20  # Art. 26: within 20 working days of being formed or changed
EARLIEST_YEAR, LATEST_YEAR = 2000, 2100  # the years figures can be asked for
MAX_COUNTED_WORKING_DAYS = 999  # longer delays share one histogram bucket


@dataclass(frozen=True)
class WorkingDays:
    count: int
    on_calendar: bool  # False: a year the calendar does not know yet was counted on weekdays


@cache  # chinese-calendar validates every call against its whole table: slow, and days are few
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


def latency_bucket(elapsed: timedelta) -> int:
    """Minutes from submission to publication, rounded down to the histogram's resolution: every
    minute up to two hours, a quarter of an hour up to a day, an hour up to 30 days, a day beyond
    — fine where it matters, and never more than about 1,300 buckets a year."""
    minutes = max(int(elapsed.total_seconds() // 60), 0)
    for limit, step in ((120, 1), (1440, 15), (43_200, 60)):
        if minutes < limit:
            return minutes - minutes % step
    return minutes - minutes % 1440


@dataclass(frozen=True)
class Scope:
    """What one counter document covers: a year, optionally narrowed to a month, a department
    and a category."""

    year: int
    month: int | None = None
    department: str | None = None
    category: str | None = None

    @property
    def key(self) -> str:
        parts = [str(self.year)]
        parts += [f"m={self.month:02d}"] if self.month else []
        parts += [f"d={self.department}"] if self.department else []
        parts += [f"c={self.category}"] if self.category else []
        return "|".join(parts)

    @property
    def window(self) -> "Scope":
        """The stretch of time it covers: an item counts once per window (its first publication)."""
        return Scope(self.year, self.month)


@dataclass(frozen=True)
class FirstOccurrence:
    """An item's earliest event of a kind in a window (its publication, its withdrawal or
    correction, its approval) and the counters the item counts in through it, once per item:
    distinct items, timeliness, time to publication, Table A; amended; approved."""

    at: datetime
    counts: dict[str, int]


@dataclass(frozen=True)
class Tally:
    """What one event adds: counters for its scopes and, per kind of first (PUBLISHED, AMENDED,
    APPROVED), a candidate first occurrence in its window."""

    year: int
    month: int
    increments: dict[str, int]
    subject: ItemSubject | None = None
    firsts: dict[str, FirstOccurrence] = field(default_factory=dict)  # by kind: counted once per item

    def scopes(self) -> list[Scope]:
        """Every counter document the event counts in (up to eight)."""
        department = self.subject.department if self.subject else None
        category = self.subject.category.value if self.subject else None
        return [
            Scope(self.year, m, d, c)
            for m, d, c in product((None, self.month), {None, department}, {None, category})
        ]


def first_key(window: Scope, submission_id: str, kind: str) -> str:
    """Where an item's first of a kind in a window is kept."""
    return f"{window.key}:{submission_id}" + ("" if kind == PUBLISHED else f":{kind}")


def year_of_key(key: str) -> int:
    return int(key.split(":")[0].split("|")[0])


# Kinds of first, each counted once per item and window: its publication; its withdrawal or
# correction; its approval (a corrected item is approved again).
PUBLISHED, AMENDED, APPROVED = "published", "amended", "approved"


def first_change(
    earlier: FirstOccurrence | None, candidate: FirstOccurrence
) -> tuple[dict[str, int], FirstOccurrence | None]:
    """The counters to change and the record to keep when `candidate` arrives for an item whose
    earliest occurrence of its kind in the window so far is `earlier` — the same whatever order
    the events arrive in."""
    if earlier is None:
        return dict(candidate.counts), candidate
    if candidate.at >= earlier.at:
        return {}, None
    change = Counter(candidate.counts)
    change.subtract(earlier.counts)
    return {k: v for k, v in change.items() if v}, candidate


def _subject(event: Event) -> ItemSubject | None:
    """The department and category an event counts under, where it says them."""
    data = event.data
    for facts in (getattr(data, "content", None), getattr(data, "item", None)):
        if facts is not None:
            return ItemSubject.of(facts)
    return getattr(data, "subject", None)


def tally(event: Event) -> Tally | None:
    day = china_date(event.occurred_at)
    match event:
        case SubmissionReceived():
            inc = {"submissions.received": 1}
        case ReviewApproved():  # once per item: a correction is approved again, but one item
            first = FirstOccurrence(event.occurred_at, {"submissions.approved": 1})
            return Tally(day.year, day.month, {}, _subject(event), {APPROVED: first})
        case ReviewRejected():
            inc = {"submissions.rejected": 1, f"review.rejected_by_reason.{event.data.reason}": 1}
            if event.data.automatic:
                inc["review.auto_blocked"] = 1
        case ReviewReturned():
            inc = {"submissions.returned": 1}
        case SubmissionWithdrawn():
            inc = {"submissions.withdrawn": 1}
        case PublicationPublished():
            return _published(event)
        case PublicationWithdrawn():
            return _amended(event, "withdrawn", event.data.withdrawn_at)
        case PublicationUpdated():
            return _amended(event, "corrected", event.data.updated_at)
        case PublicationFailed():
            inc = {f"published.failed.{event.data.channel}": 1}
        case _:
            return None
    return Tally(day.year, day.month, inc, _subject(event))


def _published(event: PublicationPublished) -> Tally:
    d = event.data
    day = china_date(d.published_at)
    month = f"{day.month:02d}"
    return Tally(
        day.year,
        day.month,
        {
            "published.total": 1,
            f"published.by_channel.{d.channel}": 1,
            f"published.by_category.{d.item.category}": 1,
            f"published.by_department.{d.item.department}": 1,
            f"published.by_month.{month}": 1,
            f"published.by_month_and_channel.{month}.{d.channel}": 1,
        },
        ItemSubject.of(d.item),
        {PUBLISHED: FirstOccurrence(d.published_at, item_counts(d.item, d.published_at))},
    )


def _amended(event: PublicationWithdrawn | PublicationUpdated, how: str, at: datetime) -> Tally:
    """A publication withdrawn or corrected; the item counts once as amended (准确率)."""
    day = china_date(event.occurred_at)
    first = FirstOccurrence(at, {"published.items_amended": 1})
    increments = {f"published.{how}.{event.data.channel}": 1}
    return Tally(day.year, day.month, increments, _subject(event), {AMENDED: first})


def item_counts(item: PublishedItem, published_at: datetime) -> dict[str, int]:
    """What an item counts once, through its first publication in a window."""
    elapsed = working_days_between(item.formed_on, china_date(published_at))
    counts = {
        "published.items": 1,
        f"timeliness.working_days.{min(elapsed.count, MAX_COUNTED_WORKING_DAYS)}": 1,
    }
    if not elapsed.on_calendar:
        counts["timeliness.counted_on_weekdays"] = 1
    if item.submitted_at:
        counts[f"latency.minutes.{latency_bucket(published_at - item.submitted_at)}"] = 1
    if document := item.regulatory_document:
        counts[f"table_a.documents.{document.kind}.{document.action}"] = 1
    if decisions := item.decisions:
        counts[f"table_a.decisions.{decisions.kind}"] = decisions.count
    return counts


@dataclass
class Aggregate:
    """Every scope's counters and every window's first publications, built from archived events."""

    counters: dict[Scope, Counter] = field(default_factory=lambda: defaultdict(Counter))
    firsts: dict[str, FirstOccurrence] = field(default_factory=dict)  # by first_key

    def count(self, event: Event) -> None:
        """Count one event exactly as the live path counts it (the same `tally` and
        `first_change`), whatever order the events come in."""
        counted = tally(event)
        if counted is None:
            return
        changes: dict[Scope, Counter] = defaultdict(Counter)
        for kind, candidate in counted.firsts.items():
            for window in {s.window for s in counted.scopes()}:
                key = first_key(window, event.submission_id, kind)
                change, keep = first_change(self.firsts.get(key), candidate)
                changes[window].update(change)
                if keep:
                    self.firsts[key] = keep
        for scope in counted.scopes():
            self.counters[scope].update(counted.increments)
            self.counters[scope].update(changes.get(scope.window, {}))


def aggregate(events: Iterable[Event]) -> Aggregate:
    result = Aggregate()
    for event in events:
        result.count(event)
    return result


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


class RateRules(BaseModel):
    """How the figures judge: DOMAIN.md's defaults, configurable per deployment."""

    on_time_working_days: int = ON_TIME_WORKING_DAYS
    disclosure_base: str = "approved"  # 公开率 = published items ÷ this count of submissions


class Published(BaseModel):
    total: int = 0
    items: int = 0
    items_amended: int = 0  # items withdrawn or corrected after publication
    by_channel: dict[str, int] = {"platform": 0, "portal": 0}
    by_category: dict[str, int] = {}
    by_department: dict[str, int] = {}
    by_month: dict[str, int] = {}
    by_month_and_channel: dict[str, dict[str, int]] = {}
    withdrawn: dict[str, int] = {}
    corrected: dict[str, int] = {}
    failed: dict[str, int] = {}


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
    by_working_days: dict[str, int] = {}  # items by working days from formed_on to first publication
    warnings: list[str] = []


class TimeToPublication(BaseModel):
    """From submission to first publication, over the items that know when they were submitted."""

    items: int = 0
    median_hours: float | None = None
    p90_hours: float | None = None


class Rates(BaseModel):
    disclosure: float | None = None  # 公开率: published items ÷ approved
    timeliness: float | None = None  # 及时率: on time ÷ published items
    accuracy: float | None = None  # 准确率: published items never corrected or withdrawn ÷ published items


class TableA(BaseModel):
    """What the year's published items carry for Table A: documents by kind and action, decisions."""

    documents: dict[str, dict[str, int]] = {}
    decisions: dict[str, int] = {}


class Filters(BaseModel):
    month: int | None = None
    department: str | None = None
    category: str | None = None


class Figures(BaseModel):
    year: int
    filters: Filters
    published: Published
    submissions: Submissions
    review: Review
    timeliness: Timeliness
    time_to_publication: TimeToPublication
    rates: Rates
    table_a: TableA


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def percentile(histogram: dict[int, int], q: float) -> int | None:
    """The nearest-rank `q` quantile of a histogram {value: count}."""
    total = sum(histogram.values())
    if not total:
        return None
    rank, seen = ceil(q * total), 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return value
    return None  # unreachable: the ranks add up to total


def _timeliness(scope: Scope, t: dict, items: int, rules: RateRules) -> Timeliness:
    by_days = {int(days): n for days, n in t.get("working_days", {}).items() if n}
    on_time = sum(n for days, n in by_days.items() if days <= rules.on_time_working_days)
    timeliness = Timeliness(
        on_time=on_time,
        late=sum(by_days.values()) - on_time,
        rate=_ratio(on_time, items),
        working_days_limit=rules.on_time_working_days,
        by_working_days={str(days): by_days[days] for days in sorted(by_days)},
    )
    if t.get("counted_on_weekdays"):
        timeliness.warnings.append(
            f"{t['counted_on_weekdays']} item(s) counted on weekdays: the holiday calendar does not know "
            f"{scope.year} yet (update the chinese-calendar package, then run gongkai stats rebuild)"
        )
    return timeliness


def _time_to_publication(minutes: dict) -> TimeToPublication:
    histogram = {int(m): n for m, n in minutes.items() if n}

    def hours(q: float) -> float | None:
        value = percentile(histogram, q)
        return None if value is None else round(value / 60, 2)

    return TimeToPublication(items=sum(histogram.values()), median_hours=hours(0.5), p90_hours=hours(0.9))


def figures(scope: Scope, counters: dict, rules: RateRules = RateRules()) -> Figures:
    """A scope's figures from its counter document (empty when nothing happened in it)."""
    published = Published(**counters.get("published", {}))
    published.by_channel = {"platform": 0, "portal": 0, **published.by_channel}
    published.by_month = dict(sorted(published.by_month.items()))
    submissions = Submissions(**counters.get("submissions", {}))
    timeliness = _timeliness(scope, counters.get("timeliness", {}), published.items, rules)
    return Figures(
        year=scope.year,
        filters=Filters(month=scope.month, department=scope.department, category=scope.category),
        published=published,
        submissions=submissions,
        review=Review(**counters.get("review", {})),
        timeliness=timeliness,
        time_to_publication=_time_to_publication(counters.get("latency", {}).get("minutes", {})),
        rates=Rates(
            disclosure=_ratio(published.items, getattr(submissions, rules.disclosure_base)),
            timeliness=timeliness.rate,
            accuracy=_ratio(max(published.items - published.items_amended, 0), published.items),
        ),
        table_a=TableA(**counters.get("table_a", {})),
    )
