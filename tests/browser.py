"""Headless Chromium from Debian's package, driven by Playwright (never a browser download), and
axe-core (npm, pinned by package-lock.json, installed by scripts/browser.sh) to judge a page's
accessibility from inside the browser."""

import contextlib
import shutil

from playwright.async_api import Page, async_playwright

from tests.support import ROOT

ARTIFACTS = ROOT / "tests" / "artifacts"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
# Without the background-networking flags Chromium keeps calling out, which this network refuses.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# What a page may not have at all: axe's two gravest impacts (WCAG 2.x A and AA, plus axe's best
# practices such as landmarks and one main heading).
GRAVE = ("serious", "critical")


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        raise RuntimeError("Debian's chromium is not installed: run scripts/browser.sh (make test does)")
    return path


@contextlib.asynccontextmanager
async def browser_page(width: int = 1280, height: int = 800, *, axe: bool = False):
    """A page in a fresh browser. `axe=True` lets axe_violations inject axe-core: Playwright adds a
    script tag inline, which the pages' Content-Security-Policy refuses, so that page is opened with
    CSP bypassed; axe_violations then checks that the page itself has no inline script, which the
    policy would refuse for real readers."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=FLAGS)
        try:
            context = await browser.new_context(
                viewport={"width": width, "height": height}, locale="zh-CN", bypass_csp=axe
            )
            yield await context.new_page()
        finally:
            await browser.close()


async def axe_violations(page: Page, impacts: tuple[str, ...] = GRAVE) -> list[str]:
    """axe-core's violations of the page as it is now, of the given impacts, one line each (rule,
    impact, help and the offending elements), so that an assertion message says what to fix."""
    if not AXE.exists():
        raise RuntimeError("axe-core is not installed: run scripts/browser.sh (make test does)")
    inline = await page.evaluate(
        "() => document.querySelectorAll('script:not([src]):not([data-axe]), [onclick], [onload], [onerror]').length"
    )
    assert inline == 0, "the page has inline script, which its Content-Security-Policy refuses"
    if not await page.evaluate("() => typeof window.axe === 'object'"):
        injected = await page.add_script_tag(path=AXE)
        await injected.evaluate("script => { script.dataset.axe = '' }")  # ours, not the page's
    result = await page.evaluate("() => axe.run(document, { resultTypes: ['violations'] })")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(" ".join(node["target"]) for node in v["nodes"][:5])
        for v in result["violations"]
        if v["impact"] in impacts
    ]


async def press_until(page: Page, key: str, selector: str, limit: int = 60) -> None:
    """Press KEY until the focus is on SELECTOR (unless it is there already), as a keyboard user
    moves; every control the focus rests on on the way must show it (see _focus)."""
    for presses in range(limit + 1):
        focus = await _focus(page, selector)
        assert presses == 0 or focus["shown"], f"no visible focus on {focus['what']}"
        if focus["there"]:
            return
        await page.keyboard.press(key)
    raise AssertionError(f"{selector} not reached with {key} in {limit} presses: at {focus['what']}")


async def tab_through(page: Page, presses: int = 40) -> int:
    """Tab from the top of the page through its first stops, each of which must show the focus;
    answers how many stops there were (the focus wraps to the top past the last)."""
    await page.evaluate("document.activeElement?.blur()")
    seen = set()
    for _ in range(presses):
        await page.keyboard.press("Tab")
        focus = await _focus(page, "*")
        assert focus["shown"], f"no visible focus on {focus['what']}"
        if focus["what"] in seen:
            break
        seen.add(focus["what"])
    return len(seen)


async def _focus(page: Page, selector: str) -> dict:
    """Where the focus is, and whether it shows: an outline at least 2 px wide (Chromium's own
    ring is 1 px). Past the last control the focus leaves the page: the body holds it, and Tab
    then wraps to the first."""
    return await page.evaluate(
        """(selector) => {
            const e = document.activeElement, style = getComputedStyle(e);
            const shown = e === document.body
                || (style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2);
            return { there: e.matches(selector), shown, what: e.outerHTML.slice(0, 80) };
        }""",
        selector,
    )
