"""The review console in a real browser, against the whole system running as processes."""

import httpx
import pytest

from tests.browser import ARTIFACTS, browser_page
from tests.e2e.test_pipeline import _is, item
from tests.support import eventually

pytestmark = pytest.mark.e2e


async def test_a_reviewer_redacts_a_phone_number_in_the_console_and_the_portal_shows_the_redaction(system):
    clerk = await system.identities.department("office", "党政办")
    token = (await system.identities.reviewer("郑审查", 1))["Authorization"].removeprefix("Bearer ")
    second = await system.identities.reviewer("冯审核", 2)
    draft = item("关于冬季供暖服务的通知", body="供暖服务联系人：刘师傅，电话13912345678。\n请各户按时缴费。")
    async with httpx.AsyncClient(timeout=10) as http:
        sid = (await http.post(f"{system.urls['ingest']}/v1/submissions", json=draft, headers=clerk)).json()[
            "id"
        ]
        await eventually(lambda: _is(http, system, sid, clerk, "in_review"), 30, "the item in review")

        async with browser_page() as page:
            await page.goto(f"{system.urls['review']}/console")
            await page.fill("#token", "gk_wrong")
            await page.click("#sign-in-form button")
            await page.wait_for_selector("#sign-in-error:has-text('登录失败')")
            await page.fill("#token", token)
            await page.click("#sign-in-form button")
            await page.click(f"#queue li[data-id='{sid}']")
            flagged = page.locator("#field-body mark.flag")
            assert await flagged.inner_text() == "13912345678"
            # Refused while the flag is unresolved:
            await page.click("#submit-decision")
            await page.wait_for_selector("#decision-result:has-text('未能提交')")
            # Select the phone number with the mouse, as a reviewer would, and redact it.
            box = await flagged.bounding_box()
            await page.mouse.move(box["x"] + 1, box["y"] + box["height"] / 2)
            await page.mouse.down()
            await page.mouse.move(box["x"] + box["width"] - 1, box["y"] + box["height"] / 2)
            await page.mouse.up()
            await page.click("#redact")
            assert await page.locator("#field-body span.redacted").inner_text() == "13912345678"
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=ARTIFACTS / "console.png", full_page=True)
            await page.fill("#comment", "电话号码已遮盖")
            await page.click("#submit-decision")
            await page.wait_for_selector("#decision-result:has-text('等待第2级审核')")

        answer = await http.post(
            f"{system.urls['review']}/v1/reviews/{sid}/decisions",
            json={"decision": "approve"},
            headers=second,
        )
        assert answer.status_code == 200
        await eventually(lambda: _is(http, system, sid, clerk, "published"), 30, "the item published")
        page_text = (await http.get(f"{system.urls['publish']}/portal/items/{sid}")).text
        assert "13912345678" not in page_text and "■■■■■■■■■■■" in page_text
        pushed = (await http.get(f"{system.urls['sandbox']}/items")).text
        assert "13912345678" not in pushed


async def test_the_console_shows_every_part_of_an_attachment_with_its_findings(system):
    from tests.e2e.test_attachments import upload
    from tests.hostile import docx_with, footnotes

    clerk = await system.identities.department("office", "党政办")
    token = (await system.identities.reviewer("卫审查", 1))["Authorization"].removeprefix("Bearer ")
    report = docx_with(**{"word/footnotes.xml": footnotes("联系电话13912345678")})
    async with httpx.AsyncClient(timeout=10) as http:
        attached = await upload(http, system, clerk, "说明.docx", report)
        draft = item("关于冬季供暖的说明", attachments=[attached["id"]])
        sid = (await http.post(f"{system.urls['ingest']}/v1/submissions", json=draft, headers=clerk)).json()[
            "id"
        ]
        await eventually(lambda: _is(http, system, sid, clerk, "in_review"), 30, "the item in review")
        async with browser_page() as page:
            await page.goto(f"{system.urls['review']}/console")
            await page.fill("#token", token)
            await page.click("#sign-in-form button")
            await page.click(f"#queue li[data-id='{sid}']")
            await page.wait_for_selector("#attachments h5:has-text('脚注')")
            flagged = page.locator("[id='field-attachments.0.footnotes'] mark.flag")
            assert await flagged.inner_text() == "13912345678"
            assert (
                "关于做好秋季森林防火工作的通知"
                in await page.locator("[id='field-attachments.0.document']").inner_text()
            )
