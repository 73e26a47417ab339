"""The statistics dashboard in a real browser (Debian's chromium), fed by an imported year."""

import pytest

from services.stats.app import build
from tests.browser import ARTIFACTS, axe_violations, browser_page, tab_through
from tests.conftest import serving
from tests.integration.test_stats import SEED_CSV
from tests.support import free_port, run_cli

pytestmark = pytest.mark.integration


async def test_the_dashboard_charts_the_year_in_chinese(settings, tmp_path):
    history = tmp_path / "nangan-2018.csv"
    history.write_text(SEED_CSV, encoding="utf-8")
    assert run_cli(settings, "import", str(history)).returncode == 0
    async with serving(build(settings), free_port()) as url, browser_page(1280, 900, axe=True) as page:
        await page.goto(f"{url}/dashboard?year=2018")
        assert await page.title() == "2018年政府信息公开统计"
        assert await page.inner_text("#published-total") == "443"
        assert await page.inner_text("#published-platform") == "372"
        assert await page.inner_text("#published-portal") == "71"
        # Every month has a bar per channel, as tall as its share of the busiest month.
        january = page.locator(".month").first
        assert "1月 统一平台 31条" == await january.locator(".bar.platform").get_attribute("title")
        assert (await january.get_attribute("aria-label")).startswith("1月：统一平台31条")  # read aloud
        assert await page.locator(".month").count() == 12
        heights = [
            await b.evaluate("e => e.getBoundingClientRect().height")
            for b in await page.locator(".bar.platform").all()
        ]
        assert all(h > 0 for h in heights)
        assert "村务公开" in await page.inner_text("#categories + div, section[aria-labelledby=categories]")
        assert await axe_violations(page) == []
        assert await tab_through(page) >= 5  # the text-size switch and the years
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=ARTIFACTS / "dashboard.png", full_page=True)
        await page.set_viewport_size({"width": 390, "height": 844})  # a phone
        await page.screenshot(path=ARTIFACTS / "dashboard-phone.png", full_page=True)
        overflow = await page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
        assert not overflow
        # The largest text at 200% zoom (a 1280-pixel screen is then 640 CSS pixels wide), kept on
        # reload: still no sideways scroll, and nothing grave for axe.
        await page.set_viewport_size({"width": 640, "height": 450})
        await page.get_by_role("button", name="特大").click()
        await page.reload()
        assert await page.evaluate("document.documentElement.dataset.textSize") == "larger"
        overflow = await page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
        assert not overflow
        assert await axe_violations(page) == []
