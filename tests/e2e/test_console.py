"""The review console in a real browser, against the whole system running as processes."""

import httpx
import pytest

from tests.browser import ARTIFACTS, axe_violations, browser_page, press_until
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
        async with browser_page(axe=True) as page:
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
            assert await axe_violations(page) == []  # each scrolling part reachable and named


async def test_a_whole_review_by_keyboard_alone_with_visible_focus_and_no_grave_axe_violation(system):
    clerk = await system.identities.department("office", "党政办")
    reviewer = await system.identities.reviewer("严键盘", 1)
    token = reviewer["Authorization"].removeprefix("Bearer ")
    drafts = {
        "approve": item(
            "关于冬季供暖服务的通知", body="供暖服务联系人：刘师傅，电话13912345678。\n请刘师傅按时到岗。"
        ),
        "return": item("关于春季植树的通知", body="请各村于三月前报送植树计划。"),
        "reject": item("关于内部值班安排的通知", body="值班安排见附表。"),
    }
    async with httpx.AsyncClient(timeout=10) as http:
        sids = {}
        for decision, draft in drafts.items():
            answer = await http.post(f"{system.urls['ingest']}/v1/submissions", json=draft, headers=clerk)
            sids[decision] = answer.json()["id"]
        for sid in sids.values():
            await eventually(
                lambda sid=sid: _is(http, system, sid, clerk, "in_review"), 30, "the items in review"
            )

        async with browser_page(axe=True) as page:
            keys = page.keyboard
            await page.goto(f"{system.urls['review']}/console")
            assert not await page.locator("#workbench").is_visible()  # signed out: no queue shown
            assert await axe_violations(page) == []
            # The largest text (适老化), chosen by keyboard, kept through the whole review.
            await press_until(page, "Tab", "button[data-text-size-choice=larger]")
            await keys.press("Enter")
            await press_until(page, "Tab", "#token")
            await keys.type(token)
            await keys.press("Enter")
            await page.wait_for_selector("#queue button")

            # 1. Approve, after redacting a selected range, a finding in place and a typed name
            # everywhere it occurs.
            await press_until(page, "ArrowDown", f"#queue li[data-id='{sids['approve']}'] button")
            await keys.press("Enter")
            await page.wait_for_selector("#field-body mark.flag")
            assert await page.evaluate("document.activeElement.id") == "item-heading"
            assert await axe_violations(page) == []
            # A range selected with the keyboard in the read-only body: caret to the start, Shift
            # and the arrows over four characters, Enter.
            await press_until(page, "Tab", "#field-body")
            await keys.type("改")  # refused: the text is what the department submitted
            await keys.press("Backspace")
            await keys.press("Control+Home")
            for _ in range(4):
                await keys.press("Shift+ArrowRight")
            await keys.press("Enter")
            await page.wait_for_selector("#decision-result:has-text('已遮盖正文中的“供暖服务”')")
            await press_until(page, "Tab", "#findings button")
            await keys.press("Enter")
            await press_until(page, "Tab", "#redact-text")
            await keys.type("刘师傅")
            await keys.press("Enter")
            redacted = await page.locator("#field-body span.redacted").all_inner_texts()
            assert sorted(redacted) == ["13912345678", "供暖服务", "刘师傅", "刘师傅"]
            assert await page.inner_text("#field-body") == drafts["approve"]["body"]  # nothing typed in
            await press_until(page, "Tab", "#comment")
            await keys.type("电话、姓名已遮盖")
            await press_until(page, "Tab", "#submit-decision")
            await keys.press("Enter")
            await page.wait_for_selector("#decision-result:has-text('等待第2级审核')")
            assert await axe_violations(page) == []

            # 2. Return, with the comment a return requires.
            await press_until(page, "ArrowDown", f"#queue li[data-id='{sids['return']}'] button")
            await keys.press("Enter")
            await page.wait_for_selector("#item:not([hidden])")
            await press_until(page, "Tab", "#decision")
            await keys.press("ArrowDown")
            assert await page.input_value("#decision") == "return"
            await press_until(page, "Tab", "#comment")
            await keys.type("请补充各村的植树面积")
            await press_until(page, "Tab", "#submit-decision")
            await keys.press("Enter")
            await page.wait_for_selector("#decision-result:has-text('退回修改')")

            # 3. Reject, with its reason; at 200% zoom (640 CSS pixels) nothing scrolls sideways.
            await page.set_viewport_size({"width": 640, "height": 800})
            await press_until(page, "ArrowDown", f"#queue li[data-id='{sids['reject']}'] button")
            await keys.press("Enter")
            await page.wait_for_selector("#item:not([hidden])")
            assert not await page.evaluate("document.documentElement.scrollWidth > innerWidth")
            await press_until(page, "Tab", "#decision")
            await keys.press("ArrowDown")
            await keys.press("ArrowDown")
            assert await page.input_value("#decision") == "reject"
            await press_until(page, "Tab", "#reason")
            await keys.press("ArrowDown")
            assert await page.input_value("#reason") == "privacy"
            await press_until(page, "Tab", "#submit-decision")
            await keys.press("Enter")
            await page.wait_for_selector("#decision-result:has-text('不予公开')")
            assert await page.evaluate("document.documentElement.dataset.textSize") == "larger"
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=ARTIFACTS / "console-keyboard.png", full_page=True)

        review = f"{system.urls['review']}/v1/reviews"
        [first] = (await http.get(f"{review}/{sids['approve']}", headers=reviewer)).json()["decisions"]
        assert first["decision"] == "approve" and len(first["redactions"]) == 4
        await eventually(lambda: _is(http, system, sids["return"], clerk, "returned"), 30, "returned")
        await eventually(lambda: _is(http, system, sids["reject"], clerk, "rejected"), 30, "rejected")
        [last] = (await http.get(f"{review}/{sids['reject']}", headers=reviewer)).json()["decisions"]
        assert last["reason"] == "privacy"
