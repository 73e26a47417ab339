from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.ingest.domain import Submission, SubmissionDraft, project
from shared.events import (
    PublicationPublished,
    PublicationPublishedData,
    PublishedItem,
    ReviewApproved,
    ReviewApprovedData,
    ReviewRejected,
    ReviewRejectedData,
    new_event,
)
from tests.unit.factories import approval, content

AT = datetime(2026, 11, 5, tzinfo=UTC)


def fresh() -> Submission:
    return Submission(id="s1", department="office", status="received", channels=["platform", "portal"])


def approved():
    data = ReviewApprovedData(revision=1, content=content(), approvals=(approval(1, "a"), approval(2, "b")))
    return new_event(ReviewApproved, "s1", "review", data)


def published(channel: str):
    c = content()
    item = PublishedItem.of(c)
    data = PublicationPublishedData(
        channel=channel, url=f"https://x/{channel}", remote_id="r", published_at=AT, item=item
    )
    return new_event(PublicationPublished, "s1", "publish", data)


def test_published_once_every_requested_channel_has_it():
    s = project(fresh(), approved())
    s = project(s, published("portal"))
    assert s.status == "approved"
    s = project(s, published("platform"))
    assert s.status == "published"
    assert s.publications["platform"].url == "https://x/platform"


def test_a_duplicate_event_changes_nothing():
    event = approved()
    s = project(fresh(), event)
    assert project(s, event) is None


def test_a_late_approval_never_moves_a_published_item_back():
    s = project(fresh(), published("portal"))
    s = project(s, published("platform"))
    assert s.status == "published"
    s = project(s, approved())
    assert s.status == "published"


def test_a_rejection_is_final():
    data = ReviewRejectedData(revision=1, automatic=True, reason="classified")
    s = project(fresh(), new_event(ReviewRejected, "s1", "review", data))
    assert s.status == "rejected"
    assert project(s, approved()).status == "rejected"


def test_outcomes_of_an_earlier_revision_are_ignored():
    s = fresh().model_copy(update={"revision": 2})
    assert project(s, approved()) is None


DRAFT = {
    "title": "通知",
    "body": "正文",
    "category": "notice",
    "channels": ["portal"],
    "formed_on": "2026-11-01",
}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "长" * 201}, "title"),
        ({"category": "nonsense"}, "category"),
        ({"channels": []}, "channels"),
        ({"channels": ["portal", "portal"]}, "channels"),
        ({"channels": ["fax"]}, "channels"),
        ({"formed_on": "2999-01-01"}, "formed_on"),
        ({"formed_on": "2026-02-30"}, "formed_on"),
        ({"body": "正文\x00"}, "body"),
        ({"title": {"$gt": ""}}, "title"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_a_bad_draft_names_its_field(change, field):
    with pytest.raises(ValidationError) as error:
        SubmissionDraft.model_validate({**DRAFT, **change})
    assert field in {str(e["loc"][0]) for e in error.value.errors()}


# 2026-11-09 00:30 in China is still 2026-11-08 on a server that counts in UTC.
CHINA_SHORTLY_AFTER_MIDNIGHT = datetime(2026, 11, 8, 16, 30, tzinfo=UTC)


def test_an_item_formed_today_in_china_is_accepted_before_8_am_china_time():
    today = {**DRAFT, "formed_on": "2026-11-09"}
    draft = SubmissionDraft.model_validate(today, context={"now": CHINA_SHORTLY_AFTER_MIDNIGHT})
    assert str(draft.formed_on) == "2026-11-09"
    for late_evening in (
        datetime(2026, 11, 9, 15, 59, tzinfo=UTC),
        datetime(2026, 11, 9, 23, 59, tzinfo=UTC),
    ):
        SubmissionDraft.model_validate(today, context={"now": late_evening})


def test_an_item_formed_tomorrow_in_china_is_refused_as_future():
    tomorrow = {**DRAFT, "formed_on": "2026-11-10"}
    with pytest.raises(ValidationError) as error:
        SubmissionDraft.model_validate(tomorrow, context={"now": CHINA_SHORTLY_AFTER_MIDNIGHT})
    assert error.value.errors()[0]["loc"] == ("formed_on",)
    assert "future" in error.value.errors()[0]["msg"]


def test_line_breaks_and_tabs_are_fine():
    SubmissionDraft.model_validate({**DRAFT, "body": "第一段\n\t第二段\r\n"})


def test_a_department_writes_in_bursts_then_at_its_rate():
    from services.ingest.domain import RateLimiter

    limiter = RateLimiter(per_minute=60, burst=2)
    assert limiter.take("finance", 0.0) == 0 and limiter.take("finance", 0.0) == 0
    assert limiter.take("finance", 0.0) == pytest.approx(1.0)  # one token a second
    assert limiter.take("water", 0.0) == 0  # every department has its own bucket
    assert limiter.take("finance", 1.0) == 0


def test_a_correction_of_a_published_item_cannot_be_dated_before_the_item():
    from datetime import date

    from services.ingest.domain import correction_dated_before
    from shared.domain import SubmissionStatus

    formed = date(2026, 11, 2)
    assert "变更" in correction_dated_before(SubmissionStatus.PUBLISHED, date(2026, 11, 1), formed)
    assert correction_dated_before(SubmissionStatus.PUBLISHED, formed, formed) is None
    assert correction_dated_before(SubmissionStatus.PUBLISHED, date(2026, 11, 20), formed) is None
    assert correction_dated_before(SubmissionStatus.RETURNED, date(2026, 10, 1), formed) is None
