"""The portal website against the real broker and database, and in a real browser."""

import asyncio
import re
import xml.etree.ElementTree as ET

import feedparser
import httpx
import pytest

from services.publish.app import build
from services.publish.caching import SETTLE
from shared.domain import china_date
from shared.events import SubmissionWithdrawn, SubmissionWithdrawnData, new_event, utcnow
from shared.settings import OfficeContact, SiteIdentity
from tests.browser import ARTIFACTS, axe_violations, browser_page, tab_through
from tests.conftest import running
from tests.integration.conftest import site_for
from tests.integration.test_publish import approved
from tests.support import eventually

pytestmark = pytest.mark.integration
ATOM = "{http://www.w3.org/2005/Atom}"
HOSTILE_TITLE = '<img src=x onerror="window.pwned=1">关于<script>window.pwned=1</script>的通知'
HOSTILE_BODY = (
    "**请注意**：第一行\n第二行 <script>window.pwned=1</script>\n\n"
    "[危险链接](javascript:window.pwned=1) [政府网站](https://www.gov.cn)\n\n"
    '<iframe src="https://example.com"></iframe><a href="#" onclick="window.pwned=1">点我</a>'
)


@pytest.fixture
def portal(site):
    """The site's portal URL and its event tap."""
    url, tap, _, _ = site
    return url, tap


async def test_bodies_are_rendered_and_sanitised_and_listed_everywhere(portal):
    url, tap = portal
    await tap.publish(
        approved("pt-1", title="2026年预算公开", body=HOSTILE_BODY, category="budget", department="finance")
    )
    await tap.wait_for("publication.published", "pt-1", count=2)
    async with httpx.AsyncClient(base_url=url) as http:
        page = (await http.get("/portal/items/pt-1")).text
        assert "<strong>请注意</strong>" in page and "第一行<br" in page
        article = page.split("<article", 1)[1]  # the site's own script file stands in <head>
        assert "<script" not in article  # raw HTML is left out: at most its text shows, as text
        assert 'href="https://www.gov.cn"' in page
        assert "<iframe" not in article  # never a frame
        assert not re.search(r"<a [^>]*onclick", page) and not re.search(r'href="javascript', page)
        for path in ("/portal/", "/portal/categories/budget", "/portal/departments/finance"):
            assert "/portal/items/pt-1" in (await http.get(path)).text
        assert "/portal/items/pt-1" not in (await http.get("/portal/categories/notice")).text
        atom = ET.fromstring((await http.get("/portal/feed.atom")).content)
        [entry] = atom.findall(f"{ATOM}entry")
        assert entry.find(f"{ATOM}title").text == "2026年预算公开"
        assert "<strong>请注意</strong>" in entry.find(f"{ATOM}content").text
        sitemap = ET.fromstring((await http.get("/portal/sitemap.xml")).content)
        assert any(
            loc.text.endswith("/portal/items/pt-1")
            for loc in sitemap.iter("{http://www.sitemaps.org/schemas/sitemap/0.9}loc")
        )

        await tap.publish(
            new_event(SubmissionWithdrawn, "pt-1", "ingest", SubmissionWithdrawnData(withdrawn_by="finance"))
        )
        await tap.wait_for("publication.withdrawn", "pt-1", count=2)
        assert (await http.get("/portal/items/pt-1")).status_code == 410
        assert "pt-1" not in (await http.get("/portal/feed.atom")).text
        assert "pt-1" not in (await http.get("/portal/sitemap.xml")).text


async def test_hostile_html_is_harmless_in_a_real_browser(portal):
    url, tap = portal
    await tap.publish(approved("pt-2", title=HOSTILE_TITLE, body=HOSTILE_BODY))
    await tap.wait_for("publication.published", "pt-2", count=2)
    async with browser_page(width=390, height=844) as page:  # a phone's screen
        dialogs = []
        page.on("dialog", lambda dialog: dialogs.append(dialog.message))
        for path in ("/portal/", "/portal/items/pt-2"):
            await page.goto(f"{url}{path}")
            await page.wait_for_load_state("networkidle")
            assert await page.evaluate("window.pwned") is None and dialogs == []
            # The site's own script runs under the page's real Content-Security-Policy.
            assert await page.evaluate("document.documentElement.dataset.textSize") == "standard"
        assert await page.locator("article h1").inner_text() == HOSTILE_TITLE  # shown as text, whole
        assert await page.locator("article iframe, article img, article script").count() == 0
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=ARTIFACTS / "portal-item.png", full_page=True)


async def test_every_portal_page_is_accessible_and_keeps_a_readers_font_size(portal):
    url, tap = portal
    await tap.publish(
        approved("pa-1", title="2026年预算公开", body=HOSTILE_BODY, category="budget", department="finance")
    )
    await tap.publish(approved("pa-2", title="关于冬季供暖的通知", channels=("portal",)))
    await tap.wait_for("publication.published", "pa-2")
    await tap.wait_for("publication.published", "pa-1", count=2)
    await tap.publish(
        new_event(SubmissionWithdrawn, "pa-2", "ingest", SubmissionWithdrawnData(withdrawn_by="office"))
    )
    await tap.wait_for("publication.withdrawn", "pa-2")
    pages = ("/portal/", "/portal/categories/budget", "/portal/departments/finance", "/portal/items/pa-1")
    async with browser_page(axe=True) as page:
        for path in (*pages, "/portal/items/pa-2"):
            await page.goto(f"{url}{path}")
            assert await axe_violations(page) == [], path
            assert await tab_through(page) > 3, path  # the skip link, the site, the switch, …
        # The font-size switch (适老化): a reader's choice holds on every page, in this browser.
        await page.goto(f"{url}/portal/")
        standard = await _root_font_px(page)
        switch = page.get_by_role("button", name="特大")
        await switch.focus()
        await page.keyboard.press("Enter")
        assert await switch.get_attribute("aria-pressed") == "true"
        assert await _root_font_px(page) >= 1.5 * standard
        await page.goto(f"{url}/portal/items/pa-1")
        assert await _root_font_px(page) >= 1.5 * standard
        assert await axe_violations(page) == []
        # At 200% zoom a 1280-pixel screen is 640 CSS pixels wide; with the largest type too,
        # nothing may need a sideways scroll.
        await page.set_viewport_size({"width": 640, "height": 400})
        for path in pages:
            await page.goto(f"{url}{path}")
            assert not await _overflows(page), path
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=ARTIFACTS / "portal-200pct.png", full_page=True)
        await page.get_by_role("button", name="标准").click()
        await page.reload()
        assert await _root_font_px(page) == standard


async def _root_font_px(page) -> float:
    return await page.evaluate("parseFloat(getComputedStyle(document.documentElement).fontSize)")


async def _overflows(page) -> bool:
    return await page.evaluate("document.documentElement.scrollWidth > document.documentElement.clientWidth")


async def test_feeds_page_cache_and_keep_their_ids_wherever_the_site_lives(portal, settings, monkeypatch):
    url, tap = portal
    monkeypatch.setattr("services.publish.portal.FEED_SIZE", 2)
    for n in range(3):
        await tap.publish(approved(f"pg-{n}", title=f"第{n}条", channels=("portal",)))
        await tap.wait_for("publication.published", f"pg-{n}")  # one after another: newest first is pg-2
    async with httpx.AsyncClient(base_url=url) as http:
        await eventually(lambda: _feed_has(http, "pg-0"), 10, "the item events in the pull feed")
        first = await http.get("/portal/feed.atom")
        feed = feedparser.parse(first.content)
        assert not feed.bozo and [e.title for e in feed.entries] == ["第2条", "第1条"]
        links = {link.rel: link.href for link in feed.feed.links}
        assert links["next"] == f"{url}/portal/feed.atom?page=2" and "previous" not in links
        second = feedparser.parse((await http.get(links["next"])).content)
        links = {link.rel: link.href for link in second.feed.links}
        assert [e.title for e in second.entries] == ["第0条"] and "next" not in links
        assert links["previous"] == links["prev"] == links["first"] == f"{url}/portal/feed.atom"
        ids = [e.id for e in feed.entries + second.entries]
        assert all(i.startswith("tag:gongkai.invalid,20") and "127.0.0.1" not in i for i in ids)
        assert len(set(ids)) == 3

        moved = settings.model_copy(update={"portal_base_url": "https://www.town.example.gov.cn"})
        async with running(build(moved)) as elsewhere:  # the same portal, served from a new address
            again = feedparser.parse((await elsewhere.get("/portal/feed.atom")).content)
            assert [e.id for e in again.entries] == ids[:2]
            assert again.entries[0].link.startswith("https://www.town.example.gov.cn/portal/items/")

        page = (await http.get("/portal/feed.json")).json()
        assert page["next_url"] == f"{url}/portal/feed.json?page=2"
        assert "next_url" not in (await http.get(page["next_url"])).json()

        await asyncio.sleep(SETTLE.total_seconds())  # a date validator holds once its second is over
        for path in (
            "/portal/feed.atom",
            "/portal/feed.json",
            "/portal/items/pg-1",
            "/v1/published",
            "/v1/items/pg-1",
        ):
            fresh = await http.get(path)
            assert fresh.status_code == 200 and fresh.headers["etag"] and fresh.headers["last-modified"], path
            same = await http.get(path, headers={"If-None-Match": fresh.headers["etag"]})
            assert (
                same.status_code == 304
                and same.content == b""
                and same.headers["etag"] == fresh.headers["etag"]
            )
            since = await http.get(path, headers={"If-Modified-Since": fresh.headers["last-modified"]})
            assert since.status_code == 304, path
            other = await http.get(path, headers={"If-None-Match": '"something-else"'})
            assert other.status_code == 200 and other.content == fresh.content, path

        before = await http.get("/portal/feed.atom")
        await tap.publish(
            new_event(SubmissionWithdrawn, "pg-2", "ingest", SubmissionWithdrawnData(withdrawn_by="office"))
        )
        await tap.wait_for("publication.withdrawn", "pg-2")
        after = await http.get("/portal/feed.atom", headers={"If-None-Match": before.headers["etag"]})
        assert after.status_code == 200 and "pg-2" not in after.text
        later = await http.get(
            "/portal/feed.atom", headers={"If-Modified-Since": before.headers["last-modified"]}
        )
        assert later.status_code == 200  # a withdrawal changes the feed, though no item left in it did


async def _feed_has(http: httpx.AsyncClient, submission_id: str) -> bool:
    entries = (await http.get("/v1/published")).json()["items"]
    return any(e["submission_id"] == submission_id for e in entries)


CONTACT = {
    "disclosure_office": "楠杆镇党政综合办公室",
    "address": "罗山县楠杆镇人民路1号",
    "postcode": "464200",
    "hours": "工作日 8:30—12:00，14:30—17:30",
    "phone": "0376-2100000",
    "fax": "0376-2100001",
    "email": "ngzf@example.gov.cn",
}
IDENTITY = {
    "site_code": "4115210001",
    "icp_record": "豫ICP备00000000号",
    "police_record": "豫公网安备41152102000001号",
}


@pytest.fixture
async def office_site(settings):
    """A site configured as an office would configure it, with items to find."""
    settings = settings.model_copy(
        update={
            "office_name": "楠杆镇人民政府",
            "office_contact": OfficeContact(**CONTACT),
            "site_identity": SiteIdentity(**IDENTITY),
        }
    )
    async with site_for(settings) as (url, tap, _, _):
        items = {
            "ca-1": dict(
                title="2026年楠杆镇财政预算公开", category="budget", department="finance", theme="finance"
            ),
            "ca-2": dict(
                title="关于冬季供暖的通知",
                body="请各村做好供暖保障，确保居民温暖过冬。",
                document_number="楠政〔2026〕3号",
                department="office",
                theme="urban_environment",
            ),
            "ca-3": dict(title="楠杆镇道路维修(一期)工程公示", body="维修 .* 路段。", department="office"),
        }
        for sid, fields in items.items():
            await tap.publish(approved(sid, channels=("portal",), **fields))
        for sid in items:
            await tap.wait_for("publication.published", sid)
        yield url


async def test_the_guide_says_what_art_12_asks_and_every_page_names_the_office(office_site):
    async with httpx.AsyncClient(base_url=office_site) as http:
        guide = (await http.get("/portal/guide")).text
        for said in (
            *CONTACT.values(),
            "20个工作日",
            "行政许可信息自作出决定之日起7个工作日",
            "机构代码-类别代码-年份-流水号",
        ):
            assert said in guide, said
        for path in ("/portal/", "/portal/guide", "/portal/catalogue", "/portal/items/ca-1"):
            page = (await http.get(path)).text
            assert "主办单位：楠杆镇人民政府" in page, path
            assert all(v in page for v in IDENTITY.values()), path
            assert "政府信息公开指南" in page and "政府信息公开目录" in page, path


async def test_the_catalogue_narrows_and_searches_what_was_typed(office_site):
    year = str(china_date(utcnow()).year)

    async def found(**query) -> list[str]:
        async with httpx.AsyncClient(base_url=office_site) as http:
            response = await http.get("/portal/catalogue", params=query)
        assert response.status_code == 200, response.text
        return sorted(re.findall(r'/portal/items/(ca-[0-9])"', response.text))

    assert await found() == ["ca-1", "ca-2", "ca-3"]
    assert await found(category="budget") == ["ca-1"]
    assert await found(theme="urban_environment") == ["ca-2"]
    assert await found(department="office") == ["ca-2", "ca-3"]
    assert await found(year=year) == ["ca-1", "ca-2", "ca-3"]
    assert await found(year="2019") == []
    assert await found(q="供暖") == ["ca-2"]  # title
    assert await found(q="温暖过冬") == ["ca-2"]  # body
    assert await found(q="〔2026〕3号") == ["ca-2"]  # a 文号 fragment
    assert await found(q="楠杆镇 维修") == ["ca-3"]  # every term
    assert await found(q=".*") == ["ca-3"]  # literally, not as a pattern
    assert await found(q="(一期") == ["ca-3"]
    assert await found(q="楠杆镇", department="finance") == ["ca-1"]
    async with httpx.AsyncClient(base_url=office_site) as http:
        item = (await http.get("/portal/items/ca-1")).text
        number = re.search(r'class="index-number">([^<]+)<', item).group(1)
        assert await found(q=number) == ["ca-1"]  # the 索引号
        for bad in ({"q": "长" * 101}, {"year": "1999"}, {"category": "secret"}, {"department": "../x"}):
            response = await http.get("/portal/catalogue", params=bad)
            assert response.status_code == 422, bad
            assert response.headers["content-type"].startswith("application/problem+json")


async def test_catalogue_and_guide_are_accessible_and_print_as_documents(office_site):
    async with browser_page(axe=True) as page:
        for path in (
            "/portal/guide",
            "/portal/catalogue",
            "/portal/catalogue?q=供暖",
            "/portal/catalogue?q=无此信息",
        ):
            await page.goto(f"{office_site}{path}")
            assert await axe_violations(page) == [], path
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.goto(f"{office_site}/portal/catalogue?department=office")
        await page.screenshot(path=ARTIFACTS / "portal-catalogue.png", full_page=True)
        await page.goto(f"{office_site}/portal/guide")
        await page.screenshot(path=ARTIFACTS / "portal-guide.png", full_page=True)
        await page.goto(f"{office_site}/portal/items/ca-2")
        crumbs = await page.get_by_role("navigation", name="当前位置").inner_text()
        assert "首页" in crumbs and "政府信息公开目录" in crumbs and "正文" in crumbs
        await page.emulate_media(media="print")
        assert not await page.get_by_role("navigation", name="政府信息公开栏目").is_visible()
        assert await page.get_by_role("table", name="信息索引").is_visible()
        await page.screenshot(path=ARTIFACTS / "portal-item-print.png", full_page=True)
