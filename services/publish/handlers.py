"""What publish does: one function per event, and the worker that brings each publication to
where it is wanted (on its channel, or off it again)."""

import asyncio
import json
import time
from dataclasses import replace
from datetime import datetime

import httpx
import structlog

from services.publish.channels import ChannelAdapter, ChannelError, signed_request
from services.publish.destinations import Network, Unreachable, destination
from services.publish.domain import (
    Attempt,
    ChannelReceipt,
    Publication,
    Step,
    attempt_of,
    complete_approval,
    goes_online,
)
from services.publish.store import IndexNumbers, ItemStore, PublicationStore, SubscriptionStore
from services.publish.subscriptions import (
    DeliveryRecord,
    Subscription,
    entry_time,
    event_type,
    failed,
    feed_event,
    is_item_event,
    passed,
    webhook_id,
)
from shared.events import Event, ReportPublished, ReviewApproved, SubmissionWithdrawn, utcnow
from shared.metrics import CHANNEL_PUSH
from shared.observability import Figure
from shared.settings import Settings
from shared.tracing import about
from shared.wakeup import Wakeup

log = structlog.get_logger(__name__)
CONCURRENT_STEPS = 32
DELIVERY_BATCH = 50  # feed entries a subscription is brought forward by per pass
SUBSCRIPTION_BEHIND = "gongkai_subscription_entries_behind"
SUBSCRIPTION_OLDEST = "gongkai_subscription_oldest_seconds"


async def on_event(store: PublicationStore, settings: Settings, wake: Wakeup, event: Event) -> None:
    match event:
        case ReviewApproved():
            await on_approved(store, settings, event)
        case SubmissionWithdrawn():
            await on_withdrawn(store, event)
        case ReportPublished():
            await store.keep_report(event.data)  # the portal's 年报 page; no channel is involved
            return
        case _:
            return
    wake.set()


async def on_approved(store: PublicationStore, settings: Settings, event: ReviewApproved) -> None:
    """Claim one publication per requested channel; the worker does the pushing."""
    if not complete_approval(event.data.approvals, settings.review_levels):
        reason = f"approval lacks a level of {settings.review_levels} or repeats a reviewer"
        log.warning("approval refused", reason=reason)
        await store.record_refusal(event.submission_id, str(event.event_id), reason)
        return
    if await store.is_withdrawn(event.submission_id):
        return
    if not goes_online(event.data.content):
        await hold(store, event)
        return
    for channel in event.data.content.channels:
        pub = Publication(
            submission_id=event.submission_id,
            channel=channel,
            content=event.data.content,
            revision=event.data.revision,
            next_attempt_at=utcnow(),
            approval=event,
        )
        if not await store.create(pub):
            # Approved again: a corrected revision updates the channel; the same approval replayed
            # from the DLQ tries once more what had failed for good; a duplicate changes nothing.
            await store.reapprove(event.submission_id, channel, event)
    # A withdrawal that raced past the check above still reaches every publication.
    if await store.is_withdrawn(event.submission_id):
        await on_withdrawn_id(store, event.submission_id)


async def hold(store: PublicationStore, event: ReviewApproved) -> None:
    """An approved item not disclosed proactively (依申请公开, 不予公开): recorded, and kept off
    every channel; if a revision of it had been published, it is taken off again."""
    content = event.data.content
    log.info("approved item kept off the channels", disclosure=content.disclosure)
    await store.record_held(event.submission_id, event.data.revision, content.disclosure)
    await on_withdrawn_id(store, event.submission_id)


async def on_withdrawn(store: PublicationStore, event: SubmissionWithdrawn) -> None:
    await store.record_withdrawal(event.submission_id, event.occurred_at)
    await on_withdrawn_id(store, event.submission_id)


async def on_withdrawn_id(store: PublicationStore, submission_id: str) -> None:
    for pub in await store.of_submission(submission_id):
        await store.want_withdrawn(submission_id, pub.channel)


async def process(
    pub: Publication, channel: ChannelAdapter, numbers: IndexNumbers | None = None
) -> Attempt | None:
    """The step due for the publication as claimed, taken on its channel; its outcome is applied
    to the publication as stored by then (domain.settled). None when nothing was due. What goes
    online carries the item's 索引号, assigned at its first publication on any channel."""
    attempt = attempt_of(pub)
    if attempt is None:
        return None
    try:
        if numbers is not None and attempt.step in (Step.PUBLISH, Step.UPDATE):
            number = await numbers.assign(pub.submission_id, pub.content.category, utcnow())
            content = pub.content.model_copy(update={"index_number": number})
            pub, attempt = pub.model_copy(update={"content": content}), replace(attempt, content=content)
        return replace(attempt, receipt=await _on_channel(attempt.step, pub, channel))
    except ChannelError as error:
        log.warning("channel attempt failed", channel=pub.channel, error=str(error), attempt=pub.attempts + 1)
        return replace(attempt, error=str(error), retryable=error.retryable, retry_after=error.retry_after)


async def _on_channel(step: Step, pub: Publication, channel: ChannelAdapter) -> ChannelReceipt | None:
    """The step taken on the channel (a withdrawal has no receipt), in a span of its own, timed per
    channel and outcome: ok, retryable (tried again later), refused (for good) or error (a fault of
    gongkai's)."""
    started, outcome = time.perf_counter(), "error"
    try:
        with about(f"{step} on {pub.channel}", pub.submission_id, channel=pub.channel):
            receipt = await _take(step, pub, channel)
        outcome = "ok"
        return receipt
    except ChannelError as error:
        outcome = "retryable" if error.retryable else "refused"
        raise
    finally:
        CHANNEL_PUSH.labels(pub.channel, step, outcome).observe(time.perf_counter() - started)


async def _take(step: Step, pub: Publication, channel: ChannelAdapter) -> ChannelReceipt | None:
    match step:
        case Step.PUBLISH:
            return await channel.publish(pub)
        case Step.UPDATE:
            return await channel.update(pub)
        case Step.WITHDRAW:
            await channel.withdraw(pub)
            return None


async def work(
    store: PublicationStore,
    channels: dict[str, ChannelAdapter],
    settings: Settings,
    wake: Wakeup,
    on_settled,
) -> None:
    """Run due publications concurrently, so that one slow channel or item delays no other."""
    slots = asyncio.Semaphore(CONCURRENT_STEPS)
    running: set[asyncio.Task] = set()
    try:
        while True:
            try:
                while (claimed := await _claim(store, slots)) is not None:
                    task = asyncio.create_task(_run_one(store, channels, settings, *claimed, on_settled))
                    running.add(task)
                    task.add_done_callback(lambda t: (running.discard(t), slots.release()))
            except Exception:
                log.exception("publication worker pass failed")
            await wake.wait()
    finally:
        # Stopping: no step may outlive the channels and the database it uses. One cut short is
        # taken up again when its claim expires, and the channel recognises the retry by its id.
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)


async def _claim(store: PublicationStore, slots: asyncio.Semaphore) -> tuple[Publication, dict] | None:
    """A due publication (and its hint) with a free slot for it, or None when nothing is due."""
    await slots.acquire()
    try:
        claimed = await store.claim_due()
    except BaseException:
        slots.release()
        raise
    if claimed is None:
        slots.release()
    return claimed


async def _run_one(store, channels, settings, pub: Publication, hint: dict, on_settled) -> None:
    with structlog.contextvars.bound_contextvars(submission_id=pub.submission_id, channel=pub.channel):
        try:
            attempt = await process(pub, channels[pub.channel], store.index_numbers)
            if await store.settle(attempt, hint, settings.publish_max_attempts):
                on_settled()
        except Exception:
            log.exception("publication step failed; it is retried when its claim expires")


async def feed_events(items: ItemStore, entries: list[dict], files_url: str) -> list[dict]:
    """The feed's entries as events (`{type, timestamp, data}`), each item event with the item as
    it stands now (services.publish.items: corrected or withdrawn text is never served again)."""
    wanted = {e["submission_id"] for e in entries if is_item_event(e)}
    found = await asyncio.gather(*(items.resource(sid, files_url) for sid in wanted))
    resources = dict(zip(wanted, found, strict=True))
    return [feed_event(e, resources.get(e["submission_id"])) for e in entries]


async def deliver_to_subscribers(
    store: PublicationStore, http: httpx.AsyncClient, settings: Settings, wake: Wakeup
) -> None:
    """Bring every active subscription up to the end of the feed, each on its own, so that one
    failing receiver delays no other."""
    while True:
        due = await store.subscriptions.due()
        await asyncio.gather(*(_deliver_pending(store, http, settings, s.id) for s in due))
        await wake.wait()


async def _deliver_pending(store: PublicationStore, http, settings: Settings, subscription_id: str) -> None:
    subscriptions: SubscriptionStore = store.subscriptions
    subscription = await subscriptions.claim(subscription_id)
    if subscription is None:
        return  # another worker holds it
    try:
        for entry in await store.feed.after(subscription.cursor, DELIVERY_BATCH):
            if not subscription.wants(entry):
                subscription = passed(subscription, entry["seq"], delivered=False)
                continue
            [event] = await feed_events(store.items, [entry], settings.attachments_base_url)
            record, error = await _deliver(
                http, subscription, entry, event, settings.webhook_trusted_networks
            )
            await subscriptions.log(record)
            if error is not None:
                subscription = failed(
                    subscription, str(error), utcnow(), settings.subscription_max_failures, error.retry_after
                )
                break
            subscription = passed(subscription, entry["seq"], delivered=True)
    finally:
        await subscriptions.release(subscription)


async def _deliver(
    http: httpx.AsyncClient, subscription: Subscription, entry: dict, event: dict, trusted: list[Network]
) -> tuple[DeliveryRecord, ChannelError | None]:
    body = json.dumps(event, ensure_ascii=False)
    hook = webhook_id(subscription, entry["seq"])
    started, error, status = time.perf_counter(), None, None
    try:
        # Judged again at each delivery (a host may have been pointed inside since it subscribed),
        # and sent to the address judged.
        target = await destination(subscription.url, trusted)
        if isinstance(target, str):
            raise ChannelError(target)
        status = (
            await signed_request(http, "POST", subscription.url, body, subscription.secret, hook, to=target)
        ).status_code
    except Unreachable as unresolved:
        error = ChannelError(str(unresolved))
    except ChannelError as refused:
        error, status = refused, refused.status
    record = DeliveryRecord(
        subscription_id=subscription.id,
        seq=entry["seq"],
        event=event_type(entry),
        submission_id=entry["submission_id"],
        webhook_id=hook,
        at=utcnow(),
        outcome="failed" if error else "delivered",
        status_code=status,
        error=str(error) if error else None,
        ms=round((time.perf_counter() - started) * 1000, 1),
    )
    return record, error


async def subscriber_lag(store: PublicationStore) -> list[Figure]:
    """Per webhook subscription: the feed entries after its cursor (delivered to it or passed over
    as not wanted), and how long the first of them has waited (0 when it is up to date)."""
    head = await store.feed.head()
    last = head["seq"] if head else 0
    figures = []
    for subscription in await store.subscriptions.all():
        labels = {"subscription": subscription.id, "state": subscription.state.value}
        waiting = await store.feed.after(subscription.cursor, 1) if subscription.cursor < last else []
        age = (utcnow() - datetime.fromisoformat(entry_time(waiting[0]))).total_seconds() if waiting else 0.0
        figures.append(
            Figure(
                SUBSCRIPTION_BEHIND,
                "Feed entries the subscription has yet to take",
                labels,
                last - subscription.cursor,
            )
        )
        figures.append(Figure(SUBSCRIPTION_OLDEST, "Age of the first of them", labels, max(0.0, age)))
    return figures
