"""Three replicas of every service, each a process serving its service's port (SO_REUSEPORT) and
competing for its queue: items flow from submission through both review levels onto both
channels and into the statistics while one replica of each service is SIGKILLed mid-way and
started again. Nothing is lost and nothing is done twice: the campaign runs once, and each test
checks one thing that must hold after it."""

import contextlib
import json
from collections import Counter
from dataclasses import dataclass
from datetime import date

import httpx
import pytest

from shared.mongo import connect, database_of
from shared.outbox import STAGED
from tests.e2e.conftest import SERVICES, System, running_system
from tests.e2e.test_pipeline import approve_at_every_level, item
from tests.support import EventTap, eventually, run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]  # thirteen processes on a shared machine
REPLICAS = 3
WAVE = 8  # items submitted and approved before the kill, and as many after it
QUEUED_SECONDS = 120  # for an item to reach a reviewer's queue: thirteen processes share two cores
DEPARTMENT = "replicas"
CHANNELS = ("platform", "portal")
YEAR = date.today().year
RACE = (
    "a publication settled as first published twice across replicas after SIGKILLs: seen one "
    "(item, channel) announced under two event ids while the platform received it once (open, issue 12)"
)


@dataclass
class Campaign:
    system: System
    sids: list[str]
    clerk: dict
    published: list[dict]  # every publication.published event the services announced


def client() -> httpx.AsyncClient:
    """No keep-alive: every request is a new connection, which the kernel gives to any replica."""
    return httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_keepalive_connections=0))


@pytest.fixture(scope="module")
async def campaign(servers):
    async with running_system(servers, REPLICAS, attachment_workers=1) as system:
        clerk = await system.identities.department(DEPARTMENT, "副本办")
        reviewers = [
            await system.identities.reviewer("甲审查", 1),
            await system.identities.reviewer("乙审核", 2),
        ]
        victims = [f"{service}-2" for service in SERVICES]
        async with EventTap(system.settings, "publication.published") as tap, client() as http:
            sids = await submit_and_approve(http, system, clerk, reviewers, "第一批")
            system.kill(*victims)  # while the first wave is being published, pushed and counted
            sids += await submit_and_approve(http, system, clerk, reviewers, "第二批")
            system.start(*victims)
            await eventually(lambda: on_every_channel(http, system, sids), 300, "every item on both channels")
        yield Campaign(system, sids, clerk, tap.events)


async def submit_and_approve(http, system, clerk, reviewers, wave: str) -> list[str]:
    sids = []
    for n in range(WAVE):
        answer = await http.post(
            f"{system.urls['ingest']}/v1/submissions", json=item(f"{wave}通知{n}"), headers=clerk
        )
        assert answer.status_code == 202, answer.text
        sids.append(answer.json()["id"])
    for sid in sids:
        await approve_at_every_level(http, system, sid, reviewers, QUEUED_SECONDS)
    return sids


async def platform_items(http, system) -> list[str]:
    return [p["id"] for p in (await http.get(f"{system.urls['sandbox']}/items")).json()["items"]]


async def published_feed(http, system) -> Counter:
    """How often publish's feed lists each (item, channel) as published."""
    feed = f"{system.urls['publish']}/v1/published?types=publication.published&limit=1000"
    entries = (await http.get(feed)).json()["items"]
    return Counter((e["data"]["submission_id"], e["data"]["channel"]) for e in entries)


async def on_every_channel(http, system, sids: list[str]) -> bool:
    wanted = {(sid, channel) for sid in sids for channel in CHANNELS}
    return (
        set(await platform_items(http, system)) == set(sids)
        and set(await published_feed(http, system)) == wanted
    )


async def test_the_platform_received_each_item_once(campaign):
    system, sids = campaign.system, campaign.sids
    async with client() as http:
        assert sorted(await platform_items(http, system)) == sorted(sids)
        deliveries = (await http.get(f"{system.urls['sandbox']}/deliveries")).json()["items"]
    # A push repeated after a kill carries the same webhook-id, which the platform answers as
    # before without a copy; no item was pushed under another one, nor updated.
    accepted = {(d["method"], d["webhook_id"]) for d in deliveries if d["verdict"] == "accepted"}
    assert accepted == {("POST", f"{sid}.platform.publish") for sid in sids}


@pytest.mark.xfail(strict=False, reason=RACE)
def test_each_item_is_announced_published_once_on_each_channel(campaign):
    """Redelivered copies of one event (one event id) are harmless; two events are two publications."""
    announced = {(e["submission_id"], e["data"]["channel"], e["event_id"]) for e in campaign.published}
    publications = Counter((sid, channel) for sid, channel, _ in announced)
    assert publications == Counter({(sid, channel): 1 for sid in campaign.sids for channel in CHANNELS})


async def test_the_feed_lists_each_item_once_on_each_channel(campaign):
    async with client() as http:
        listed = await published_feed(http, campaign.system)
    assert listed == Counter({(sid, channel): 1 for sid in campaign.sids for channel in CHANNELS})


async def test_each_submission_shows_itself_published_on_both_channels(campaign):
    system = campaign.system
    async with client() as http:

        async def views() -> list[dict]:
            url = f"{system.urls['ingest']}/v1/submissions"
            return [(await http.get(f"{url}/{sid}", headers=campaign.clerk)).json() for sid in campaign.sids]

        async def all_published():
            return all(v["status"] == "published" for v in await views())

        with contextlib.suppress(AssertionError):  # the comparison below tells what is missing
            await eventually(all_published, 60, "every submission published")
        shown = {
            v["id"]: (v["status"], sorted(p["channel"] for p in v["publications"])) for v in await views()
        }
    assert shown == {sid: ("published", list(CHANNELS)) for sid in campaign.sids}


async def test_the_statistics_count_each_item_once_and_equal_their_rebuild(campaign):
    """The live figures, once every event is counted, are exact and are those `gongkai stats
    rebuild` computes from the archive (stats stopped meanwhile, as the command asks)."""
    system, items = campaign.system, len(campaign.sids)
    expected = {
        "published": {"total": 2 * items, "items": items, "by_channel": dict.fromkeys(CHANNELS, items)},
        "received": items,
        "approved": items,
        "on_time": items,
    }
    queries = [f"year={YEAR}", f"year={YEAR}&department={DEPARTMENT}"]
    async with client() as http:

        async def figures() -> list[dict]:
            return [(await http.get(f"{system.urls['stats']}/v1/stats?{q}")).json() for q in queries]

        async def counted():
            return counts((await figures())[0]) == expected

        with contextlib.suppress(AssertionError):  # the comparison below tells what is missing
            await eventually(counted, 120, "every publication and approval counted")
        live = await figures()
        assert counts(live[0]) == expected
        stats = system.replicas("stats")
        system.stop(*stats)
        rebuilt = run_cli(system.settings, "stats", "rebuild")
        assert rebuilt.returncode == 0, rebuilt.stderr
        system.start(*stats)
        assert await figures() == live


def counts(figures: dict) -> dict:
    published = figures["published"]
    return {
        "published": {key: published[key] for key in ("total", "items", "by_channel")},
        "received": figures["submissions"]["received"],
        "approved": figures["submissions"]["approved"],
        "on_time": figures["timeliness"]["on_time"],
    }


def test_the_audit_chain_is_intact(campaign):
    verified = run_cli(campaign.system.settings, "audit", "verify", "--json")
    verdict = json.loads(verified.stdout)
    assert verified.returncode == 0 and verdict["intact"], verdict


async def test_nothing_is_left_staged(campaign):
    await eventually(lambda: nothing_staged(campaign.system), 60, "every staged event and record delivered")


async def nothing_staged(system) -> bool:
    """Whether no event, audit record, feed entry, dead letter or item change waits in any document."""
    mongo = connect(system.settings)
    try:
        for service in SERVICES:
            db = database_of(mongo, system.settings, service)
            for name in await db.list_collection_names():
                async for doc in db[name].find({}, dict.fromkeys(STAGED, 1)):
                    if any(doc.get(field) for field in STAGED):
                        return False
        return True
    finally:
        await mongo.close()


def test_the_dead_letter_queues_are_empty(campaign):
    listed = run_cli(campaign.system.settings, "dlq", "list", "--json")
    assert listed.returncode == 0 and listed.stdout.strip() == "", listed.stdout
