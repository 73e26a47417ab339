from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.stats.domain import (
    FirstOccurrence,
    RateRules,
    Scope,
    WorkingDays,
    aggregate,
    change_in_history,
    figures,
    first_change,
    latency_bucket,
    nested,
    percentile,
    tally,
    working_days_between,
)
from services.stats.report import ReportInputs, annual_report
from shared.events import (
    Decisions,
    ItemSubject,
    PublicationPublished,
    PublicationPublishedData,
    PublicationUpdated,
    PublicationUpdatedData,
    PublicationWithdrawn,
    PublicationWithdrawnData,
    PublishedItem,
    RegulatoryDocument,
    ReviewApproved,
    ReviewApprovedData,
    ReviewRejected,
    ReviewRejectedData,
    new_event,
)
from tests.unit.factories import approval, content


def published(
    channel: str,
    at: datetime,
    formed_on: date = date(2026, 11, 2),
    sid: str = "s1",
    department: str = "finance",
    category: str = "budget",
    **facts,
):
    item = PublishedItem(
        title="t",
        category=category,
        department=department,
        department_name="财政所",
        formed_on=formed_on,
        **facts,
    )
    data = PublicationPublishedData(channel=channel, url="u", remote_id="r", published_at=at, item=item)
    return new_event(PublicationPublished, sid, "publish", data)


def counters_of(events, scope: Scope) -> dict:
    return nested(aggregate(events).counters[scope])


def test_working_days_follow_the_chinese_calendar():
    assert working_days_between(date(2026, 11, 6), date(2026, 11, 9)).count == 1  # Friday → Monday
    assert working_days_between(date(2026, 11, 2), date(2026, 11, 2)).count == 0
    # National Day week: 1-7 October 2026 are holidays, Saturday 10 October is worked instead.
    assert working_days_between(date(2026, 9, 30), date(2026, 10, 10)) == WorkingDays(3, True)


def test_a_year_the_calendar_does_not_know_is_counted_on_weekdays_with_a_warning():
    assert working_days_between(date(2031, 1, 6), date(2031, 1, 13)) == WorkingDays(5, False)
    events = [published("portal", datetime(2031, 1, 13, tzinfo=UTC), formed_on=date(2031, 1, 6))]
    timeliness = figures(Scope(2031), counters_of(events, Scope(2031))).timeliness
    assert timeliness.on_time == 1 and "2031" in timeliness.warnings[0]


def test_a_publication_counts_in_china_standard_time():
    t = tally(published("portal", datetime(2025, 12, 31, 17, 0, tzinfo=UTC)))  # 2026-01-01 01:00 in Beijing
    assert (t.year, t.month) == (2026, 1)
    on_channel = t.firsts["item:s1:on_channel:portal"]
    assert on_channel.counts["published.by_month.01"] == 1
    assert on_channel.counts["published.by_channel.portal"] == 1
    assert {s.year for s in on_channel.scopes} == {2026}


def test_a_publication_announced_again_under_a_new_event_id_counts_once():
    """A publish retried and staged again: the same item on the same channel, another event id
    (and a later time): one publication, counted at the earlier one, in either order."""
    first = published("platform", datetime(2026, 3, 31, 17, 0, tzinfo=UTC))  # 1 April in Beijing
    again = published("platform", datetime(2026, 4, 2, tzinfo=UTC))
    for order in ([first, again], [again, first]):
        result = aggregate(order).counters
        assert result[Scope(2026)]["published.by_channel.platform"] == 1
        assert result[Scope(2026)]["published.total"] == 1
        assert result[Scope(2026, 4)]["published.by_month.04"] == 1
        assert result[Scope(2026, 4)]["published.items"] == 1
        assert result[Scope(2026, 3)]["published.total"] == 0


def test_a_candidates_change_is_the_same_however_often_it_is_asked():
    """What a first's candidate moved follows from the candidates before it alone."""
    late = tally(published("portal", datetime(2026, 5, 2, tzinfo=UTC))).firsts["item:s1:published"]
    early = tally(published("platform", datetime(2026, 4, 2, tzinfo=UTC))).firsts["item:s1:published"]
    history = [late, early]
    assert change_in_history(history, 0) == first_change(None, late)[0]
    moved = change_in_history(history, 1)
    assert moved[Scope(2026, 5)]["published.items"] == -1
    assert moved[Scope(2026, 4)]["published.items"] == 1
    assert change_in_history(history, 1, kept=early) == {}


def test_a_publication_counts_in_every_scope_of_its_month_department_and_category():
    keys = {s.key for s in tally(published("portal", datetime(2026, 3, 5, tzinfo=UTC))).scopes()}
    assert keys == {
        "2026",
        "2026|m=03",
        "2026|d=finance",
        "2026|c=budget",
        "2026|m=03|d=finance",
        "2026|m=03|c=budget",
        "2026|d=finance|c=budget",
        "2026|m=03|d=finance|c=budget",
    }


def test_late_publication_is_counted_late_and_the_limit_is_configurable():
    events = [published("portal", datetime(2026, 12, 30, tzinfo=UTC), formed_on=date(2026, 11, 2))]
    counters = counters_of(events, Scope(2026))
    assert (
        figures(Scope(2026), counters).timeliness.late,
        figures(Scope(2026), counters).timeliness.on_time,
    ) == (1, 0)
    lenient = figures(Scope(2026), counters, RateRules(on_time_working_days=60)).timeliness
    assert (lenient.on_time, lenient.late) == (1, 0)


def test_an_automatic_rejection_counts_as_rejected_and_auto_blocked_under_its_department():
    subject = ItemSubject(category="notice", department="office")
    data = ReviewRejectedData(revision=1, automatic=True, reason="classified", subject=subject)
    t = tally(new_event(ReviewRejected, "s1", "review", data))
    assert t.increments == {
        "submissions.rejected": 1,
        "review.rejected_by_reason.classified": 1,
        "review.auto_blocked": 1,
    }
    assert Scope(t.year, department="office") in t.scopes()


def test_figures_are_narrowed_by_department_category_and_month():
    events = [
        published("platform", datetime(2026, 3, 5, tzinfo=UTC), sid="a", department="finance"),
        published("portal", datetime(2026, 3, 6, tzinfo=UTC), sid="a", department="finance"),
        published(
            "portal", datetime(2026, 4, 6, tzinfo=UTC), sid="b", department="office", category="notice"
        ),
    ]
    result = aggregate(events).counters

    def of(scope: Scope):
        return figures(scope, nested(result[scope])).published

    assert (of(Scope(2026)).total, of(Scope(2026)).items) == (3, 2)
    assert (of(Scope(2026, department="finance")).total, of(Scope(2026, department="finance")).items) == (
        2,
        1,
    )
    assert of(Scope(2026, month=4)).by_channel == {"platform": 0, "portal": 1}
    assert of(Scope(2026, 3, "finance", "budget")).by_channel == {"platform": 1, "portal": 1}
    assert Scope(2026, 4, "finance") not in result
    assert of(Scope(2026)).by_month_and_channel == {"03": {"platform": 1, "portal": 1}, "04": {"portal": 1}}


def test_time_from_submission_to_publication_has_a_median_and_90th_percentile():
    submitted = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    events = [
        published("portal", submitted + timedelta(minutes=m), sid=f"s{m}", submitted_at=submitted)
        for m in (30, 60, 90, 120, 180, 240, 300, 360, 420, 3000)
    ]
    spread = figures(Scope(2026), counters_of(events, Scope(2026))).time_to_publication
    assert spread.items == 10
    assert spread.median_hours == 3.0  # nearest rank: the 5th of 10 is 180 minutes
    assert spread.p90_hours == 7.0  # the 9th is 420 minutes


def test_latency_buckets_are_fine_where_it_matters():
    assert latency_bucket(timedelta(minutes=59, seconds=59)) == 59
    assert latency_bucket(timedelta(hours=5, minutes=14)) == 300
    assert latency_bucket(timedelta(days=3, minutes=59)) == 3 * 1440
    assert latency_bucket(timedelta(days=45, hours=23)) == 45 * 1440
    assert percentile({}, 0.5) is None


def test_table_a_counts_an_item_once_whatever_its_channels():
    document = RegulatoryDocument(kind="normative", action="issued")
    events = [
        published(
            channel,
            datetime(2026, 3, 5, tzinfo=UTC),
            sid="r",
            category="regulation",
            regulatory_document=document,
        )
        for channel in ("platform", "portal")
    ]
    events.append(
        published(
            "portal",
            datetime(2026, 3, 5, tzinfo=UTC),
            sid="p",
            category="penalty",
            decisions=Decisions(kind="punishment", count=7),
        )
    )
    table_a = figures(Scope(2026), counters_of(events, Scope(2026))).table_a
    assert table_a.documents == {"normative": {"issued": 1}}
    assert table_a.decisions == {"punishment": 7}


def test_figures_total_is_the_sum_of_channels_and_rates_follow():
    counters = {
        "published": {"total": 3, "items": 2, "by_channel": {"platform": 2, "portal": 1}},
        "submissions": {"approved": 4, "received": 8},
        "timeliness": {"working_days": {"3": 1, "25": 1}},
    }
    f = figures(Scope(2026), counters)
    assert f.published.total == sum(f.published.by_channel.values())
    assert f.rates.disclosure == 0.5 and f.timeliness.rate == 0.5
    assert figures(Scope(2026), counters, RateRules(disclosure_base="received")).rates.disclosure == 0.25


def test_an_empty_year_has_zero_figures_and_no_rates():
    f = figures(Scope(2019), {})
    assert f.published.by_channel == {"platform": 0, "portal": 0}
    assert f.rates.disclosure is None and f.time_to_publication.median_hours is None


def test_an_item_is_judged_on_its_earliest_publication_whatever_the_order():
    on_time = published("portal", datetime(2026, 11, 3, tzinfo=UTC))  # 1 working day after formed_on
    late = published("platform", datetime(2026, 12, 30, tzinfo=UTC))
    for order in ([on_time, late], [late, on_time]):
        counters = counters_of(order, Scope(2026))
        assert counters["published"]["items"] == 1
        timeliness = figures(Scope(2026), counters).timeliness
        assert (timeliness.on_time, timeliness.late) == (1, 0)


def test_first_changes_are_order_independent():
    november, december = Scope(2026, 11), Scope(2026, 12)
    early = FirstOccurrence(
        datetime(2026, 11, 3, tzinfo=UTC),
        {"published.items": 1, "timeliness.working_days.1": 1},
        (Scope(2026), november),
    )
    later = FirstOccurrence(
        datetime(2026, 12, 30, tzinfo=UTC),
        {"published.items": 1, "timeliness.working_days.40": 1},
        (Scope(2026), december),
    )
    assert first_change(None, later) == ({Scope(2026): later.counts, december: later.counts}, later)
    assert first_change(later, early) == (
        {
            Scope(2026): {"timeliness.working_days.1": 1, "timeliness.working_days.40": -1},
            december: {"published.items": -1, "timeliness.working_days.40": -1},
            november: {"published.items": 1, "timeliness.working_days.1": 1},
        },
        early,
    )
    assert first_change(early, later) == ({}, None)
    assert first_change(early, early) == ({}, None)  # a duplicate changes nothing


def test_a_tie_goes_to_the_smaller_event_id_whatever_the_order():
    at = datetime(2026, 11, 3, tzinfo=UTC)
    a = FirstOccurrence(at, {"x": 1}, (Scope(2026),), "a")
    b = FirstOccurrence(at, {"y": 1}, (Scope(2026),), "b")
    assert first_change(b, a)[1] == a and first_change(a, b) == ({}, None)


def test_an_item_amended_on_both_channels_counts_once_against_accuracy():
    subject = ItemSubject(category="budget", department="finance")
    events = [published(ch, datetime(2026, 3, 5, tzinfo=UTC)) for ch in ("platform", "portal")]
    events += [published("portal", datetime(2026, 3, 5, tzinfo=UTC), sid="s2")]
    events += [
        new_event(
            PublicationWithdrawn,
            "s1",
            "publish",
            PublicationWithdrawnData(
                channel=ch, withdrawn_at=datetime(2026, 3, 9, tzinfo=UTC), subject=subject
            ),
        )
        for ch in ("platform", "portal")
    ]
    f = figures(Scope(2026), counters_of(events, Scope(2026)))
    assert f.published.items_amended == 1 and f.published.withdrawn == {"platform": 1, "portal": 1}
    assert f.rates.accuracy == 0.5


def test_an_item_approved_again_after_a_correction_counts_once_as_approved():
    events = [
        new_event(
            ReviewApproved,
            "s1",
            "review",
            ReviewApprovedData(revision=r, content=content(), approvals=(approval(1, "a"), approval(2, "b"))),
        )
        for r in (1, 2)
    ]
    counters = counters_of(events, Scope(events[0].occurred_at.year))
    assert figures(Scope(2026), counters).submissions.approved == 1


# The cross-year case of issue 14: formed 2025-12-10, on the platform 2025-12-11 (1 working day),
# on the portal 2026-01-20 (28 working days).
FORMED_IN_DECEMBER = date(2025, 12, 10)
ON_THE_PLATFORM = datetime(2025, 12, 11, 2, tzinfo=UTC)
ON_THE_PORTAL = datetime(2026, 1, 20, 2, tzinfo=UTC)


def cross_year(**facts):
    return [
        published("platform", ON_THE_PLATFORM, formed_on=FORMED_IN_DECEMBER, **facts),
        published("portal", ON_THE_PORTAL, formed_on=FORMED_IN_DECEMBER, **facts),
    ]


def test_an_item_counts_once_in_the_year_of_its_first_publication_ever_whatever_the_order():
    document = RegulatoryDocument(kind="normative", action="issued")
    events = cross_year(category="regulation", regulatory_document=document)
    for order in (events, events[::-1]):
        result = aggregate(order).counters
        in_2025 = figures(Scope(2025), nested(result[Scope(2025)]))
        in_2026 = figures(Scope(2026), nested(result[Scope(2026)]))
        assert (in_2025.published.total, in_2025.published.items) == (1, 1)
        assert (in_2025.timeliness.on_time, in_2025.timeliness.late) == (1, 0)
        assert in_2025.table_a.documents == {"normative": {"issued": 1}}
        assert (in_2026.published.total, in_2026.published.items) == (1, 0)  # a publication, not an item
        assert (in_2026.timeliness.on_time, in_2026.timeliness.late) == (0, 0)
        assert in_2026.table_a.documents == {} and in_2026.rates.timeliness is None
        assert figures(Scope(2026, 1), nested(result[Scope(2026, 1)])).published.items == 0
        assert figures(Scope(2025, 12), nested(result[Scope(2025, 12)])).published.items == 1
        years = {year: nested(result[Scope(year)]) for year in (2025, 2026)}
        report = annual_report(in_2026, ReportInputs(organisation="楠杆镇"), years, date(2026, 12, 31))
        normative = next(row for row in report.table_a.documents if row.label == "行政规范性文件")
        assert (normative.issued, normative.in_force) == (0, 1)


def test_an_item_moves_to_the_month_of_an_earlier_publication_that_arrives_later():
    late_first = published("portal", datetime(2026, 4, 1, 2, tzinfo=UTC))
    early = published("platform", datetime(2026, 3, 31, 2, tzinfo=UTC))
    for order in ([late_first, early], [early, late_first]):
        result = aggregate(order).counters
        assert nested(result[Scope(2026, 3)])["published"]["items"] == 1
        assert nested(result[Scope(2026, 4)])["published"].get("items", 0) == 0
        assert nested(result[Scope(2026, 4, "finance", "budget")])["published"].get("items", 0) == 0
        assert nested(result[Scope(2026)])["published"]["items"] == 1


def test_each_category_is_judged_by_its_own_deadline():
    # 2026-11-02 to 2026-11-12: 8 working days — late for a licence decision, on time for a budget.
    at = datetime(2026, 11, 12, 2, tzinfo=UTC)
    events = [
        published("portal", at, sid="l", category="license"),
        published("portal", at, sid="p", category="penalty"),
        published("portal", at, sid="b", category="budget"),
    ]
    counters = counters_of(events, Scope(2026))
    t = figures(Scope(2026), counters).timeliness
    assert (t.on_time, t.late) == (1, 2)
    assert t.deadlines == {"license": 7, "penalty": 7} and t.working_days_limit == 20
    assert t.by_category["license"].late == 1 and t.by_category["budget"].on_time == 1
    lenient = figures(Scope(2026), counters, RateRules(deadlines={"license": 10, "penalty": 7})).timeliness
    assert (lenient.on_time, lenient.late) == (2, 1)
    narrowed = counters_of(events, Scope(2026, category="license"))
    assert figures(Scope(2026, category="license"), narrowed).timeliness.late == 1


def test_counters_kept_before_categories_are_judged_by_the_general_deadline():
    counters = {"published": {"items": 2}, "timeliness": {"working_days": {"8": 1, "25": 1}}}
    t = figures(Scope(2026), counters).timeliness
    assert (t.on_time, t.late) == (1, 1)


def updated(channel: str, at: datetime, formed_on: date, revision: int = 2, category: str = "license"):
    item = PublishedItem(
        title="t", category=category, department="finance", department_name="财政所", formed_on=formed_on
    )
    data = PublicationUpdatedData(
        channel=channel, url="u", remote_id="r", updated_at=at, revision=revision, item=item
    )
    return new_event(PublicationUpdated, "s1", "publish", data)


def test_a_correction_restarts_the_clock_from_its_own_formed_on_and_counts_once_per_revision():
    events = [
        published(ch, datetime(2026, 11, 3, 2, tzinfo=UTC), category="license")
        for ch in ("platform", "portal")
    ]
    # Changed on 2026-11-20, updated online 2026-11-24 (2 working days) then 2026-12-08 (12).
    events += [
        updated("platform", datetime(2026, 11, 24, 2, tzinfo=UTC), date(2026, 11, 20)),
        updated("portal", datetime(2026, 12, 8, 2, tzinfo=UTC), date(2026, 11, 20)),
    ]
    # A second correction, changed 2026-12-01, online 2026-12-15 (10 working days): late for a licence.
    events += [updated("portal", datetime(2026, 12, 15, 2, tzinfo=UTC), date(2026, 12, 1), revision=3)]
    for order in (events, events[::-1]):
        t = figures(Scope(2026), counters_of(order, Scope(2026))).timeliness
        assert (t.on_time, t.late) == (1, 0)  # the item, judged at its first publication
        assert (t.changes.on_time, t.changes.late) == (1, 1)
        report = annual_report(
            figures(Scope(2026), counters_of(order, Scope(2026))), NAMED, {}, date(2026, 12, 31)
        )
        assert "变更后在时限内更新的1件，超期更新的1件" in "".join(report.overview)


NAMED = ReportInputs(organisation="楠杆镇人民政府")


def test_the_report_states_the_deadlines_the_figures_were_judged_by():
    f = figures(
        Scope(2026), counters_of([published("portal", datetime(2026, 11, 3, tzinfo=UTC))], Scope(2026))
    )
    text = "".join(annual_report(f, NAMED, {}, date(2026, 12, 31)).overview)
    assert "行政许可、行政处罚、行政强制信息7个工作日，其他信息20个工作日" in text
    assert "规定时限内公开的1件，超期公开的0件" in text
    plain = figures(Scope(2026), counters_of([], Scope(2026)), RateRules(deadlines={}))
    assert "之日起20个工作日内公开的0件" in "".join(
        annual_report(plain, NAMED, {}, date(2026, 12, 31)).overview
    )


def test_an_amended_item_counts_against_accuracy_where_it_counts_as_published_whatever_the_order():
    """Corrected in 2026, first published in 2025: 2025's 准确率 loses it, 2026's has nothing to lose."""
    events = [
        *cross_year(category="license"),
        updated("portal", datetime(2026, 2, 2, 2, tzinfo=UTC), date(2026, 1, 30)),
    ]
    for order in (events, events[::-1], [events[2], events[1], events[0]], [events[1], events[2], events[0]]):
        result = aggregate(order).counters
        in_2025 = figures(Scope(2025), nested(result[Scope(2025)]))
        in_2026 = figures(Scope(2026), nested(result[Scope(2026)]))
        assert (in_2025.published.items, in_2025.published.items_amended) == (1, 1)
        assert in_2025.rates.accuracy == 0.0
        assert (in_2026.published.items, in_2026.published.items_amended) == (0, 0)
        assert in_2026.published.corrected == {"portal": 1}  # the correction itself, in its own year
        assert (in_2026.timeliness.changes.on_time, in_2026.timeliness.changes.late) == (1, 0)
        in_december = figures(Scope(2025, 12), nested(result[Scope(2025, 12)]))
        assert in_december.published.items_amended == 1


def _life_of_items() -> list:
    """Three items around a new year: one on both channels across it, corrected and withdrawn;
    a licence item published late then early; a regulation item issuing a document."""
    normative = RegulatoryDocument(kind="normative", action="issued")
    subject = ItemSubject(category="budget", department="finance")
    withdrawal = PublicationWithdrawnData(
        channel="portal", withdrawn_at=datetime(2026, 2, 3, tzinfo=UTC), subject=subject
    )
    return [
        *cross_year(),
        updated("platform", datetime(2026, 1, 8, 2, tzinfo=UTC), date(2026, 1, 5), category="budget"),
        new_event(PublicationWithdrawn, "s1", "publish", withdrawal),
        published(
            "portal", datetime(2026, 1, 30, tzinfo=UTC), FORMED_IN_DECEMBER, sid="l", category="license"
        ),
        published(
            "platform", datetime(2025, 12, 15, tzinfo=UTC), FORMED_IN_DECEMBER, sid="l", category="license"
        ),
        published(
            "portal",
            datetime(2025, 12, 31, 17, tzinfo=UTC),
            sid="r",
            category="regulation",
            regulatory_document=normative,
        ),
    ]


@settings(max_examples=60, deadline=None)
@given(order=st.permutations(range(7)))
def test_the_figures_are_the_same_whatever_order_the_events_arrive_in(order):
    events = _life_of_items()
    expected = aggregate(events).counters
    shuffled = aggregate([events[i] for i in order]).counters
    for scope in set(expected) | set(shuffled):
        assert figures(scope, nested(shuffled[scope])) == figures(scope, nested(expected[scope])), scope
