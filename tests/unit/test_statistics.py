from datetime import UTC, date, datetime

from services.stats.domain import (
    FirstPublication,
    WorkingDays,
    aggregate,
    figures,
    first_publication_change,
    tally,
    working_days_between,
)
from shared.events import (
    PublicationPublished,
    PublicationPublishedData,
    PublishedItem,
    ReviewRejected,
    ReviewRejectedData,
    new_event,
)


def published(channel: str, at: datetime, formed_on: date = date(2026, 11, 2)):
    item = PublishedItem(
        title="t", category="budget", department="finance", department_name="财政所", formed_on=formed_on
    )
    data = PublicationPublishedData(channel=channel, url="u", remote_id="r", published_at=at, item=item)
    return new_event(PublicationPublished, "s1", "publish", data)


def test_working_days_follow_the_chinese_calendar():
    assert working_days_between(date(2026, 11, 6), date(2026, 11, 9)).count == 1  # Friday → Monday
    assert working_days_between(date(2026, 11, 2), date(2026, 11, 2)).count == 0
    # National Day week: 1-7 October 2026 are holidays, Saturday 10 October is worked instead.
    assert working_days_between(date(2026, 9, 30), date(2026, 10, 10)) == WorkingDays(3, True)


def test_a_year_the_calendar_does_not_know_is_counted_on_weekdays_with_a_warning():
    assert working_days_between(date(2031, 1, 6), date(2031, 1, 13)) == WorkingDays(5, False)
    counters, _ = aggregate(
        [published("portal", datetime(2031, 1, 13, tzinfo=UTC), formed_on=date(2031, 1, 6))]
    )
    timeliness = figures(2031, counters[2031]).timeliness
    assert timeliness.on_time == 1 and "2031" in timeliness.warnings[0]


def test_a_publication_counts_in_china_standard_time():
    t = tally(published("portal", datetime(2025, 12, 31, 17, 0, tzinfo=UTC)))  # 2026-01-01 01:00 in Beijing
    assert t.year == 2026
    assert t.increments["published.by_month.01"] == 1
    assert t.increments["published.by_channel.portal"] == 1


def test_late_publication_is_counted_late():
    t = tally(published("portal", datetime(2026, 12, 30, tzinfo=UTC), formed_on=date(2026, 11, 2)))
    assert t.publication.timeliness == "timeliness.late"


def test_an_automatic_rejection_counts_as_rejected_and_auto_blocked():
    data = ReviewRejectedData(revision=1, automatic=True, reason="classified")
    t = tally(new_event(ReviewRejected, "s1", "review", data))
    assert t.increments == {
        "submissions.rejected": 1,
        "review.rejected_by_reason.classified": 1,
        "review.auto_blocked": 1,
    }


def test_figures_total_is_the_sum_of_channels_and_rates_follow():
    counters = {
        "published": {"total": 3, "items": 2, "by_channel": {"platform": 2, "portal": 1}},
        "submissions": {"approved": 4},
        "timeliness": {"on_time": 1, "late": 1},
    }
    f = figures(2026, counters)
    assert f.published.total == sum(f.published.by_channel.values())
    assert f.rates.disclosure == 0.5 and f.timeliness.rate == 0.5


def test_an_empty_year_has_zero_figures_and_no_rates():
    f = figures(2019, {})
    assert f.published.by_channel == {"platform": 0, "portal": 0}
    assert f.rates.disclosure is None


def test_an_item_is_judged_on_its_earliest_publication_whatever_the_order():
    on_time = published("portal", datetime(2026, 11, 3, tzinfo=UTC))  # 1 working day after formed_on
    late = published("platform", datetime(2026, 12, 30, tzinfo=UTC))
    for order in ([on_time, late], [late, on_time]):
        counters, _ = aggregate(order)
        assert counters[2026]["published"]["items"] == 1
        timeliness = figures(2026, counters[2026]).timeliness
        assert (timeliness.on_time, timeliness.late) == (1, 0)


def test_first_publication_changes_are_order_independent():
    early = FirstPublication(datetime(2026, 11, 3, tzinfo=UTC), "timeliness.on_time")
    later = FirstPublication(datetime(2026, 12, 30, tzinfo=UTC), "timeliness.late")
    assert first_publication_change(None, later) == ({"published.items": 1, "timeliness.late": 1}, later)
    assert first_publication_change(later, early) == ({"timeliness.late": -1, "timeliness.on_time": 1}, early)
    assert first_publication_change(early, later) == ({}, None)
