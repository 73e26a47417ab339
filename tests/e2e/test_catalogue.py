"""The catalogue end to end, every service a separate process: a department marks an item
依申请公开 and another 主动公开; both pass both levels of review; only the proactive one reaches
a channel, with its 索引号 and the portal's 信息索引 table; the other is counted and stays offline."""

import re
from datetime import date

import httpx
import pytest

from tests.e2e.test_pipeline import approve_at_every_level, item, status_of
from tests.support import eventually

pytestmark = pytest.mark.e2e


async def test_only_the_proactive_item_goes_online_with_its_index_table(system):
    clerk = await system.identities.department("civil", "民政办")
    reviewers = [await system.identities.reviewer("钱审查", 1), await system.identities.reviewer("孙审核", 2)]
    year = date.today().year
    on_request = item(
        "关于某户低保申请复核情况的说明",
        category="livelihood",
        disclosure="on_request",
        disclosure_ground="《中华人民共和国政府信息公开条例》第二十七条",
    )
    proactive = item(
        "关于调整城乡居民最低生活保障标准的通知",
        category="regulation",
        regulatory_document={"kind": "normative", "action": "issued"},
        document_number="民政办〔2026〕2号",
        keywords=["低保", "标准"],
        summary="提高城乡居民最低生活保障标准。",
    )
    async with httpx.AsyncClient(timeout=10) as http:
        before = (await http.get(f"{system.urls['stats']}/v1/stats?year={year}")).json()["submissions"]
        ids = []
        for body in (on_request, proactive):
            answer = await http.post(f"{system.urls['ingest']}/v1/submissions", json=body, headers=clerk)
            assert answer.status_code == 202, answer.text
            ids.append(answer.json()["id"])
        held, shown = ids
        for sid in ids:
            await approve_at_every_level(http, system, sid, reviewers)

        async def published():
            return await status_of(http, system, shown, clerk) == "published"

        await eventually(published, 30, "the proactive item published")

        async def counted():
            now = (await http.get(f"{system.urls['stats']}/v1/stats?year={year}")).json()["submissions"]
            return now["approved"] - before["approved"] == 2 and now["held"] - before["held"] == 1

        await eventually(counted, 30, "both approvals counted, one as held")
        assert await status_of(http, system, held, clerk) == "approved"  # recorded, never published
        pushed = (await http.get(f"{system.urls['sandbox']}/items")).json()["items"]
        assert held not in {p["id"] for p in pushed} and shown in {p["id"] for p in pushed}
        assert (await http.get(f"{system.urls['publish']}/portal/items/{held}")).status_code == 404
        assert (await http.get(f"{system.urls['publish']}/v1/items/{held}")).status_code == 404

        resource = (await http.get(f"{system.urls['publish']}/v1/items/{shown}")).json()
        number = resource["index_number"]
        assert re.fullmatch(rf"[0-9A-Z]+-02-{year}-\d{{4}}", number)
        assert resource["validity"]["status"] == "valid" and resource["theme"] == "general_affairs"
        assert next(p for p in pushed if p["id"] == shown)["index_number"] == number
        page = (await http.get(f"{system.urls['publish']}/portal/items/{shown}")).text
        table = re.search(r'<table class="index".*?</table>', page, re.S).group()
        for text in (number, "政策文件", "综合政务", "民政办", "民政办〔2026〕2号", "有效", "低保；标准"):
            assert text in table, text
