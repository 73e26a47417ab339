"""Publish against the real broker and database, pushing to the platform sandbox on a real port."""

import asyncio
import json
from datetime import datetime, timedelta

import httpx
import pytest

from sandbox.platform import create_sandbox
from services.publish.app import build
from shared.events import (
    ReviewApproved,
    ReviewApprovedData,
    SubmissionWithdrawn,
    SubmissionWithdrawnData,
    new_event,
)
from shared.settings import DEV_PLATFORM_SECRET
from tests.conftest import running, serving
from tests.support import EventTap, eventually, free_port, run_cli
from tests.unit.factories import approval, content

pytestmark = pytest.mark.integration


def approved(sid: str, approvals=None, **overrides):
    data = ReviewApprovedData(
        revision=1, content=content(**overrides), approvals=approvals or (approval(1, "a"), approval(2, "b"))
    )
    return new_event(ReviewApproved, sid, "review", data)


@pytest.fixture
async def platform():
    port = free_port()
    async with serving(create_sandbox(DEV_PLATFORM_SECRET, f"http://127.0.0.1:{port}"), port) as url:
        yield url


async def test_an_approval_reaches_both_channels_once(settings, platform):
    settings = settings.model_copy(update={"platform_url": platform})
    async with EventTap(settings) as tap, running(build(settings)) as http, httpx.AsyncClient() as peer:
        event = approved("p-1", title="<script>alert(1)</script>公告")
        await tap.publish(event)
        await tap.publish(event)  # duplicate delivery
        published = await tap.wait_for("publication.published", "p-1", count=2)
        assert {e["data"]["channel"] for e in published} == {"platform", "portal"}
        items = (await peer.get(f"{platform}/items")).json()["items"]
        assert [i["id"] for i in items] == ["p-1"]
        deliveries = (await peer.get(f"{platform}/deliveries")).json()["items"]
        assert [d["verdict"] for d in deliveries] == ["accepted"]
        page = await http.get("/portal/items/p-1")
        assert page.status_code == 200
        assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;" in page.text
        assert len(tap.of("publication.published", "p-1")) == 2


async def test_an_incomplete_approval_is_refused(settings, platform):
    settings = settings.model_copy(update={"platform_url": platform})
    async with EventTap(settings) as tap, running(build(settings)) as http:
        await tap.publish(approved("p-2", approvals=(approval(1, "a"),)))
        await tap.publish(approved("p-3"))  # a complete one after it, to know the first was handled
        await tap.wait_for("publication.published", "p-3", count=2)
        assert tap.of("publication.published", "p-2") == []
        assert (await http.get("/portal/items/p-2")).status_code == 404


async def test_a_platform_outage_delays_but_never_blocks_the_portal(settings, platform):
    settings = settings.model_copy(update={"platform_url": platform})
    async with EventTap(settings) as tap, running(build(settings)), httpx.AsyncClient() as peer:
        await peer.put(f"{platform}/behaviour", json={"fail_status": 503, "fail_count": 2})
        await tap.publish(approved("p-4"))
        [portal] = await tap.wait_for("publication.published", "p-4")
        assert portal["data"]["channel"] == "portal"
        both = await tap.wait_for("publication.published", "p-4", count=2, seconds=30)
        assert {e["data"]["channel"] for e in both} == {"portal", "platform"}
        verdicts = [d["verdict"] for d in (await peer.get(f"{platform}/deliveries")).json()["items"]]
        assert verdicts == ["told to fail: 503", "told to fail: 503", "accepted"]


async def test_withdrawal_takes_the_item_off_both_channels(settings, platform):
    settings = settings.model_copy(update={"platform_url": platform})
    async with EventTap(settings) as tap, running(build(settings)) as http, httpx.AsyncClient() as peer:
        await tap.publish(approved("p-5"))
        await tap.wait_for("publication.published", "p-5", count=2)
        await tap.publish(
            new_event(SubmissionWithdrawn, "p-5", "ingest", SubmissionWithdrawnData(withdrawn_by="finance"))
        )
        withdrawn = await tap.wait_for("publication.withdrawn", "p-5", count=2)
        assert {e["data"]["channel"] for e in withdrawn} == {"portal", "platform"}
        assert (await http.get("/portal/items/p-5")).status_code == 410
        assert (await peer.get(f"{platform}/items")).json()["items"] == []
        feed = (await http.get("/portal/feed.json")).json()
        assert all(i["id"] != "p-5" for i in feed["items"])


ALL_EVENTS = ",".join(
    f"{kind}.{change}" for kind in ("item", "publication") for change in ("published", "updated", "withdrawn")
)


async def test_republishers_page_the_feed_without_missing_or_repeating_anything(settings, platform):
    settings = settings.model_copy(update={"platform_url": platform})
    async with EventTap(settings) as tap, running(build(settings)) as http:
        for i in range(3):
            await tap.publish(approved(f"f-{i}"))
        await tap.wait_for("publication.published", "f-0", count=2)  # on both channels before it is withdrawn
        seen, cursor = [], "0"

        async def read_on():
            nonlocal cursor
            params = {"cursor": cursor, "limit": 2, "types": ALL_EVENTS}
            page = (await http.get("/v1/published", params=params)).json()
            seen.extend(
                (e["seq"], e["type"], e["submission_id"], e["data"].get("channel")) for e in page["items"]
            )
            cursor = page["next_cursor"]

        await read_on()
        for i in range(3, 5):  # more arrive while a platform pages
            await tap.publish(approved(f"f-{i}"))
        await tap.publish(
            new_event(SubmissionWithdrawn, "f-0", "ingest", SubmissionWithdrawnData(withdrawn_by="finance"))
        )

        async def complete():
            await read_on()
            # 5 items on 2 channels and f-0 withdrawn from both; 5 items published and 1 withdrawn
            return len(seen) >= 18

        await eventually(complete, 30, "every publication and withdrawal in the feed")
        assert [s for s, *_ in seen] == list(range(1, 19))  # contiguous: nothing missed, nothing twice
        published = {(sid, ch) for _, kind, sid, ch in seen if kind == "publication.published"}
        assert published == {(f"f-{i}", ch) for i in range(5) for ch in ("platform", "portal")}
        assert {(sid, ch) for _, kind, sid, ch in seen if kind == "publication.withdrawn"} == {
            ("f-0", "platform"),
            ("f-0", "portal"),
        }
        assert sorted(sid for _, kind, sid, _ in seen if kind == "item.published") == [
            f"f-{i}" for i in range(5)
        ]
        assert [sid for _, kind, sid, _ in seen if kind == "item.withdrawn"] == ["f-0"]
        assert (await http.get("/v1/published", params={"cursor": cursor})).json() == {
            "items": [],
            "next_cursor": cursor,
        }
        items = (await http.get("/v1/published")).json()["items"]  # by default, one event per item change
        assert [e["type"] for e in items].count("item.published") == 5 and len(items) == 6
        assert (await http.get("/v1/published", params={"cursor": "-1"})).status_code == 422
        assert (await http.get("/v1/published", params={"types": "review.approved"})).status_code == 422


async def test_a_429_is_retried_after_the_time_the_platform_asks_for(settings, platform):
    settings = settings.model_copy(update={"platform_url": platform})
    async with EventTap(settings) as tap, running(build(settings)), httpx.AsyncClient() as peer:
        await peer.put(f"{platform}/behaviour", json={"fail_status": 429, "fail_count": 1, "retry_after": 2})
        await tap.publish(approved("r-1"))
        both = await tap.wait_for("publication.published", "r-1", count=2, seconds=30)
        platform_event = next(e for e in both if e["data"]["channel"] == "platform")
        deliveries = (await peer.get(f"{platform}/deliveries")).json()["items"]
        assert [d["verdict"] for d in deliveries] == ["told to fail: 429", "accepted"]
        waited = datetime.fromisoformat(deliveries[1]["at"]) - datetime.fromisoformat(deliveries[0]["at"])
        assert waited >= timedelta(seconds=2)
        assert platform_event["data"]["remote_id"] == "r-1"


async def test_a_platform_that_never_answers_in_time_ends_in_publication_failed(settings, platform):
    settings = settings.model_copy(
        update={
            "platform_url": platform,
            "platform_timeout_seconds": 0.3,
            "publish_max_attempts": 3,
        }
    )
    async with EventTap(settings) as tap, running(build(settings)), httpx.AsyncClient() as peer:
        await peer.put(f"{platform}/behaviour", json={"delay_seconds": 1})
        await tap.publish(approved("t-1"))
        [failed] = await tap.wait_for("publication.failed", "t-1", seconds=40)
        assert failed["data"]["channel"] == "platform" and failed["data"]["attempts"] == 3
        assert "Timeout" in failed["data"]["error"]
        assert [e["data"]["channel"] for e in tap.of("publication.published", "t-1")] == ["portal"]


async def test_a_client_error_from_the_platform_is_not_retried(settings, platform):
    settings = settings.model_copy(update={"platform_url": platform})
    async with EventTap(settings) as tap, running(build(settings)), httpx.AsyncClient() as peer:
        await peer.put(f"{platform}/behaviour", json={"fail_status": 400, "fail_count": -1})
        await tap.publish(approved("c-1"))
        [failed] = await tap.wait_for("publication.failed", "c-1", seconds=20)
        assert failed["data"]["attempts"] == 1 and "400" in failed["data"]["error"]
        assert len((await peer.get(f"{platform}/deliveries")).json()["items"]) == 1


async def test_the_portal_channel_can_be_an_external_cms_reached_by_signed_push(settings, platform):
    cms_port = free_port()
    cms_secret = "whsec_" + "Y21zLXNlY3JldC1mb3ItdGhlLWNtcy10ZXN0"
    async with serving(create_sandbox(cms_secret, f"http://127.0.0.1:{cms_port}"), cms_port) as cms:
        settings = settings.model_copy(
            update={"platform_url": platform, "portal_push_url": cms, "portal_push_secret": cms_secret}
        )
        async with EventTap(settings) as tap, running(build(settings)) as http, httpx.AsyncClient() as peer:
            await tap.publish(approved("p-cms"))
            published = await tap.wait_for("publication.published", "p-cms", count=2)
            portal = next(e for e in published if e["data"]["channel"] == "portal")
            assert portal["data"]["url"].startswith(cms)
            assert [i["id"] for i in (await peer.get(f"{cms}/items")).json()["items"]] == ["p-cms"]
            assert [d["verdict"] for d in (await peer.get(f"{cms}/deliveries")).json()["items"]] == [
                "accepted"
            ]
            assert (await http.get("/portal/items/p-cms")).status_code == 404  # not on the built-in site


async def test_an_approval_given_up_on_waits_in_the_dlq_and_a_replay_publishes_it_once(settings, platform):
    settings = settings.model_copy(update={"platform_url": platform, "publish_max_attempts": 2})
    async with EventTap(settings) as tap, running(build(settings)), httpx.AsyncClient() as peer:
        await peer.put(f"{platform}/behaviour", json={"fail_status": 503, "fail_count": -1})
        await tap.publish(approved("q-1"))
        [failed] = await tap.wait_for("publication.failed", "q-1", seconds=30)
        assert failed["data"]["channel"] == "platform"

        async def dead_lettered():
            listed = run_cli(settings, "dlq", "list", "publish", "--json")
            rows = [json.loads(line) for line in listed.stdout.splitlines()]
            return rows if rows else None

        [row] = await eventually(dead_lettered, 20, "the approval in publish's DLQ")
        assert (row["type"], row["submission_id"]) == ("review.approved", "q-1")
        assert row["reason"].startswith("publication on platform failed after 2 attempts: POST")

        await peer.put(f"{platform}/behaviour", json={"fail_count": 0})  # the platform is back
        replayed = run_cli(settings, "dlq", "replay", "publish")
        assert replayed.returncode == 0 and "replayed 1 message(s) to publish; 0 left" in replayed.stdout
        published = await tap.wait_for("publication.published", "q-1", count=2, seconds=30)
        assert sorted(e["data"]["channel"] for e in published) == ["platform", "portal"]
        assert [i["id"] for i in (await peer.get(f"{platform}/items")).json()["items"]] == ["q-1"]
        await tap.publish(approved("q-2"))  # later items flow as usual, and q-1 is not published again
        await tap.wait_for("publication.published", "q-2", count=2)
        assert len(tap.of("publication.published", "q-1")) == 2


async def test_a_corrected_revision_updates_both_channels_in_place(settings, platform):
    settings = settings.model_copy(update={"platform_url": platform})
    async with EventTap(settings) as tap, running(build(settings)) as http, httpx.AsyncClient() as peer:
        await tap.publish(approved("u-1", title="原标题"))
        await tap.wait_for("publication.published", "u-1", count=2)
        corrected = approved("u-1", title="更正后的标题")
        corrected = corrected.model_copy(update={"data": corrected.data.model_copy(update={"revision": 2})})
        await tap.publish(corrected)
        await tap.publish(corrected)  # twice: updated once
        updates = await tap.wait_for("publication.updated", "u-1", count=2)
        assert {(e["data"]["channel"], e["data"]["revision"]) for e in updates} == {
            ("platform", 2),
            ("portal", 2),
        }
        [item] = (await peer.get(f"{platform}/items")).json()["items"]
        assert (item["id"], item["title"], item["revision"]) == ("u-1", "更正后的标题", 2)
        methods = [
            (d["method"], d["verdict"]) for d in (await peer.get(f"{platform}/deliveries")).json()["items"]
        ]
        assert methods == [("POST", "accepted"), ("PUT", "accepted")]
        page = (await http.get("/portal/items/u-1")).text
        assert "更正后的标题" in page and "原标题" not in page

        async def fed():  # the feed is appended by its own relay
            entries = (await http.get("/v1/published", params={"types": ALL_EVENTS})).json()["items"]
            kinds = [e["type"] for e in entries]
            return sorted(kinds) if len(kinds) == 6 else None

        assert await eventually(fed, 10, "both corrections in the feed") == [
            "item.published",
            "item.updated",
            "publication.published",
            "publication.published",
            "publication.updated",
            "publication.updated",
        ]
        await asyncio.sleep(1)
        assert len(tap.of("publication.updated", "u-1")) == 2
