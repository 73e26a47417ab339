"""Statistics as counters: each event becomes a set of `$inc` increments keyed by precomputed
fields, added to the counter document of every scope it belongs to — the year; the year and its
month; and the same narrowed to the item's department, its category, or both — so that any
question `GET /v1/stats` can be asked reads one document however many events there were. Years
and months are those of China Standard Time.

Distributions (working days to publication, per category; time from submission to publication)
are kept as histograms of counters, so that each category's deadline is applied when the figures
are read and medians are exact to the histogram's resolution.

What an item counts once (distinct items, timeliness, time to publication, Table A) counts in the
window of its first publication ever, whatever order its events arrive in: an item on the
platform in December and on the portal in January is one of December's items, on time or late
by its December publication, and one document issued that year."""

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from functools import cache
from itertools import product
from math import ceil

import chinese_calendar
from pydantic import BaseModel

from shared.domain import Category, Disclosure, china_date
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
# 国办发〔2018〕118号: licence and penalty decisions within 7 working days of the decision
DEADLINES: dict[str, int] = {Category.LICENSE.value: 7, Category.PENALTY.value: 7}
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
        """The stretch of time it covers: approvals and amendments count once per item and window."""
        return Scope(self.year, self.month)


def scopes_of(year: int, month: int, subject: "ItemSubject | None") -> list[Scope]:
    """Every counter document an event of that month and subject counts in (up to eight)."""
    department = subject.department if subject else None
    category = subject.category.value if subject else None
    return [Scope(year, m, d, c) for m, d, c in product((None, month), {None, department}, {None, category})]


@dataclass(frozen=True)
class FirstOccurrence:
    """An item's earliest event of a kind (its publication ever, a correction's first update; its
    approval in a window), the counters the item counts in through it, once per item, and the
    scopes it counts them in. Ties on `at` go to the smaller event id, so that the outcome never
    depends on arrival order.

    `marks` are counters an item counts once wherever its first publication is — amended
    (withdrawn or corrected), so that 准确率 divides within one population. A mark may arrive
    before any publication: the record then has no `at` and no scopes until one does."""

    at: datetime | None
    counts: dict[str, int]
    scopes: tuple[Scope, ...] = ()
    event_id: str = ""
    marks: frozenset[str] = frozenset()

    def precedes(self, other: "FirstOccurrence") -> bool:
        if self.at is None or other.at is None:
            return other.at is None and self.at is not None
        return (self.at, self.event_id) < (other.at, other.event_id)

    @property
    def year(self) -> int | None:
        return self.scopes[0].year if self.scopes else None

    def all_counts(self) -> Counter:
        return Counter(self.counts) + Counter(dict.fromkeys(self.marks, 1))


@dataclass(frozen=True)
class Tally:
    """What one event adds: counters for its scopes and candidate first occurrences, by the key
    they are kept under (`first_key`)."""

    year: int
    month: int
    increments: dict[str, int]
    subject: ItemSubject | None = None
    firsts: dict[str, FirstOccurrence] = field(default_factory=dict)  # by first_key: once per item

    def scopes(self) -> list[Scope]:
        """Every counter document the event counts in (up to eight)."""
        return scopes_of(self.year, self.month, self.subject)


# Kinds of first: an item's publication, over its whole life (with its marks: amended), and on
# each channel; each correction's first update, over the item's life; its approval, once per
# window (a corrected item is approved again).
PUBLISHED, CHANGED, APPROVED, ON_CHANNEL = "published", "changed", "approved", "on_channel"
AMENDED = "published.items_amended"  # a mark: withdrawn or corrected after publication


def first_key(submission_id: str, kind: str, window: Scope | None = None) -> str:
    """Where an item's first of a kind is kept: over its life, or in a window."""
    if window is None:
        return f"item:{submission_id}:{kind}"
    return f"{window.key}:{submission_id}:{kind}"


def holder_of(key: str) -> str:
    """The submission whose first is kept under `key` (see first_key)."""
    return key.split(":", 2)[1]


def first_change(
    earlier: FirstOccurrence | None, candidate: FirstOccurrence
) -> tuple[dict[Scope, dict[str, int]], FirstOccurrence | None]:
    """The counters to change, by scope, and the record to keep when `candidate` arrives for an
    item whose earliest occurrence of its kind so far is `earlier`: nothing when it is not
    earlier; otherwise the earlier one's counts leave its scopes (another month or year, perhaps)
    and the candidate's join its own; a mark joins the counts where they are — the same figures
    whatever order the events arrive in."""
    marks = earlier.marks | candidate.marks if earlier else candidate.marks
    if earlier is not None and not candidate.precedes(earlier):
        if marks == earlier.marks:
            return {}, None
        keep = replace(earlier, marks=marks)  # a new mark on the first kept
    else:
        keep = replace(candidate, marks=marks)
    changes: dict[Scope, Counter] = defaultdict(Counter)
    for scope in earlier.scopes if earlier else ():
        changes[scope].subtract(earlier.all_counts())
    for scope in keep.scopes:
        changes[scope].update(keep.all_counts())
    nonzero = {scope: {k: v for k, v in c.items() if v} for scope, c in changes.items()}
    return {scope: c for scope, c in nonzero.items() if c}, keep


def change_in_history(
    history: list[FirstOccurrence], position: int, kept: FirstOccurrence | None = None
) -> dict[Scope, dict[str, int]]:
    """The counters that `history[position]` moved, when a first's candidates arrived in the order
    of `history` (after `kept`, a first stored before candidates were kept): the same change
    however often it is asked, since what came before a candidate never changes."""
    for candidate in history[:position]:
        keep = first_change(kept, candidate)[1]
        kept = keep or kept
    return first_change(kept, history[position])[0]


def _in_each_window(
    counted: Tally, submission_id: str, kind: str, at: datetime, counts: dict[str, int], event_id: str
) -> Tally:
    """`counted` with a candidate first of `kind` in its year and in its month."""
    scopes = counted.scopes()
    for window in {s.window for s in scopes}:
        mine = tuple(s for s in scopes if s.window == window)
        first = FirstOccurrence(at, counts, mine, event_id)
        counted.firsts[first_key(submission_id, kind, window)] = first
    return counted


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
            counted = Tally(day.year, day.month, {}, _subject(event))
            once = {"submissions.approved": 1}
            if event.data.content.disclosure != Disclosure.PROACTIVE:
                once["submissions.held"] = 1  # approved, and by its 公开属性 never published
            return _in_each_window(
                counted, event.submission_id, APPROVED, event.occurred_at, once, str(event.event_id)
            )
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
            return _amended(event, "withdrawn")
        case PublicationUpdated():
            return _amended(event, "corrected")
        case PublicationFailed():
            inc = {f"published.failed.{event.data.channel}": 1}
        case _:
            return None
    return Tally(day.year, day.month, inc, _subject(event))


def _published(event: PublicationPublished) -> Tally:
    """A publication counts once per item and channel, whatever event announces it (a publish
    retried and staged again sends a new event id): as the item's first on that channel, so the
    earliest one counts, in its month, whatever order they arrive in."""
    d = event.data
    day = china_date(d.published_at)
    month = f"{day.month:02d}"
    counted = Tally(day.year, day.month, {}, ItemSubject.of(d.item))
    scopes, event_id = tuple(counted.scopes()), str(event.event_id)
    on_channel = {
        "published.total": 1,
        f"published.by_channel.{d.channel}": 1,
        f"published.by_category.{d.item.category}": 1,
        f"published.by_department.{d.item.department}": 1,
        f"published.by_month.{month}": 1,
        f"published.by_month_and_channel.{month}.{d.channel}": 1,
    }
    item = item_counts(d.item, d.published_at)
    counted.firsts[first_key(event.submission_id, PUBLISHED)] = FirstOccurrence(
        d.published_at, item, scopes, event_id
    )
    counted.firsts[first_key(event.submission_id, f"{ON_CHANNEL}:{d.channel}")] = FirstOccurrence(
        d.published_at, on_channel, scopes, event_id
    )
    return counted


def _amended(event: PublicationWithdrawn | PublicationUpdated, how: str) -> Tally:
    """A publication withdrawn or corrected; the item counts once as amended (准确率), where it
    counts as published. A correction (变更) restarts the clock: its first update on any channel
    is judged against the correction's own formed_on, once per revision over the item's life."""
    day = china_date(event.occurred_at)
    increments = {f"published.{how}.{event.data.channel}": 1}
    counted = Tally(day.year, day.month, increments, _subject(event))
    amended = FirstOccurrence(None, {}, event_id=str(event.event_id), marks=frozenset({AMENDED}))
    counted.firsts[first_key(event.submission_id, PUBLISHED)] = amended
    if isinstance(event, PublicationUpdated):
        d = event.data
        elapsed = _elapsed(d.item.formed_on, d.updated_at)
        change = {f"timeliness.changes.{d.item.category}.{elapsed.count}": 1}
        first = FirstOccurrence(d.updated_at, change, tuple(counted.scopes()), str(event.event_id))
        counted.firsts[first_key(event.submission_id, f"{CHANGED}:{d.revision}")] = first
    return counted


def _elapsed(formed_on: date, at: datetime) -> WorkingDays:
    """Working days from formed_on to the day `at` falls on in China, capped at the histogram's last bucket."""
    elapsed = working_days_between(formed_on, china_date(at))
    return WorkingDays(min(elapsed.count, MAX_COUNTED_WORKING_DAYS), elapsed.on_calendar)


def item_counts(item: PublishedItem, published_at: datetime) -> dict[str, int]:
    """What an item counts once, through its first publication ever: working days from
    formed_on, overall and by category (each category is judged by its own deadline)."""
    elapsed = _elapsed(item.formed_on, published_at)
    counts = {
        "published.items": 1,
        f"timeliness.working_days.{elapsed.count}": 1,
        f"timeliness.by_category.{item.category}.{elapsed.count}": 1,
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
    """Every scope's counters and every item's firsts, built from archived events."""

    counters: dict[Scope, Counter] = field(default_factory=lambda: defaultdict(Counter))
    firsts: dict[str, FirstOccurrence] = field(default_factory=dict)  # by first_key

    def count(self, event: Event) -> None:
        """Count one event exactly as the live path counts it (the same `tally` and
        `first_change`), whatever order the events come in."""
        counted = tally(event)
        if counted is None:
            return
        for scope in counted.scopes():
            self.counters[scope].update(counted.increments)
        for key, candidate in counted.firsts.items():
            change, keep = first_change(self.firsts.get(key), candidate)
            for scope, counts in change.items():
                self.counters[scope].update(counts)
            if keep:
                self.firsts[key] = keep


def aggregate(events: Iterable[Event]) -> Aggregate:
    result = Aggregate()
    for event in events:
        result.count(event)
    return result


def flattened(tree: dict, prefix: str = "") -> dict[str, int]:
    """{"published": {"by_channel": {"portal": 1}}} → {"published.by_channel.portal": 1}: the
    counters of a stored tree (what is not a count, such as its scope, left out)."""
    flat = {}
    for name, value in tree.items():
        if isinstance(value, dict):
            flat.update(flattened(value, f"{prefix}{name}."))
        elif isinstance(value, int) and not isinstance(value, bool):
            flat[f"{prefix}{name}"] = value
    return flat


@dataclass(frozen=True)
class Difference:
    scope: Scope
    counter: str
    live: int
    rebuilt: int


def differences(scope: Scope, live: dict[str, int], rebuilt: dict[str, int]) -> list[Difference]:
    """Every counter of `scope` whose live value is not the rebuilt one (a missing counter is 0)."""
    names = sorted(set(live) | set(rebuilt))
    found = [Difference(scope, n, live.get(n, 0), rebuilt.get(n, 0)) for n in names]
    return [d for d in found if d.live != d.rebuilt]


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

    on_time_working_days: int = ON_TIME_WORKING_DAYS  # every category without a deadline of its own
    deadlines: dict[str, int] = DEADLINES  # working days, by category
    disclosure_base: str = "approved"  # 公开率 = published items ÷ this count of submissions

    def deadline_of(self, category: str) -> int:
        return self.deadlines.get(category, self.on_time_working_days)


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
    held: int = 0  # of the approved, those marked 依申请公开 or 不予公开: never to go online
    rejected: int = 0
    returned: int = 0
    withdrawn: int = 0


class Review(BaseModel):
    auto_blocked: int = 0
    rejected_by_reason: dict[str, int] = {}


class OnTime(BaseModel):
    on_time: int = 0
    late: int = 0


class Timeliness(BaseModel):
    """Items judged at their first publication ever, each by its category's deadline from its
    formed_on; corrections (变更, which restart the clock) at their first update, from the
    correction's formed_on."""

    on_time: int = 0
    late: int = 0
    rate: float | None = None
    working_days_limit: int = ON_TIME_WORKING_DAYS  # the deadline of every category not in `deadlines`
    deadlines: dict[str, int] = {}  # categories with a deadline of their own, in working days
    by_category: dict[str, OnTime] = {}
    by_working_days: dict[str, int] = {}  # items by working days from formed_on to first publication
    changes: OnTime = OnTime()  # corrections of published items, judged from their own formed_on
    warnings: list[str] = []

    def own_deadlines(self) -> dict[int, list[str]]:
        """The categories whose deadline differs from the general one, grouped by it."""
        grouped: dict[int, list[str]] = {}
        for category, days in sorted(self.deadlines.items()):
            if days != self.working_days_limit:
                grouped.setdefault(days, []).append(category)
        return dict(sorted(grouped.items()))


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


def _judged(histograms: dict[str, dict[str, int]], rules: RateRules) -> dict[str, OnTime]:
    """{category: {working days: n}} → on time and late by category, each by its own deadline."""
    judged = {}
    for category, histogram in sorted(histograms.items()):
        limit = rules.deadline_of(category)
        verdict = OnTime()
        for days, n in histogram.items():
            if int(days) <= limit:
                verdict.on_time += n
            else:
                verdict.late += n
        if verdict.on_time or verdict.late:
            judged[category] = verdict
    return judged


def _timeliness(scope: Scope, t: dict, items: int, rules: RateRules) -> Timeliness:
    by_days = {int(days): n for days, n in t.get("working_days", {}).items() if n}
    by_category = _judged(t.get("by_category", {}), rules)
    # Counters written before items were kept by category are judged by the general deadline.
    uncategorised = Counter(by_days)
    for histogram in t.get("by_category", {}).values():
        uncategorised.subtract({int(days): n for days, n in histogram.items()})
    on_time = sum(v.on_time for v in by_category.values())
    on_time += sum(n for days, n in uncategorised.items() if n > 0 and days <= rules.on_time_working_days)
    changes = _judged(t.get("changes", {}), rules).values()
    timeliness = Timeliness(
        on_time=on_time,
        late=sum(by_days.values()) - on_time,
        rate=_ratio(on_time, items),
        working_days_limit=rules.on_time_working_days,
        deadlines=dict(sorted(rules.deadlines.items())),
        by_category=by_category,
        by_working_days={str(days): by_days[days] for days in sorted(by_days)},
        changes=OnTime(on_time=sum(c.on_time for c in changes), late=sum(c.late for c in changes)),
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
            # 公开率 over what was to go online: an item not disclosed proactively never is.
            disclosure=_ratio(
                published.items, max(getattr(submissions, rules.disclosure_base) - submissions.held, 0)
            ),
            timeliness=timeliness.rate,
            accuracy=_ratio(max(published.items - published.items_amended, 0), published.items),
        ),
        table_a=_table_a(counters.get("table_a", {})),
    )


def _table_a(counters: dict) -> TableA:
    """Table A without the zeros an item leaves behind when an earlier publication moves it to
    another year."""
    documents = {
        kind: {action: n for action, n in actions.items() if n}
        for kind, actions in counters.get("documents", {}).items()
    }
    return TableA(
        documents={kind: actions for kind, actions in documents.items() if actions},
        decisions={kind: n for kind, n in counters.get("decisions", {}).items() if n},
    )
