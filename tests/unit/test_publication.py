from datetime import UTC, datetime, timedelta

from services.publish.domain import (
    ChannelReceipt,
    Publication,
    PublicationState,
    attempt_failed,
    backoff,
    complete_approval,
    dead_letter,
    published,
    reapproved,
    retried,
    updated,
    withdrawn,
)
from shared.events import ReviewApproved, ReviewApprovedData, new_event
from tests.unit.factories import approval, content

NOW = datetime(2026, 11, 5, tzinfo=UTC)


def pub(**overrides) -> Publication:
    return Publication(
        submission_id="s1", channel="platform", content=content(), next_attempt_at=NOW, **overrides
    )


def test_an_approval_must_carry_every_level_from_different_people():
    assert complete_approval((approval(1, "a"), approval(2, "b")), 2)
    assert not complete_approval((approval(1, "a"),), 2)
    assert not complete_approval((approval(1, "a"), approval(2, "a")), 2)
    assert complete_approval((approval(1, "a"),), 1)


def test_publishing_records_the_receipt_and_announces_it():
    receipt = ChannelReceipt(url="https://p/1", remote_id="1", published_at=NOW)
    done, event = published(pub(), receipt)
    assert done.state == PublicationState.PUBLISHED and not done.due
    assert event.type == "publication.published" and event.data.url == "https://p/1"
    assert event.data.item.department == "office"


def test_failures_are_retried_with_growing_delays_then_announced():
    p = pub()
    for attempt in range(1, 3):
        p, event = attempt_failed(p, "503", NOW, max_attempts=3)
        assert event is None and p.attempts == attempt and p.next_attempt_at >= NOW
    p, event = attempt_failed(p, "503", NOW, max_attempts=3)
    assert p.state == PublicationState.FAILED and event.type == "publication.failed"


def test_a_client_error_is_not_retried():
    p, event = attempt_failed(pub(), "400 bad request", NOW, max_attempts=5, retryable=False)
    assert p.state == PublicationState.FAILED and event.data.attempts == 1


def test_retry_after_is_honoured():
    p, _ = attempt_failed(pub(), "429", NOW, max_attempts=5, retry_after=120)
    assert p.next_attempt_at >= NOW + timedelta(seconds=120)


def test_a_withdrawal_is_never_given_up():
    p, event = attempt_failed(
        pub(wanted="withdrawn", state="published", attempts=9), "down", NOW, max_attempts=3
    )
    assert event is None and p.due


def test_withdrawal_is_announced_only_for_what_was_public():
    _, event = withdrawn(pub(), NOW)
    assert event is None
    _, event = withdrawn(pub(state="published"), NOW)
    assert event.type == "publication.withdrawn"


def test_backoff_stays_within_its_cap():
    assert all(0 <= backoff(n, cap=30) <= 30 for n in range(1, 40))


def test_only_a_publication_failed_for_good_is_retried_from_the_start():
    failed_pub, event = attempt_failed(pub(attempts=5), "503", NOW, max_attempts=6)
    assert failed_pub.state == PublicationState.FAILED and event.type == "publication.failed"
    again = retried(failed_pub, NOW + timedelta(hours=1))
    assert (again.state, again.attempts, again.next_attempt_at) == (
        PublicationState.PENDING,
        0,
        NOW + timedelta(hours=1),
    )
    assert retried(pub(), NOW) is None  # pending: already on its way
    assert retried(failed_pub.model_copy(update={"wanted": PublicationState.WITHDRAWN}), NOW) is None


def test_the_dead_letter_of_a_failure_is_its_approval_with_the_reason():
    data = ReviewApprovedData(revision=1, content=content(), approvals=(approval(1, "a"), approval(2, "b")))
    asked = new_event(ReviewApproved, "s1", "review", data)
    failed_pub, event = attempt_failed(pub(attempts=5, approval=asked), "503 Service Unavailable", NOW, 6)
    letter = dead_letter(failed_pub, event)
    assert letter["message"]["event_id"] == str(asked.event_id)
    assert letter["reason"] == "publication on platform failed after 6 attempts: 503 Service Unavailable"
    assert dead_letter(pub(approval=asked), None) is None


def approved_event(revision: int, **content_overrides) -> ReviewApproved:
    data = ReviewApprovedData(
        revision=revision,
        content=content(**content_overrides),
        approvals=(approval(1, "a"), approval(2, "b")),
    )
    return new_event(ReviewApproved, "s1", "review", data)


def test_a_corrected_revision_makes_a_published_item_outdated_until_the_channel_is_updated():
    receipt = ChannelReceipt(url="u", remote_id="r", published_at=NOW)
    on_channel, _ = published(pub(), receipt)
    assert not on_channel.due
    corrected = reapproved(on_channel, approved_event(2, title="更正后的标题"), NOW)
    assert corrected.outdated and corrected.due and corrected.content.title == "更正后的标题"
    after, event = updated(corrected, receipt, NOW)
    assert not after.due and after.published_revision == 2
    assert event.type == "publication.updated" and event.data.revision == 2
    assert reapproved(after, approved_event(1), NOW) is None  # an older approval changes nothing
    gone = after.model_copy(update={"wanted": PublicationState.WITHDRAWN})
    assert reapproved(gone, approved_event(3), NOW) is None  # withdrawal wins
