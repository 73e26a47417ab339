"""The portal website against the real broker and database, and in a real browser."""

import re
import xml.etree.ElementTree as ET

import httpx
import pytest

from sandbox.platform import create_sandbox
from services.publish.app import build
from shared.events import SubmissionWithdrawn, SubmissionWithdrawnData, new_event
from shared.settings import DEV_PLATFORM_SECRET
from tests.browser import ARTIFACTS, browser_page
from tests.conftest import serving
from tests.integration.test_publish import approved
from tests.support import EventTap, free_port

pytestmark = pytest.mark.integration
ATOM = "{http://www.w3.org/2005/Atom}"
HOSTILE_TITLE = '<img src=x onerror="window.pwned=1">关于<script>window.pwned=1</script>的通知'
HOSTILE_BODY = (
    "**请注意**：第一行\n第二行 <script>window.pwned=1</script>\n\n"
    "[危险链接](javascript:window.pwned=1) [政府网站](https://www.gov.cn)\n\n"
    '<iframe src="https://example.com"></iframe><a href="#" onclick="window.pwned=1">点我</a>'
)


@pytest.fixture
async def portal(settings):
    """Publish on a real port, pushing to a sandbox platform; yields its URL and an event tap."""
    sandbox_port, publish_port = free_port(), free_port()
    settings = settings.model_copy(
        update={
            "platform_url": f"http://127.0.0.1:{sandbox_port}",
            "portal_base_url": f"http://127.0.0.1:{publish_port}",
        }
    )
    async with (
        serving(create_sandbox(DEV_PLATFORM_SECRET, settings.platform_url), sandbox_port),
        EventTap(settings) as tap,
        serving(build(settings), publish_port) as url,
    ):
        yield url, tap


async def test_bodies_are_rendered_and_sanitised_and_listed_everywhere(portal):
    url, tap = portal
    await tap.publish(
        approved("pt-1", title="2026年预算公开", body=HOSTILE_BODY, category="budget", department="finance")
    )
    await tap.wait_for("publication.published", "pt-1", count=2)
    async with httpx.AsyncClient(base_url=url) as http:
        page = (await http.get("/portal/items/pt-1")).text
        assert "<strong>请注意</strong>" in page and "第一行<br" in page
        assert "<script" not in page  # raw HTML is left out: at most its text shows, as text
        assert 'href="https://www.gov.cn"' in page
        assert "<iframe" not in page  # never a frame
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
        assert await page.locator("article h1").inner_text() == HOSTILE_TITLE  # shown as text, whole
        assert await page.locator("article iframe, article img, article script").count() == 0
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=ARTIFACTS / "portal-item.png", full_page=True)
