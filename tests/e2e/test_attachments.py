"""Attachments through every service as a process: a marking inside one blocks its item; a
clean one is published with its item, linked from the portal and the platform's push."""

import httpx
import pytest

from tests.documents import docx, pdf, png
from tests.e2e.test_pipeline import _is, approve_at_every_level, item
from tests.support import eventually

pytestmark = pytest.mark.e2e


async def upload(http, system, clerk, name: str, data: bytes) -> dict:
    answer = await http.post(
        f"{system.urls['ingest']}/v1/attachments", files=[("files", (name, data))], headers=clerk
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["items"][0]


async def test_a_marking_inside_an_attachment_blocks_its_item(system):
    clerk = await system.identities.department("office", "党政办")
    async with httpx.AsyncClient(timeout=10) as http:
        marked = await upload(
            http, system, clerk, "选址意见.docx", docx("关于重点工程选址的意见", "机 密 ★ 5年")
        )
        draft = item("关于重点工程建设的通知", attachments=[marked["id"]])
        sid = (await http.post(f"{system.urls['ingest']}/v1/submissions", json=draft, headers=clerk)).json()[
            "id"
        ]
        await eventually(lambda: _is(http, system, sid, clerk, "rejected"), 30, "the item rejected")
        shown = (await http.get(f"{system.urls['ingest']}/v1/submissions/{sid}", headers=clerk)).json()
        assert shown["review"]["automatic"] is True and shown["review"]["reason"] == "classified"
        assert [f["field"] for f in shown["review"]["findings"]] == ["attachments.0.document"]
        assert (await http.get(f"{system.urls['publish']}/portal/items/{sid}")).status_code == 404
        assert (await http.get(f"{system.urls['ingest']}/v1/attachments/{marked['id']}")).status_code == 404


async def test_a_clean_attachment_is_published_with_its_item(system):
    clerk = await system.identities.department("office", "党政办")
    reviewers = [
        await system.identities.reviewer("附件审查", 1),
        await system.identities.reviewer("附件审核", 2),
    ]
    report = pdf("二〇二六年第三季度财政收支情况表")
    async with httpx.AsyncClient(timeout=10) as http:
        attached = await upload(http, system, clerk, "收支情况.pdf", report)
        draft = item("2026年第三季度财政收支情况", attachments=[attached["id"]])
        sid = (await http.post(f"{system.urls['ingest']}/v1/submissions", json=draft, headers=clerk)).json()[
            "id"
        ]
        await approve_at_every_level(http, system, sid, reviewers)
        await eventually(lambda: _is(http, system, sid, clerk, "published"), 30, "the item published")
        link = f"{system.urls['ingest']}/v1/attachments/{attached['id']}"
        page = (await http.get(f"{system.urls['publish']}/portal/items/{sid}")).text
        assert f'href="{link}"' in page and "收支情况.pdf" in page
        [pushed] = [
            p for p in (await http.get(f"{system.urls['sandbox']}/items")).json()["items"] if p["id"] == sid
        ]
        assert pushed["attachments"] == [
            {
                "filename": "收支情况.pdf",
                "media_type": "application/pdf",
                "size": len(report),
                "sha256": attached["sha256"],
                "url": link,
            }
        ]
        public = await eventually(lambda: _downloaded(http, link), 20, "the file public")
        assert public.content == report


async def _downloaded(http, link: str):
    answer = await http.get(link)
    return answer if answer.status_code == 200 else None


async def test_a_reviewer_looks_at_an_image_attachment_through_review(system):
    clerk = await system.identities.department("office", "党政办")
    reviewer = await system.identities.reviewer("看图审查", 1)
    async with httpx.AsyncClient(timeout=10) as http:
        photo = await upload(http, system, clerk, "现场照片.png", png())
        draft = item("村道修缮现场照片", attachments=[photo["id"]])
        sid = (await http.post(f"{system.urls['ingest']}/v1/submissions", json=draft, headers=clerk)).json()[
            "id"
        ]

        async def queued():
            queue = (await http.get(f"{system.urls['review']}/v1/reviews", headers=reviewer)).json()["items"]
            return next((i for i in queue if i["submission_id"] == sid), None)

        waiting = await eventually(queued, 30, "the item at level 1")
        assert [f["rule"] for f in waiting["findings"]] == ["attachment-unread"]
        shown = await http.get(f"{system.urls['review']}/v1/reviews/{sid}/attachments/0", headers=reviewer)
        assert shown.status_code == 200 and shown.content == png()
        assert shown.headers["content-type"] == "image/png"
        assert (
            await http.get(f"{system.urls['review']}/v1/reviews/{sid}/attachments/0", headers=clerk)
        ).status_code == 403
        assert (
            await http.get(f"{system.urls['review']}/v1/reviews/{sid}/attachments/1", headers=reviewer)
        ).status_code == 404
