"""The catalogue against the real broker and database: 索引号 from one atomically advanced
counter per (category, year), whatever the number of replicas; only 主动公开 items reach a
channel; the portal shows the 信息索引 table."""

import asyncio
import re

import httpx
import pytest

from services.ingest.app import build as ingest
from services.publish.store import IndexNumbers, PublicationStore
from shared.domain import Category, china_date
from shared.events import ReviewApproved, ReviewApprovedData, new_event, utcnow
from shared.mongo import connect
from tests.browser import ARTIFACTS, browser_page
from tests.conftest import running
from tests.integration.test_publish import approved
from tests.support import eventually
from tests.unit.factories import approval, content

pytestmark = pytest.mark.integration
ORG = "11440300MB2C92345X"


async def test_concurrent_first_publications_get_distinct_consecutive_index_numbers(settings):
    """Two replicas (two clients, two connection pools: nothing in one process serialises them)
    assign the first numbers of 24 items at once; the two channels of one item, racing, take one."""
    settings = settings.model_copy(update={"organisation_code": ORG})
    clients = [connect(settings), connect(settings)]
    try:
        replicas = [IndexNumbers(c[settings.database_name("publish")], settings) for c in clients]
        at = utcnow()
        items = [f"idx-{n}" for n in range(24)]
        # Each item is first published by both of its channels at once, on different replicas.
        numbers = await asyncio.gather(
            *(replicas[side].assign(sid, Category.NOTICE, at) for sid in items for side in (0, 1))
        )
        by_item = dict(zip([sid for sid in items for _ in (0, 1)], numbers, strict=True))
        assert all(numbers[2 * n] == numbers[2 * n + 1] for n in range(len(items)))  # one per item
        year = china_date(at).year
        pattern = re.compile(rf"^{ORG}-17-{year}-(\d{{4}})$")  # notice: category code 17
        serials = sorted(int(pattern.match(n).group(1)) for n in by_item.values())
        assert serials == list(range(1, len(items) + 1))  # distinct and consecutive: no gap

        # Kept: a correction, a later channel, or another replica gets the same number again.
        assert await replicas[1].assign("idx-0", Category.NOTICE, at) == by_item["idx-0"]
        # Another category counts on its own; the next notice continues where the count stands.
        assert (await replicas[0].assign("idx-budget", Category.BUDGET, at)).endswith(f"-07-{year}-0001")
        assert (await replicas[1].assign("idx-next", Category.NOTICE, at)).endswith("-0025")
        counters = await clients[0][settings.database_name("publish")].index_counters.find({}).to_list()
        assert sorted((c["_id"], c["serial"]) for c in counters) == [
            (f"07-{year}", 1),
            (f"17-{year}", 25),
        ]
    finally:
        for client in clients:
            await client.close()


async def test_an_item_not_disclosed_proactively_never_reaches_a_channel(site):
    url, tap, platform_url, settings = site
    held = approved(
        "cat-held",
        title="关于某信访事项的内部处理意见",
        disclosure="on_request",
        disclosure_ground="《中华人民共和国政府信息公开条例》第二十七条",
    )
    shown = approved(
        "cat-open",
        title="关于调整城乡居民最低生活保障标准的通知",
        category="regulation",
        theme="civil_affairs",
        document_number="南府〔2026〕3号",
        keywords=("低保", "救助"),
        summary="自2027年1月1日起提高城乡低保标准。",
        validity={"status": "valid", "effective_from": "2027-01-01"},
    )
    await tap.publish(held)
    db = connect(settings)
    try:
        publish_db = db[settings.database_name("publish")]
        await eventually(lambda: publish_db.held.find_one({"_id": "cat-held"}), what="the held record")
        await tap.publish(shown)
        await tap.wait_for("publication.published", "cat-open", count=2)
        assert await publish_db.publications.count_documents({"submission_id": "cat-held"}) == 0
        assert await publish_db.index_numbers.find_one({"_id": "cat-held"}) is None  # no number either
    finally:
        await db.close()
    assert tap.of("publication.published", "cat-held") == []
    async with httpx.AsyncClient(base_url=url) as http, httpx.AsyncClient() as peer:
        platform = (await peer.get(f"{platform_url}/items")).json()["items"]
        assert [i["id"] for i in platform] == ["cat-open"]
        assert (await http.get("/portal/items/cat-held")).status_code == 404
        assert (await http.get("/v1/items/cat-held")).status_code == 404
        assert "cat-held" not in (await http.get("/portal/")).text

        item = (await http.get("/v1/items/cat-open")).json()
        number = item["index_number"]
        assert re.fullmatch(r"000000000000000000-02-\d{4}-0001", number)
        assert platform[0]["index_number"] == number  # every channel carries it
        assert item["theme_label"] == "民政、扶贫、救灾" and item["keywords"] == ["低保", "救助"]
        assert item["summary"] == "自2027年1月1日起提高城乡低保标准。"

        async def feed_entry():
            feed = (await http.get("/v1/published?types=publication.published")).json()["items"]
            return [e for e in feed if e["submission_id"] == "cat-open"]

        entries = await eventually(feed_entry, what="the pull feed's publication entries")
        assert {e["data"]["index_number"] for e in entries} == {number}  # the pull feed carries it too
        page = (await http.get("/portal/items/cat-open")).text
        table = re.search(r'<table class="index".*?</table>', page, re.S).group()
        for label, value in (
            ("索引号", number),
            ("信息分类", "政策文件"),
            ("主题分类", "民政、扶贫、救灾"),
            ("发布机构", "党政办"),
            ("成文日期", "2026-11-02"),
            ("文号", "南府〔2026〕3号"),
            ("有效性", "有效（2027-01-01起施行）"),
            ("发布日期", item["first_published_at"][:4]),
        ):
            assert re.search(
                rf"<th scope=\"row\">{label}</th><td[^>]*>(<a [^>]*>)?[^<]*{re.escape(value)}", table
            ), label

        async with browser_page(width=390, height=844) as browser:  # a phone's screen
            await browser.goto(f"{url}/portal/items/cat-open")
            table = browser.locator("table.index")
            assert await table.is_visible()
            assert await browser.locator("table.index td.index-number").inner_text() == number
            fits = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
            assert await browser.evaluate(fits)  # the table never widens the page
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            await browser.screenshot(path=ARTIFACTS / "portal-index-table.png", full_page=True)

        # A correction that marks the published item 依申请公开 takes it off every channel; its
        # number stays with it.
        marked = content(
            **{
                **shown.data.content.model_dump(),
                "disclosure": "on_request",
                "disclosure_ground": "第二十七条",
            }
        )
        correction = new_event(
            ReviewApproved,
            "cat-open",
            "review",
            ReviewApprovedData(revision=2, content=marked, approvals=(approval(1, "a"), approval(2, "b"))),
        )
        await tap.publish(correction)
        await tap.wait_for("publication.withdrawn", "cat-open", count=2)
        assert tap.of("publication.updated", "cat-open") == []
        gone = await eventually(_withdrawn(http, "cat-open"), what="the item withdrawn")
        assert gone["item"]["state"] == "withdrawn" and gone["item"]["index_number"] == number


def _withdrawn(http: httpx.AsyncClient, item_id: str):
    async def check():
        answer = await http.get(f"/v1/items/{item_id}")
        return answer.json() if answer.status_code == 410 else None

    return check


async def test_submission_refusals_name_the_catalogue_field(settings, identities):
    clerk = await identities.department()
    item = {
        "title": "关于某事的说明",
        "body": "……",
        "category": "notice",
        "channels": ["portal"],
        "formed_on": "2026-11-02",
    }
    async with running(ingest(settings)) as http:
        refused = await http.post("/v1/submissions", json={**item, "disclosure": "withheld"}, headers=clerk)
        assert refused.status_code == 422
        assert refused.headers["content-type"] == "application/problem+json"
        [error] = refused.json()["errors"]
        assert error["field"] == "disclosure_ground"
        refused = await http.post(
            "/v1/submissions",
            json={**item, "category": "regulation", "validity": {"status": "repealed"}},
            headers=clerk,
        )
        assert [e["field"] for e in refused.json()["errors"]] == ["validity.repealed_on"]
        accepted = await http.post(
            "/v1/submissions",
            json={**item, "disclosure": "withheld", "disclosure_ground": "第十六条", "keywords": ["说明"]},
            headers=clerk,
        )
        assert accepted.status_code == 202
        shown = (await http.get(f"/v1/submissions/{accepted.json()['id']}", headers=clerk)).json()
        assert (shown["disclosure"], shown["theme"], shown["keywords"]) == (
            "withheld",
            "general_affairs",
            ["说明"],
        )


async def test_items_published_before_numbers_get_theirs_once_in_publication_order(settings):
    settings = settings.model_copy(update={"organisation_code": ORG})
    client = connect(settings)
    try:
        db = client[settings.database_name("publish")]
        old = content().model_dump(mode="json")
        old.pop("index_number")
        for sid, at, state in (
            ("old-2", "2025-03-02T02:00:00+00:00", "withdrawn"),
            ("old-1", "2025-03-01T02:00:00+00:00", "published"),
            ("old-3", "2025-12-31T17:00:00+00:00", "published"),  # 1 January 2026 in China
        ):
            await db.items.insert_one(
                {
                    "_id": sid,
                    "state": state,
                    "revision": 1,
                    "first_published_at": at,
                    "content": old,
                    "version": 1,
                }
            )
        await db.portal_items.insert_one({"_id": "old-1", **old, "state": "public"})
        for _ in range(2):  # a second start (or replica) changes nothing
            await PublicationStore(db, settings).prepare()
        numbers = {
            d["_id"]: d["content"]["index_number"] async for d in db.items.find({"state": {"$exists": True}})
        }
        assert numbers == {
            "old-1": f"{ORG}-17-2025-0001",
            "old-2": f"{ORG}-17-2025-0002",
            "old-3": f"{ORG}-17-2026-0001",
        }
        assert (await db.portal_items.find_one({"_id": "old-1"}))["index_number"] == numbers["old-1"]
    finally:
        await client.close()
