"""The lifecycle of one item as two pure state machines working together — ingest's projection
of the item, publish's publication per channel — driven through every sequence hypothesis finds:
review outcomes, corrections, withdrawals, channel pushes that succeed, fail for a while or for
good, and every event delivered late, twice or out of order.

The model keeps the truth (what each channel really shows, which revisions were approved) and
checks after every step what the issue promises: a withdrawal reaches every channel that shows
any revision; a channel's state says what is on it; late or repeated events move nothing wrongly;
a file is public only while a revision carrying it is live."""

from datetime import UTC, datetime

import hypothesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from services.ingest import domain as ingest
from services.publish import domain as publish
from shared.domain import ChannelState, SubmissionStatus
from shared.events import (
    Envelope,
    ReviewApproved,
    ReviewApprovedData,
    ReviewQueued,
    ReviewQueuedData,
    ReviewRejected,
    ReviewRejectedData,
    ReviewReturned,
    ReviewReturnedData,
    new_event,
)
from tests.unit.factories import approval, content

AT = datetime(2026, 11, 5, tzinfo=UTC)
SID = "s1"
CHANNELS = ("platform", "portal")
RECEIPT = publish.ChannelReceipt(url="https://x/1", remote_id="1", published_at=AT)
LEVELS = 2
MAX_ATTEMPTS = 2


class Lifecycle(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.sub = ingest.Submission(
            id=SID,
            department="office",
            status="received",
            channels=list(CHANNELS),
            stage="received",
            files={"1": ["f1"]},
        )
        self.review = {"revision": 1, "level": 1, "state": "pending"}
        self.to_ingest: list[Envelope] = [self._queued(1, 1)]
        self.to_publish: list[Envelope | str] = []  # approvals, and "withdrawn"
        self.pubs: dict[str, publish.Publication] = {}
        self.publish_withdrawn = False
        self.shown: dict[str, int | None] = dict.fromkeys(CHANNELS)  # what each channel really shows
        self.in_flight: dict[str, publish.Attempt] = {}
        self.sequences: dict[str, list[int]] = {c: [] for c in CHANNELS}
        self.approved: set[int] = set()
        self.ever_shown: set[int] = set()

    # review, as a person decides -----------------------------------------------------------

    def _queued(self, revision: int, level: int) -> Envelope:
        return new_event(ReviewQueued, SID, "review", ReviewQueuedData(revision=revision, level=level))

    @precondition(lambda self: self.review["state"] == "pending")
    @rule(decision=st.sampled_from(["approve", "approve", "approve", "reject", "return"]))
    def decide(self, decision):
        revision, level = self.review["revision"], self.review["level"]
        if decision == "approve" and level < LEVELS:
            self.review["level"] = level + 1
            self.to_ingest.append(self._queued(revision, level + 1))
            return
        self.review["state"] = {"approve": "approved", "reject": "rejected", "return": "returned"}[decision]
        if decision == "approve":
            data = ReviewApprovedData(
                revision=revision,
                content=content(title=f"第{revision}稿"),
                approvals=(approval(1, "a"), approval(2, "b")),
            )
            event = new_event(ReviewApproved, SID, "review", data)
            self.approved.add(revision)
            self.to_publish.append(event)
        elif decision == "reject":
            data = ReviewRejectedData(revision=revision, automatic=False, reason="inaccurate")
            event = new_event(ReviewRejected, SID, "review", data)
        else:
            data = ReviewReturnedData(revision=revision, level=level, reviewer="a", comment="改")
            event = new_event(ReviewReturned, SID, "review", data)
        self.to_ingest.append(event)

    # the clerk and the operator, through ingest's commands ---------------------------------

    @precondition(lambda self: ingest.can_revise(self.sub))
    @rule(keep_files=st.booleans())
    def revise(self, keep_files):
        revision = self.sub.revision + 1
        files = [f"f{revision}"] + (self.sub.files.get(str(self.sub.revision), []) if keep_files else [])
        self.sub = ingest.revised(self.sub, AT, list(CHANNELS), files)
        assert self.sub.status == SubmissionStatus.RECEIVED
        # Ingest revises only what review has decided: review takes the revision up.
        assert self.review["state"] in ("approved", "rejected", "returned")
        self.review = {"revision": revision, "level": 1, "state": "pending"}
        self.to_ingest.append(self._queued(revision, 1))

    @precondition(lambda self: ingest.can_withdraw(self.sub))
    @rule(now=st.integers(0, 7))
    def withdraw(self, now):
        if now < 7:  # rarely: a withdrawal is final, and much happens before one
            return
        self.sub = ingest.withdrawn(self.sub, AT, "撤回")
        assert self.sub.status == SubmissionStatus.WITHDRAWN
        if self.review["state"] == "pending":
            self.review["state"] = "withdrawn"
        self.to_publish.append("withdrawn")

    # publish: its consumer and its worker --------------------------------------------------

    @precondition(lambda self: self.to_publish)
    @rule(data=st.data(), again=st.sampled_from([False, False, False, True]))
    def publish_receives(self, data, again):
        message = data.draw(st.sampled_from(self.to_publish))
        if not again:
            self.to_publish.remove(message)
        if message == "withdrawn":
            self.publish_withdrawn = True
            self._withdraw_every_publication()
            return
        if not self.publish_withdrawn:
            self._receive_approval(message)

    def _withdraw_every_publication(self):
        for channel, pub in self.pubs.items():
            self.pubs[channel] = publish.withdrawal_wanted(pub, AT) or pub

    def _due(self) -> list[str]:
        return [c for c, p in self.pubs.items() if p.due and c not in self.in_flight]

    @precondition(lambda self: self._due())
    @rule(channel=st.sampled_from(CHANNELS))
    def worker_claims(self, channel):
        pub = self.pubs.get(channel)
        if pub is None or channel in self.in_flight or not pub.due:
            return
        self.in_flight[channel] = publish.attempt_of(pub)

    @precondition(lambda self: self.in_flight)
    @rule(data=st.data(), outcome=st.sampled_from(["ok", "ok", "retry", "refused"]))
    def worker_finishes(self, data, outcome):
        self.worker_finishes_with(data.draw(st.sampled_from(sorted(self.in_flight))), outcome)

    def worker_finishes_with(self, channel, outcome):
        attempt = self.in_flight.pop(channel)
        if outcome == "ok":
            if attempt.step == publish.Step.WITHDRAW:
                self.shown[channel] = None
            else:
                self.shown[channel] = attempt.revision
                self.ever_shown.add(attempt.revision)
            attempt = publish.Attempt(attempt.step, attempt.revision, attempt.content, receipt=RECEIPT)
        else:
            error = "503" if outcome == "retry" else "400"
            attempt = publish.Attempt(
                attempt.step, attempt.revision, attempt.content, error=error, retryable=outcome == "retry"
            )
        self.pubs[channel], event = publish.settled(self.pubs[channel], attempt, AT, MAX_ATTEMPTS)
        if event is not None:
            self.sequences[channel].append(event.data.sequence)
            self.to_ingest.append(event)
            hypothesis.event(f"{event.type} after {attempt.step}")

    @precondition(lambda self: any(p.given_up for p in self.pubs.values()))
    @rule(channel=st.sampled_from(CHANNELS))
    def dead_letter_replayed(self, channel):
        """An operator replays the approval of a publication given up on, from the DLQ."""
        pub = self.pubs.get(channel)
        if pub is not None and pub.given_up and pub.approval is not None:
            self.pubs[channel] = publish.reapproved(pub, pub.approval, AT) or pub

    # ingest's consumer ---------------------------------------------------------------------

    @precondition(lambda self: self.to_ingest)
    @rule(data=st.data(), again=st.sampled_from([False, False, False, True]))
    def ingest_receives(self, data, again):
        event = data.draw(st.sampled_from(self.to_ingest))
        if not again:
            self.to_ingest.remove(event)
        before = self.sub
        after = ingest.project(self.sub, event)
        if after is not None:
            self.sub = after
            assert ingest.project(after, event) is None  # the same event twice changes nothing
        if before.withdrawn:
            assert self.sub.status == SubmissionStatus.WITHDRAWN

    @rule()
    def time_passes(self):
        """Nothing happens (so that a finished item is a state like any other)."""

    # what must hold after every step -------------------------------------------------------

    @invariant()
    def each_channel_state_says_what_is_on_it(self):
        for channel, pub in self.pubs.items():
            shown = self.shown[channel]
            if channel in self.in_flight:
                continue
            assert pub.on_channel == (shown is not None), (pub.state, shown)
            assert pub.live_revision == shown
            if pub.state == ChannelState.LIVE:
                assert pub.live_revision == pub.revision
            if pub.state == ChannelState.LIVE_STALE:
                assert pub.live_revision < pub.revision
            if pub.state == ChannelState.GONE:
                assert pub.wanted == publish.Wanted.WITHDRAWN

    @invariant()
    def a_withdrawal_is_never_forgotten(self):
        for channel, pub in self.pubs.items():
            if pub.wanted == publish.Wanted.WITHDRAWN and self.shown[channel] is not None:
                assert pub.next_step == publish.Step.WITHDRAW or channel in self.in_flight
            if self.publish_withdrawn:
                assert pub.wanted == publish.Wanted.WITHDRAWN

    @invariant()
    def what_is_wanted_is_pursued_until_given_up(self):
        for channel, pub in self.pubs.items():
            if pub.wanted == publish.Wanted.PUBLISHED and not pub.given_up and channel not in self.in_flight:
                assert pub.due == (self.shown[channel] != pub.revision)

    @invariant()
    def each_channel_announces_in_sequence(self):
        for numbers in self.sequences.values():
            assert numbers == list(range(1, len(numbers) + 1))

    @invariant()
    def anything_online_can_be_withdrawn(self):
        if any(v is not None for v in self.shown.values()) and not self.sub.withdrawn:
            assert ingest.can_withdraw(self.sub)

    @invariant()
    def a_revision_in_review_shows_its_review(self):
        if (
            self.sub.stage in (ingest.ReviewStage.RECEIVED, ingest.ReviewStage.IN_REVIEW)
            and not self.sub.withdrawn
        ):
            assert self.sub.status in (SubmissionStatus.RECEIVED, SubmissionStatus.IN_REVIEW)

    @invariant()
    def a_rejected_correction_leaves_the_item_published_and_open(self):
        if (
            self.sub.stage == ingest.ReviewStage.REJECTED
            and self.sub.approved_revision
            and not self.sub.withdrawn
        ):
            assert self.sub.status != SubmissionStatus.REJECTED
            assert ingest.can_withdraw(self.sub)

    @invariant()
    def files_are_public_only_while_a_revision_carrying_them_is_live(self):
        public = ingest.public_files(self.sub, [])
        if self.sub.withdrawn:
            assert public == set()
        allowed = {f for r in self.ever_shown & self.approved for f in self.sub.files.get(str(r), [])}
        assert public <= allowed

    @initialize(start=st.sampled_from(["fresh", "published", "correcting", "stale", "rejected correction"]))
    def start_from(self, start):
        """Begin where the interesting sequences begin, instead of waiting for chance to get there."""
        if start == "fresh":
            return
        self._approve()
        self._settle_everything()
        if start == "published":
            return
        self.revise(keep_files=True)
        self._settle_everything()
        if start == "correcting":
            return
        if start == "rejected correction":
            self.decide("reject")
            self._settle_everything()
            return
        self._approve()  # stale: the correction's update is refused by the platform
        self._deliver_to_publish()
        self.worker_claims("platform")
        self.worker_finishes_with("platform", "refused")

    def _approve(self):
        while self.review["state"] == "pending":
            self.decide("approve")

    def _deliver_to_publish(self):
        while self.to_publish:
            message = self.to_publish.pop(0)
            if message == "withdrawn":
                self.publish_withdrawn = True
                self._withdraw_every_publication()
            elif not self.publish_withdrawn:
                self._receive_approval(message)

    def _settle_everything(self):
        """Every message delivered and every worker run until nothing is due, given-up
        publications replayed from the DLQ; ingest's events delivered newest first (the worst
        order)."""
        for _ in range(50):
            progressed = bool(self.to_publish or self.to_ingest)
            self._deliver_to_publish()
            for channel in CHANNELS:
                if channel in self.pubs and self.pubs[channel].given_up:
                    self.dead_letter_replayed(channel)
                if channel in self.pubs and self.pubs[channel].due and channel not in self.in_flight:
                    self.worker_claims(channel)
                if channel in self.in_flight:
                    self.worker_finishes_with(channel, "ok")
                    progressed = True
            while self.to_ingest:
                self.sub = ingest.project(self.sub, self.to_ingest.pop()) or self.sub
            if not progressed:
                return

    def teardown(self):
        """Everything delivered and every worker run to the end: ingest sees what the channels
        show; a withdrawn item is on no channel; a published one shows its newest approval."""
        hypothesis.event(f"end: {self.sub.status}, revision {self.sub.revision}")
        self._settle_everything()
        for channel, pub in self.pubs.items():
            receipt = self.sub.publications.get(channel) or ingest.ChannelReceipt(channel=channel)
            assert (receipt.state, receipt.revision) == (pub.state, pub.live_revision)
            if self.sub.withdrawn:
                assert self.shown[channel] is None
            else:
                assert self.shown[channel] == max(self.approved)
        if (
            not self.sub.withdrawn
            and self.sub.approved_revision
            and self.sub.stage != ingest.ReviewStage.RETURNED
        ):
            if self.sub.stage in (ingest.ReviewStage.APPROVED, ingest.ReviewStage.REJECTED):
                assert self.sub.status == SubmissionStatus.PUBLISHED

    def _receive_approval(self, message):
        for channel in CHANNELS:
            if channel not in self.pubs:
                self.pubs[channel] = publish.Publication(
                    submission_id=SID,
                    channel=channel,
                    content=message.data.content,
                    revision=message.data.revision,
                    next_attempt_at=AT,
                    approval=message,
                )
            else:
                self.pubs[channel] = publish.reapproved(self.pubs[channel], message, AT) or self.pubs[channel]


Lifecycle.TestCase.settings = settings(
    max_examples=400, stateful_step_count=80, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
test_lifecycle = Lifecycle.TestCase


def _approval_of(revision: int) -> ReviewApproved:
    data = ReviewApprovedData(
        revision=revision,
        content=content(title=f"第{revision}稿"),
        approvals=(approval(1, "a"), approval(2, "b")),
    )
    return new_event(ReviewApproved, SID, "review", data)


def test_every_event_in_every_reachable_state_of_a_channel():
    """Exhaustive, not sampled: from a fresh publication, every event — an approval of each
    revision (older, the same, newer), a withdrawal, the worker's claim, its step succeeding,
    failing for a while or for good — in every state reachable so (up to three revisions)."""
    approvals = {r: _approval_of(r) for r in (1, 2, 3)}
    start = (
        publish.Publication(
            submission_id=SID, channel="platform", content=approvals[1].data.content, next_attempt_at=AT
        ),
        None,  # the revision the channel really shows
        None,  # the attempt in flight
    )

    def key(state):
        pub, shown, attempt = state
        fields = pub.model_dump(include={"state", "wanted", "revision", "live_revision", "given_up"})
        tries = min(pub.attempts, MAX_ATTEMPTS)  # a withdrawal's tries go on counting: alike from here
        return (tuple(sorted(fields.items())), tries, shown, attempt and (attempt.step, attempt.revision))

    def events(state):
        pub, shown, attempt = state
        for revision, asked in approvals.items():
            yield f"approved {revision}", (publish.reapproved(pub, asked, AT) or pub, shown, attempt), None
        yield "withdrawn", (publish.withdrawal_wanted(pub, AT) or pub, shown, attempt), None
        if attempt is None and pub.due:
            yield "claimed", (pub, shown, publish.attempt_of(pub)), None
        if attempt is not None:
            now_shows = None if attempt.step == publish.Step.WITHDRAW else attempt.revision
            done = publish.Attempt(attempt.step, attempt.revision, attempt.content, receipt=RECEIPT)
            after, event = publish.settled(pub, done, AT, MAX_ATTEMPTS)
            yield "succeeded", (after, now_shows, None), event
            for retryable in (True, False):
                failed = publish.Attempt(
                    attempt.step, attempt.revision, attempt.content, error="x", retryable=retryable
                )
                after, event = publish.settled(pub, failed, AT, MAX_ATTEMPTS)
                yield f"failed (retryable={retryable})", (after, shown, None), event

    seen, frontier, transitions = {key(start)}, [start], 0
    while frontier:
        state = frontier.pop()
        for name, (pub, shown, attempt), event in events(state):
            transitions += 1
            before = state[0]
            where = f"{name} from {key(state)}"
            if attempt is None:  # nothing in flight: the state says exactly what is shown
                assert pub.on_channel == (shown is not None) and pub.live_revision == shown, where
            assert pub.state != ChannelState.LIVE or pub.live_revision == pub.revision, where
            assert pub.state != ChannelState.LIVE_STALE or pub.live_revision < pub.revision, where
            assert pub.state != ChannelState.GONE or pub.wanted == publish.Wanted.WITHDRAWN, where
            assert before.wanted != publish.Wanted.WITHDRAWN or pub.wanted == publish.Wanted.WITHDRAWN, where
            assert pub.revision >= before.revision, where
            if pub.wanted == publish.Wanted.WITHDRAWN and shown is not None and attempt is None:
                assert pub.next_step == publish.Step.WITHDRAW, where  # never forgotten
            if event is not None:
                assert event.data.sequence == before.sequence + 1, where
            else:
                assert pub.sequence == before.sequence, where
            if event is not None and event.type == "publication.failed":
                assert event.data.live_revision == shown, where
            next_state = (pub, shown, attempt)
            if key(next_state) not in seen:
                seen.add(key(next_state))
                frontier.append(next_state)
    assert len(seen) > 50 and transitions > 500, (len(seen), transitions)  # walked, not skipped
