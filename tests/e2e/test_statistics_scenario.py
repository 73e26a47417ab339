"""A year's work of one department driven from outside through every service, and the figures
and report it must produce, exactly."""

from datetime import date

import httpx
import pytest

from tests.e2e.test_pipeline import _is, approve_at_every_level, item
from tests.support import eventually

pytestmark = pytest.mark.e2e


async def test_the_statistics_of_a_scenario_match_it_exactly(system):
    clerk = await system.identities.department("scenario", "场景办")
    reviewers = [await system.identities.reviewer("甲审查", 1), await system.identities.reviewer("乙审核", 2)]
    operator = await system.identities.operator()
    ingest, review = f"{system.urls['ingest']}/v1/submissions", system.urls["review"]
    year = date.today().year
    async with httpx.AsyncClient(timeout=10) as http:

        async def submit(title: str, **overrides) -> str:
            answer = await http.post(ingest, json=item(title, **overrides), headers=clerk)
            assert answer.status_code == 202, answer.text
            return answer.json()["id"]

        async def published(sid: str) -> None:
            await eventually(lambda: _is(http, system, sid, clerk, "published"), 30, f"{sid} published")

        both = await submit("关于冬季防火的通知")
        platform_only = await submit("村务公开", channels=["platform"], category="village_affairs")
        regulation = await submit(
            "镇规范性文件",
            category="regulation",
            channels=["portal"],
            regulatory_document={"kind": "normative", "action": "issued"},
        )
        penalty = await submit(
            "行政处罚决定公示", category="penalty", decisions={"kind": "punishment", "count": 4}
        )
        marked = await submit("机密★10年 内部意见")
        withdrawn = await submit("将被撤回的通知", channels=["portal"])
        for sid in (both, platform_only, regulation, penalty, withdrawn):
            await approve_at_every_level(http, system, sid, reviewers)
        for sid in (both, platform_only, regulation, penalty, withdrawn):
            await published(sid)
        await eventually(lambda: _is(http, system, marked, clerk, "rejected"), 30, "the marked item rejected")
        answer = await http.post(f"{ingest}/{withdrawn}/withdraw", json={"reason": "有误"}, headers=clerk)
        assert answer.status_code == 200

        returned = await submit("需修改的通知")
        waiting = reviewers[0]

        async def queued():
            queue = (await http.get(f"{review}/v1/reviews", headers=waiting)).json()["items"]
            return any(i["submission_id"] == returned for i in queue)

        await eventually(queued, 30, "the item to return in the queue")
        back = {"decision": "reject", "reason": "process_information", "comment": "过程性信息"}
        assert (
            await http.post(f"{review}/v1/reviews/{returned}/decisions", json=back, headers=waiting)
        ).is_success

        stats = f"{system.urls['stats']}/v1/stats?year={year}&department=scenario"

        async def settled():
            figures = (await http.get(stats)).json()
            done = figures["submissions"]["withdrawn"] == 1 and figures["submissions"]["rejected"] == 2
            done &= figures["published"]["total"] == 7 and figures["submissions"]["received"] == 7
            return figures if done and sum(figures["published"]["withdrawn"].values()) == 1 else None

        figures = await eventually(settled, 40, "every event of the scenario counted")
        assert figures["published"]["by_channel"] == {"platform": 3, "portal": 4}
        assert figures["published"]["total"] == 7 and figures["published"]["items"] == 5
        assert figures["published"]["by_category"] == {
            "notice": 3,
            "village_affairs": 1,
            "regulation": 1,
            "penalty": 2,
        }
        assert figures["submissions"] == {
            "received": 7,
            "approved": 5,
            "held": 0,
            "rejected": 2,
            "returned": 0,
            "withdrawn": 1,
        }
        assert figures["review"] == {
            "auto_blocked": 1,
            "rejected_by_reason": {"classified": 1, "process_information": 1},
        }
        assert figures["timeliness"]["on_time"] == 5 and figures["timeliness"]["late"] == 0
        assert figures["time_to_publication"]["items"] == 5
        assert figures["table_a"] == {
            "documents": {"normative": {"issued": 1}},
            "decisions": {"punishment": 4},
        }
        assert figures["rates"] == {"disclosure": 1.0, "timeliness": 1.0, "accuracy": 0.8}
        regulation_only = (await http.get(f"{stats}&category=regulation")).json()
        assert regulation_only["published"]["total"] == 1 and regulation_only["submissions"]["received"] == 1

        report = await http.get(
            f"{system.urls['stats']}/v1/reports/annual?year={year}&format=md", headers=operator
        )
        assert report.status_code == 200
        title = f"# 场景镇人民政府{year}年政府信息公开工作年度报告"  # from GONGKAI_OFFICE_NAME
        assert report.text.startswith(title)
        assert "| 行政规范性文件 | " in report.text and "| 行政处罚 | " in report.text
