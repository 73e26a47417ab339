"""Webhook subscriptions of republishing platforms, against the real broker and database, with a
real HTTP receiver (the sandbox, which checks every signature)."""

import asyncio
import itertools
import json
import socket

import httpx
import jsonschema
import pytest
from standardwebhooks import Webhook

from sandbox.platform import create_sandbox
from services.publish.app import build
from services.publish.subscriptions import new_secret
from shared.events import SubmissionWithdrawn, SubmissionWithdrawnData, new_event
from shared.settings import DEV_PLATFORM_SECRET
from tests.conftest import running, serving
from tests.integration.test_publish import approved
from tests.support import EventTap, eventually, free_port

pytestmark = pytest.mark.integration
RECEIVER_SECRET = new_secret()


@pytest.fixture
async def receiver():
    """A republishing platform that checks signatures made with RECEIVER_SECRET."""
    port = free_port()
    async with serving(create_sandbox(RECEIVER_SECRET, f"http://127.0.0.1:{port}"), port) as url:
        yield url


@pytest.fixture
async def platform():
    port = free_port()
    async with serving(create_sandbox(DEV_PLATFORM_SECRET, f"http://127.0.0.1:{port}"), port) as url:
        yield url


async def test_a_subscriber_receives_signed_publications_and_withdrawals_in_order(
    settings, identities, platform, receiver
):
    settings = settings.model_copy(update={"platform_url": platform})
    operator = await identities.operator()
    wanted = {"url": f"{receiver}/items", "events": ["publication.published", "publication.withdrawn"]}
    async with EventTap(settings) as tap, running(build(settings)) as http, httpx.AsyncClient() as peer:
        created = await http.post(
            "/v1/subscriptions", json={**wanted, "secret": RECEIVER_SECRET}, headers=operator
        )
        assert created.status_code == 201 and created.json()["secret"] == RECEIVER_SECRET
        sid = created.json()["id"]
        assert "secret" not in (await http.get(f"/v1/subscriptions/{sid}", headers=operator)).json()
        await tap.publish(approved("s-1"))
        await tap.wait_for("publication.published", "s-1", count=2)
        await tap.publish(
            new_event(SubmissionWithdrawn, "s-1", "ingest", SubmissionWithdrawnData(withdrawn_by="x"))
        )
        await tap.wait_for("publication.withdrawn", "s-1", count=2)

        async def received():
            items = (await peer.get(f"{receiver}/items")).json()["items"]
            return items if len(items) == 4 else None

        items = await eventually(received, 20, "four deliveries")
        assert [i["type"] for i in items] == ["publication.published"] * 2 + ["publication.withdrawn"] * 2
        assert {i["data"]["channel"] for i in items} == {"platform", "portal"}
        seqs = [int(i["webhook_id"].split(".")[1]) for i in items]
        assert (
            seqs == sorted(seqs) and len(set(seqs)) == 4
        )  # in the feed's order, the item events passed over
        verdicts = [d["verdict"] for d in (await peer.get(f"{receiver}/deliveries")).json()["items"]]
        assert verdicts == ["accepted"] * 4  # every signature valid
        log = (await http.get(f"/v1/subscriptions/{sid}/deliveries", headers=operator)).json()["items"]
        assert [(d["seq"], d["outcome"], d["status_code"]) for d in log] == [
            (seq, "delivered", 201) for seq in reversed(seqs)
        ]
        assert log[0]["webhook_id"] == f"{sid}.{seqs[-1]}"


async def test_one_item_event_per_change_of_the_item_signed_as_standard_webhooks_check_it(
    settings, identities, platform, receiver
):
    settings = settings.model_copy(update={"platform_url": platform})
    operator = await identities.operator()
    async with EventTap(settings) as tap, running(build(settings)) as http, httpx.AsyncClient() as peer:
        wanted = {"url": f"{receiver}/items", "secret": RECEIVER_SECRET}  # the item events, by default
        created = (await http.post("/v1/subscriptions", json=wanted, headers=operator)).json()
        assert created["events"] == ["item.published", "item.updated", "item.withdrawn"]
        schema = (await http.get("/v1/schemas/item.json")).json()
        await peer.put(f"{receiver}/behaviour", json={"fail_status": 503, "fail_count": 1})

        async def deliveries(count: int):
            shown = (await peer.get(f"{receiver}/deliveries")).json()["items"]
            accepted = [d for d in shown if d["verdict"] == "accepted"]
            return shown if len(accepted) == count else None

        await tap.publish(approved("w-1", title="原标题"))
        await eventually(lambda: deliveries(1), 20, "item.published delivered after one refusal")
        corrected = approved("w-1", title="更正后的标题")
        await tap.publish(
            corrected.model_copy(update={"data": corrected.data.model_copy(update={"revision": 2})})
        )
        await eventually(lambda: deliveries(2), 20, "item.updated delivered")
        await tap.publish(
            new_event(SubmissionWithdrawn, "w-1", "ingest", SubmissionWithdrawnData(withdrawn_by="x"))
        )
        shown = await eventually(lambda: deliveries(3), 20, "item.withdrawn delivered")

        refused, *accepted = shown
        assert refused["verdict"] == "told to fail: 503"
        assert refused["headers"]["webhook-id"] == accepted[0]["headers"]["webhook-id"]  # a retry: same id
        payloads = []
        for delivery in accepted:  # checked as any receiver would, from what came over the wire
            assert delivery["headers"]["user-agent"].startswith("gongkai/")
            payload = Webhook(RECEIVER_SECRET).verify(delivery["body"], delivery["headers"])
            assert set(payload) == {"type", "timestamp", "data"}
            jsonschema.validate(payload["data"], schema, cls=jsonschema.Draft202012Validator)
            payloads.append(payload)
        assert [p["type"] for p in payloads] == ["item.published", "item.updated", "item.withdrawn"]
        published, updated, gone = (p["data"] for p in payloads)
        assert (published["revision"], published["title"]) == (1, "原标题")
        assert (updated["revision"], updated["title"]) == (2, "更正后的标题")
        assert gone["state"] == "withdrawn" and gone["remove"]["urls"]
        assert "原标题" not in json.dumps(gone, ensure_ascii=False)
        ids = [d["headers"]["webhook-id"] for d in accepted]
        assert ids == sorted(ids, key=lambda i: int(i.split(".")[1]))  # in order


async def test_a_failing_subscriber_is_disabled_with_its_reason_and_resumes_missing_nothing(
    settings, identities, platform, receiver
):
    settings = settings.model_copy(update={"platform_url": platform, "subscription_max_failures": 3})
    operator = await identities.operator()
    wanted = {"url": f"{receiver}/items", "events": ["publication.published"], "secret": RECEIVER_SECRET}
    async with EventTap(settings) as tap, running(build(settings)) as http, httpx.AsyncClient() as peer:
        sid = (await http.post("/v1/subscriptions", json=wanted, headers=operator)).json()["id"]
        await peer.put(f"{receiver}/behaviour", json={"fail_status": 503, "fail_count": -1})
        await tap.publish(approved("d-1"))

        async def disabled():
            shown = (await http.get(f"/v1/subscriptions/{sid}", headers=operator)).json()
            return shown if shown["state"] == "disabled" else None

        shown = await eventually(disabled, 30, "the subscription disabled")
        assert shown["disabled_reason"].startswith("3 deliveries in a row failed; the last: POST")
        assert "503" in shown["disabled_reason"]
        log = (await http.get(f"/v1/subscriptions/{sid}/deliveries", headers=operator)).json()["items"]
        assert [(d["outcome"], d["status_code"]) for d in log] == [("failed", 503)] * 3
        await tap.publish(approved("d-2"))  # published while the subscription is disabled
        await tap.wait_for("publication.published", "d-2", count=2)

        await peer.put(f"{receiver}/behaviour", json={"fail_count": 0})
        assert (await http.post(f"/v1/subscriptions/{sid}/enable", headers=operator)).json()[
            "state"
        ] == "active"

        async def caught_up():
            items = (await peer.get(f"{receiver}/items")).json()["items"]
            return items if len(items) == 4 else None

        items = await eventually(caught_up, 20, "every publication delivered after the outage")
        assert sorted((i["data"]["submission_id"], i["data"]["channel"]) for i in items) == [
            ("d-1", "platform"),
            ("d-1", "portal"),
            ("d-2", "platform"),
            ("d-2", "portal"),
        ]


async def test_subscriptions_are_for_operators_and_validated(settings, identities):
    operator, clerk = await identities.operator(), await identities.department()
    async with running(build(settings)) as http:
        good = {"url": "https://republisher.example/hook", "events": ["publication.published"]}
        assert (await http.post("/v1/subscriptions", json=good, headers=clerk)).status_code == 403
        assert (await http.get("/v1/subscriptions")).status_code == 401
        for bad, field in (
            ({**good, "url": "ftp://x"}, "url"),
            ({**good, "events": ["review.approved"]}, "events.0"),
            ({**good, "events": ["item.published", "item.published"]}, "events"),
            ({**good, "events": []}, "events"),
            ({**good, "secret": "not-a-secret"}, "secret"),
            ({**good, "url": {"$gt": ""}}, "url"),
        ):
            answer = await http.post("/v1/subscriptions", json=bad, headers=operator)
            assert answer.status_code == 422, bad
            assert answer.json()["errors"][0]["field"] == field
        answer = await http.post("/v1/subscriptions", json=good, headers=operator)
        created = answer.json()
        assert created["secret"].startswith("whsec_") and created["state"] == "active"
        assert answer.headers["location"] == f"/v1/subscriptions/{created['id']}"
        listed = (await http.get("/v1/subscriptions", headers=operator)).json()["items"]
        assert [s["id"] for s in listed] == [created["id"]]
        assert (await http.delete(f"/v1/subscriptions/{created['id']}", headers=operator)).status_code == 204
        assert (await http.get(f"/v1/subscriptions/{created['id']}", headers=operator)).status_code == 404
        assert (await http.get("/v1/subscriptions/nope/deliveries", headers=operator)).status_code == 422


INSIDE = [
    "http://127.0.0.1:8080/hook",
    "http://localhost/hook",
    "http://[::1]/hook",
    "http://[::ffff:10.0.0.1]/hook",
    "http://10.1.2.3/hook",
    "http://192.168.1.1/hook",
    "http://100.64.0.1/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://0.0.0.0/hook",
]


async def test_a_subscription_cannot_point_publish_into_its_own_network(settings, identities):
    """SSRF: with no trusted networks (the default), loopback, private, shared and link-local
    destinations are refused, by address or by a name that resolves to one."""
    settings = settings.model_copy(update={"webhook_trusted_networks": []})
    operator = await identities.operator()
    async with running(build(settings)) as http:
        for url in INSIDE:
            answer = await http.post(
                "/v1/subscriptions", json={"url": url, "events": ["publication.published"]}, headers=operator
            )
            assert answer.status_code == 422, url
            assert (
                answer.json()["errors"] == [{"field": "url", "reason": answer.json()["errors"][0]["reason"]}]
                and "not a public address" in answer.json()["errors"][0]["reason"]
            )
        assert (await http.get("/v1/subscriptions", headers=operator)).json()["items"] == []


async def test_a_destination_no_longer_trusted_receives_nothing(settings, identities, platform, receiver):
    """Judged again at each delivery: once its network is no longer trusted, nothing goes out."""
    trusted = settings.model_copy(update={"platform_url": platform})
    operator = await identities.operator()
    wanted = {"url": f"{receiver}/items", "events": ["publication.published"], "secret": RECEIVER_SECRET}
    async with running(build(trusted)) as http:
        sid = (await http.post("/v1/subscriptions", json=wanted, headers=operator)).json()["id"]
    untrusted = trusted.model_copy(update={"webhook_trusted_networks": []})
    async with EventTap(untrusted) as tap, running(build(untrusted)) as http, httpx.AsyncClient() as peer:
        await tap.publish(approved("n-1"))

        async def refused():
            log = (await http.get(f"/v1/subscriptions/{sid}/deliveries", headers=operator)).json()["items"]
            return log or None

        [first, *_] = await eventually(refused, 20, "a delivery refused")
        assert first["outcome"] == "failed" and "not a public address" in first["error"]
        assert (await peer.get(f"{receiver}/items")).json()["items"] == []


async def test_a_delivery_goes_to_the_address_judged_not_to_a_second_lookup(
    settings, identities, platform, receiver, monkeypatch
):
    """DNS rebinding: a name server that answers a trusted address and then an internal one, in
    turn. A delivery judged on the first answer must connect there, never look the name up again."""
    port = int(receiver.rsplit(":", 1)[1])
    answers = itertools.cycle(["127.0.0.1", "10.255.255.1"])  # only 127.0.0.0/8 is trusted here
    loop = asyncio.get_running_loop()
    resolve = loop.getaddrinfo

    async def rebinding(host, *args, **kwargs):
        if host != "rebind.example":
            return await resolve(host, *args, **kwargs)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    monkeypatch.setattr(loop, "getaddrinfo", rebinding)
    operator = await identities.operator()
    url = f"http://rebind.example:{port}/items"
    wanted = {"url": url, "events": ["publication.published"], "secret": RECEIVER_SECRET}
    settings = settings.model_copy(update={"platform_url": platform})
    async with EventTap(settings) as tap, running(build(settings)) as http, httpx.AsyncClient() as peer:
        assert (await http.post("/v1/subscriptions", json=wanted, headers=operator)).status_code == 201
        await tap.publish(approved("dns-1"))

        async def delivered():
            return (await peer.get(f"{receiver}/deliveries")).json()["items"] or None

        [delivery] = await eventually(delivered, 30, "the delivery, at the address judged")
        assert delivery["headers"]["host"] == f"rebind.example:{port}"
        log = (await http.get("/v1/subscriptions", headers=operator)).json()["items"][0]
        assert log["state"] == "active"


def apply(store: dict, event: dict) -> None:
    """A republisher's whole rule: the newest revision of each item; a withdrawn one removed."""
    item = event["data"]
    if item["state"] == "withdrawn":
        store.pop(item["id"], None)
    elif item["revision"] >= store.get(item["id"], {}).get("revision", 0):
        store[item["id"]] = item


async def test_deliveries_alone_and_the_pull_feed_alone_each_rebuild_the_portal_exactly(
    settings, identities, platform, receiver
):
    settings = settings.model_copy(update={"platform_url": platform})
    operator = await identities.operator()
    async with EventTap(settings) as tap, running(build(settings)) as http, httpx.AsyncClient() as peer:
        wanted = {"url": f"{receiver}/items", "secret": RECEIVER_SECRET}
        assert (await http.post("/v1/subscriptions", json=wanted, headers=operator)).status_code == 201
        pulled, cursor = {}, "0"

        async def pull(pages: int | None = None) -> None:
            nonlocal cursor
            while pages is None or pages > 0:
                page = (await http.get("/v1/published", params={"cursor": cursor, "limit": 1})).json()
                for event in page["items"]:
                    apply(pulled, event)
                if page["next_cursor"] == cursor:
                    return
                cursor, pages = page["next_cursor"], None if pages is None else pages - 1

        for n in range(4):
            await tap.publish(approved(f"rb-{n}", title=f"第{n}条", body=f"正文**{n}**"))
        await tap.wait_for("publication.published", "rb-3", count=2)
        await eventually(lambda: _announced(http, 4), 10, "four items announced")
        await pull(pages=2)  # interrupted after two pages; the cursor kept
        corrected = approved("rb-1", title="第1条（更正）", body="更正后的正文")
        await tap.publish(
            corrected.model_copy(update={"data": corrected.data.model_copy(update={"revision": 2})})
        )
        await tap.publish(
            new_event(SubmissionWithdrawn, "rb-2", "ingest", SubmissionWithdrawnData(withdrawn_by="x"))
        )
        await tap.wait_for("publication.updated", "rb-1", count=2)
        await tap.wait_for("publication.withdrawn", "rb-2", count=2)
        await eventually(lambda: _announced(http, 6), 10, "the correction and the withdrawal announced")
        await pull()  # resumed where it stopped

        async def delivered():
            shown = (await peer.get(f"{receiver}/deliveries")).json()["items"]
            return shown if len(shown) == 6 else None

        pushed = {}
        for delivery in await eventually(delivered, 20, "six deliveries"):
            apply(pushed, Webhook(RECEIVER_SECRET).verify(delivery["body"], delivery["headers"]))

        portal = {i["id"]: i for i in (await http.get("/portal/feed.json")).json()["items"]}
        assert set(portal) == {"rb-0", "rb-1", "rb-3"}
        for rebuilt in (pulled, pushed):
            assert set(rebuilt) == set(portal)
            for sid, item in rebuilt.items():
                assert (item["title"], item["body_html"]) == (
                    portal[sid]["title"],
                    portal[sid]["content_html"],
                )
                now = (await http.get(f"/v1/items/{sid}")).json()
                # An event shows the channels the item was live on when it changed; a channel that
                # caught up since announces nothing (publication.* events do), /v1/items shows it.
                assert {**item, "channels": None} == {**now, "channels": None}
                assert {c["channel"] for c in item["channels"]} <= {c["channel"] for c in now["channels"]}
        assert pulled["rb-1"]["revision"] == 2 and pulled["rb-1"]["title"] == "第1条（更正）"


async def _announced(http: httpx.AsyncClient, count: int) -> bool:
    return len((await http.get("/v1/published", params={"limit": 100})).json()["items"]) >= count
