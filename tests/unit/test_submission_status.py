from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.ingest.domain import (
    Submission,
    SubmissionDraft,
    can_revise,
    can_withdraw,
    project,
    public_files,
    revised,
    withdrawn,
)
from shared.domain import ChannelState
from shared.events import (
    PublicationFailed,
    PublicationFailedData,
    PublicationPublished,
    PublicationPublishedData,
    PublicationUpdated,
    PublicationUpdatedData,
    PublicationWithdrawn,
    PublicationWithdrawnData,
    PublishedItem,
    ReviewApproved,
    ReviewApprovedData,
    ReviewQueued,
    ReviewQueuedData,
    ReviewRejected,
    ReviewRejectedData,
    new_event,
)
from tests.unit.factories import approval, content

AT = datetime(2026, 11, 5, tzinfo=UTC)


def fresh() -> Submission:
    return Submission(
        id="s1",
        department="office",
        status="received",
        stage="received",
        channels=["platform", "portal"],
        files={"1": ["file-1"]},
    )


def approved(revision: int = 1):
    data = ReviewApprovedData(
        revision=revision, content=content(), approvals=(approval(1, "a"), approval(2, "b"))
    )
    return new_event(ReviewApproved, "s1", "review", data)


def rejected(revision: int = 1):
    data = ReviewRejectedData(revision=revision, automatic=False, reason="inaccurate", level=1, reviewer="a")
    return new_event(ReviewRejected, "s1", "review", data)


def queued(revision: int, level: int = 1):
    return new_event(ReviewQueued, "s1", "review", ReviewQueuedData(revision=revision, level=level))


def published(channel: str, revision: int = 1, sequence: int = 1):
    item = PublishedItem.of(content())
    data = PublicationPublishedData(
        channel=channel,
        url=f"https://x/{channel}",
        remote_id="r",
        published_at=AT,
        item=item,
        revision=revision,
        sequence=sequence,
    )
    return new_event(PublicationPublished, "s1", "publish", data)


def updated(channel: str, revision: int, sequence: int):
    item = PublishedItem.of(content())
    data = PublicationUpdatedData(
        channel=channel,
        url="u",
        remote_id="r",
        updated_at=AT,
        revision=revision,
        item=item,
        sequence=sequence,
    )
    return new_event(PublicationUpdated, "s1", "publish", data)


def failed(channel: str, revision: int, live_revision: int | None, sequence: int):
    data = PublicationFailedData(
        channel=channel,
        attempts=6,
        error="400",
        revision=revision,
        live_revision=live_revision,
        sequence=sequence,
    )
    return new_event(PublicationFailed, "s1", "publish", data)


def gone(channel: str, sequence: int):
    data = PublicationWithdrawnData(channel=channel, withdrawn_at=AT, sequence=sequence)
    return new_event(PublicationWithdrawn, "s1", "publish", data)


def live_everywhere() -> Submission:
    s = fresh()
    for event in (approved(), published("platform"), published("portal")):
        s = project(s, event)
    assert s.status == "published"
    return s


def correcting(files: list[str] | None = None) -> Submission:
    s = revised(live_everywhere(), AT, ["platform", "portal"], files or ["file-2"])
    return project(s, queued(2))


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
    assert project(s, approved()) is None


def test_outcomes_of_an_earlier_revision_are_ignored():
    s = fresh().model_copy(update={"revision": 2})
    assert project(s, approved()) is None


def test_a_rejected_correction_leaves_the_item_published_withdrawable_and_correctable():
    s = project(correcting(), rejected(2))
    assert s.status == "published" and s.stage == "rejected"
    assert s.review["correction_rejected"] and s.review["revision"] == 2 and s.review["live_revision"] == 1
    assert "第2稿（更正）不予公开" in s.timeline[-1].detail
    assert all(r.state == ChannelState.LIVE and r.revision == 1 for r in s.publications.values())
    assert can_withdraw(s) and can_revise(s)
    again = revised(s, AT, ["platform", "portal"], [])
    assert again.revision == 3 and again.status == "received"


def test_a_first_revision_rejected_has_nothing_to_withdraw_or_revise():
    s = project(fresh(), rejected(1))
    assert s.status == "rejected" and not can_withdraw(s) and not can_revise(s)


def test_a_late_failure_never_moves_a_correction_in_review_to_published():
    s = correcting()
    late = project(s, failed("platform", 1, None, sequence=1))  # older than what was applied
    assert late is None
    s = project(s, failed("platform", 2, 1, sequence=2))
    assert s.status == "in_review" and s.publications["platform"].state == ChannelState.LIVE


def test_an_update_failed_for_good_leaves_the_channel_live_stale_and_withdrawable():
    s = project(correcting(), approved(2))
    s = project(s, updated("portal", 2, sequence=2))
    s = project(s, failed("platform", 2, 1, sequence=2))
    platform = s.publications["platform"]
    assert (platform.state, platform.revision, platform.failed) == (ChannelState.LIVE_STALE, 1, True)
    assert platform.status == "published"  # still on the platform, whatever the update did
    assert s.status == "failed" and can_withdraw(s)
    s = withdrawn(s, AT, "撤回")
    assert s.status == "withdrawn" and not can_withdraw(s)
    s = project(s, gone("platform", 3))
    assert s.publications["platform"].state == ChannelState.GONE
    assert project(s, published("platform", 1, sequence=1)) is None  # late: moves nothing back


def test_channel_events_apply_in_publish_order_whatever_order_they_arrive_in():
    s = live_everywhere()
    s = withdrawn(s, AT, "")
    s = project(s, gone("portal", 2))
    assert project(s, published("portal", 1, sequence=1)) is None
    assert s.publications["portal"].status == "withdrawn" and s.status == "withdrawn"


def test_a_publication_before_its_approval_arrives_tells_of_the_approval():
    s = project(project(fresh(), published("portal")), published("platform"))
    assert s.status == "published"
    s = project(s, approved())
    assert s.status == "published" and s.review["approvals"]


def test_files_are_public_only_while_a_revision_carrying_them_is_live():
    assert public_files(fresh(), []) == set()  # nothing live yet
    s = correcting(["file-1", "file-2"])
    assert public_files(s, []) == {"file-1"}  # the correction's new file waits for its approval
    s = project(project(s, approved(2)), updated("portal", 2, sequence=2))
    assert public_files(s, []) == {"file-1", "file-2"}  # the portal shows revision 2
    s = project(s, updated("platform", 2, sequence=2))
    assert public_files(s, []) == {"file-1", "file-2"}
    assert public_files(withdrawn(s, AT, ""), []) == set()
    rejected_correction = project(correcting(["file-3"]), rejected(2))
    assert public_files(rejected_correction, []) == {"file-1"}


def test_a_submission_stored_before_stages_reads_as_one():
    legacy = {
        "id": "s1",
        "department": "office",
        "status": "published",
        "channels": ["platform"],
        "publications": {"platform": {"channel": "platform", "status": "published", "url": "u"}},
    }
    s = Submission.model_validate(legacy)
    assert s.stage == "approved" and s.approved_revision == 1 and can_withdraw(s) and can_revise(s)
    assert s.publications["platform"].state == ChannelState.LIVE
    assert s.publications["platform"].revision == 1
    assert public_files(s, ["old-file"]) == {"old-file"}


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


def test_a_correction_may_not_leave_out_a_channel_that_shows_the_item():
    from services.ingest.domain import dropped_channels

    s = live_everywhere()
    assert dropped_channels(s, ["portal"]) == ["platform"]
    assert dropped_channels(s, ["platform", "portal"]) == []
    assert dropped_channels(fresh(), ["portal"]) == []  # nothing online yet: any channels


def test_a_correction_stored_before_stages_still_knows_its_approved_revision_is_online():
    legacy = {
        "id": "s1",
        "department": "office",
        "status": "in_review",
        "revision": 2,
        "channels": ["platform"],
        "publications": {"platform": {"channel": "platform", "status": "published", "url": "u"}},
    }
    s = project(Submission.model_validate(legacy), rejected(2))
    assert s.status == "published" and s.publications["platform"].revision == 1
    assert can_withdraw(s) and can_revise(s)
