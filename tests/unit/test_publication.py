from datetime import UTC, datetime, timedelta

import pytest

from services.publish.domain import (
    Attempt,
    ChannelReceipt,
    Publication,
    Step,
    Wanted,
    attempt_of,
    backoff,
    complete_approval,
    dead_letter,
    reapproved,
    retried,
    settled,
    withdrawal_wanted,
)
from shared.domain import ChannelState
from shared.events import ReviewApproved, ReviewApprovedData, new_event
from tests.unit.factories import approval, content

NOW = datetime(2026, 11, 5, tzinfo=UTC)
RECEIPT = ChannelReceipt(url="https://p/1", remote_id="1", published_at=NOW)


def pub(**overrides) -> Publication:
    return Publication(
        submission_id="s1", channel="platform", content=content(), next_attempt_at=NOW, **overrides
    )


def succeed(p: Publication, receipt: ChannelReceipt | None = RECEIPT, at=NOW):
    attempt = attempt_of(p)
    return settled(p, Attempt(attempt.step, attempt.revision, attempt.content, receipt=receipt), at, 3)


def fail(p: Publication, error="503", max_attempts=3, **how):
    attempt = attempt_of(p)
    return settled(
        p, Attempt(attempt.step, attempt.revision, attempt.content, error=error, **how), NOW, max_attempts
    )


def test_an_approval_must_carry_every_level_from_different_people():
    assert complete_approval((approval(1, "a"), approval(2, "b")), 2)
    assert not complete_approval((approval(1, "a"),), 2)
    assert not complete_approval((approval(1, "a"), approval(2, "a")), 2)
    assert complete_approval((approval(1, "a"),), 1)


def test_publishing_records_the_receipt_and_announces_it():
    done, event = succeed(pub())
    assert done.state == ChannelState.LIVE and done.live_revision == 1 and not done.due
    assert event.type == "publication.published" and event.data.url == "https://p/1"
    assert event.data.item.department == "office" and event.data.sequence == 1 and event.data.revision == 1


def test_failures_are_retried_with_growing_delays_then_announced():
    p = pub()
    for attempt in range(1, 3):
        p, event = fail(p)
        assert event is None and p.attempts == attempt and p.next_attempt_at >= NOW and p.due
    p, event = fail(p)
    assert p.given_up and not p.due and event.type == "publication.failed"
    assert event.data.live_revision is None and event.data.revision == 1


def test_a_client_error_is_not_retried():
    p, event = fail(pub(), "400 bad request", max_attempts=5, retryable=False)
    assert p.given_up and event.data.attempts == 1


def test_retry_after_is_honoured():
    p, _ = fail(pub(), "429", max_attempts=5, retry_after=120)
    assert p.next_attempt_at >= NOW + timedelta(seconds=120)


def test_a_withdrawal_is_never_given_up():
    live, _ = succeed(pub())
    going = withdrawal_wanted(live, NOW)
    assert attempt_of(going).step == Step.WITHDRAW
    p, event = fail(going.model_copy(update={"attempts": 9}), "down")
    assert event is None and p.due and not p.given_up


def test_withdrawal_is_announced_only_for_what_was_on_the_channel():
    never = withdrawal_wanted(pub(), NOW)
    assert not never.due and never.state == ChannelState.NEVER_PUBLISHED
    live, _ = succeed(pub())
    gone, event = succeed(withdrawal_wanted(live, NOW), None)
    assert (
        gone.state == ChannelState.GONE and event.type == "publication.withdrawn" and event.data.sequence == 2
    )


def test_backoff_stays_within_its_cap():
    assert all(0 <= backoff(n, cap=30) <= 30 for n in range(1, 40))


def test_only_a_publication_given_up_is_retried_from_the_start():
    failed_pub, event = fail(pub(attempts=5), max_attempts=6)
    assert failed_pub.given_up and event.type == "publication.failed"
    again = retried(failed_pub, NOW + timedelta(hours=1))
    assert (again.given_up, again.attempts, again.next_attempt_at) == (False, 0, NOW + timedelta(hours=1))
    assert again.next_step == Step.PUBLISH
    assert retried(pub(), NOW) is None  # pending: already on its way
    assert retried(failed_pub.model_copy(update={"wanted": Wanted.WITHDRAWN}), NOW) is None


def test_the_dead_letter_of_a_failure_is_its_approval_with_the_reason():
    data = ReviewApprovedData(revision=1, content=content(), approvals=(approval(1, "a"), approval(2, "b")))
    asked = new_event(ReviewApproved, "s1", "review", data)
    failed_pub, event = fail(pub(attempts=5, approval=asked), "503 Service Unavailable", max_attempts=6)
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


def test_a_corrected_revision_leaves_the_channel_live_but_stale_until_it_is_updated():
    on_channel, _ = succeed(pub())
    assert not on_channel.due
    corrected = reapproved(on_channel, approved_event(2, title="更正后的标题"), NOW)
    assert corrected.state == ChannelState.LIVE_STALE and corrected.next_step == Step.UPDATE
    assert corrected.content.title == "更正后的标题"
    after, event = succeed(corrected)
    assert after.state == ChannelState.LIVE and not after.due and after.live_revision == 2
    assert event.type == "publication.updated" and event.data.revision == 2
    assert after.receipt.published_at == NOW  # a correction keeps the day of first publication
    assert reapproved(after, approved_event(1), NOW) is None  # an older approval changes nothing
    gone = withdrawal_wanted(after, NOW)
    assert reapproved(gone, approved_event(3), NOW) is None  # withdrawal wins


def test_an_update_that_fails_for_good_leaves_the_old_revision_live_and_a_withdrawal_takes_it_down():
    on_channel, _ = succeed(pub())
    stale = reapproved(on_channel, approved_event(2), NOW)
    stale, event = fail(stale, "400", retryable=False)
    assert stale.state == ChannelState.LIVE_STALE and stale.live_revision == 1 and not stale.due
    assert event.type == "publication.failed" and (event.data.revision, event.data.live_revision) == (2, 1)
    going = withdrawal_wanted(stale, NOW)
    assert going.next_step == Step.WITHDRAW
    gone, event = succeed(going, None)
    assert gone.state == ChannelState.GONE and event.type == "publication.withdrawn"


def test_an_outcome_is_applied_to_the_publication_as_it_is_now():
    claimed = pub()
    attempt = attempt_of(claimed)
    meanwhile = reapproved(claimed, approved_event(2, title="新"), NOW)  # approved again during the push
    done, event = settled(meanwhile, Attempt(attempt.step, 1, attempt.content, receipt=RECEIPT), NOW, 3)
    assert done.state == ChannelState.LIVE_STALE and done.revision == 2 and done.next_step == Step.UPDATE
    assert event.type == "publication.published" and event.data.revision == 1
    # A failure of a step no longer due counts for nothing.
    withdrawing = withdrawal_wanted(pub(), NOW)
    unchanged, event = settled(withdrawing, Attempt(Step.PUBLISH, 1, content(), error="503"), NOW, 3)
    assert event is None and unchanged == withdrawing


def test_a_step_reported_twice_changes_nothing_the_second_time():
    claimed = pub()
    attempt = Attempt(Step.PUBLISH, 1, content(), receipt=RECEIPT)
    once, _ = settled(claimed, attempt, NOW, 3)
    twice, event = settled(once, attempt, NOW, 3)
    assert event is None and twice == once


def test_a_publication_stored_before_channel_states_reads_as_one():
    legacy = {"submission_id": "s1", "channel": "platform", "content": content(), "next_attempt_at": NOW}
    receipt = RECEIPT.model_dump()
    failed_update = Publication.model_validate(
        {**legacy, "state": "failed", "revision": 2, "published_revision": 1, "receipt": receipt}
    )
    assert failed_update.state == ChannelState.LIVE_STALE and failed_update.given_up
    assert withdrawal_wanted(failed_update, NOW).next_step == Step.WITHDRAW
    never = Publication.model_validate({**legacy, "state": "failed"})
    assert never.state == ChannelState.NEVER_PUBLISHED and never.given_up
    live = Publication.model_validate(
        {**legacy, "state": "published", "published_revision": 1, "receipt": receipt}
    )
    assert live.state == ChannelState.LIVE and live.live_revision == 1
    gone = Publication.model_validate(
        {**legacy, "state": "withdrawn", "published_revision": 1, "receipt": receipt}
    )
    assert gone.state == ChannelState.GONE and gone.live_revision is None


@pytest.mark.parametrize(
    ("address", "trusted", "refused"),
    [
        ("93.184.216.34", [], False),
        ("2606:4700::1111", [], False),
        ("127.0.0.1", [], True),
        ("10.0.0.8", [], True),
        ("172.16.5.4", [], True),
        ("169.254.169.254", [], True),
        ("100.64.1.1", [], True),
        ("224.0.0.1", [], True),
        ("::1", [], True),
        ("fe80::1%eth0", [], True),
        ("fd00::1", [], True),
        ("::ffff:127.0.0.1", [], True),
        ("10.1.2.3", ["10.1.0.0/16"], False),
        ("10.2.0.1", ["10.1.0.0/16"], True),
    ],
)
def test_webhooks_go_to_public_addresses_or_trusted_networks(address, trusted, refused):
    from ipaddress import ip_network

    from services.publish.destinations import refusal

    assert (refusal(address, [ip_network(n) for n in trusted]) is not None) is refused
