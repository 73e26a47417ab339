"""Headless Chromium from Debian's package, driven by Playwright (never a browser download)."""

import contextlib
import shutil

from playwright.async_api import async_playwright

from tests.support import ROOT

ARTIFACTS = ROOT / "tests" / "artifacts"
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


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        raise RuntimeError("Debian's chromium is not installed: run scripts/browser.sh (make test does)")
    return path


@contextlib.asynccontextmanager
async def browser_page(width: int = 1280, height: int = 800):
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=FLAGS)
        try:
            page = await browser.new_page(viewport={"width": width, "height": height}, locale="zh-CN")
            yield page
        finally:
            await browser.close()
