"""The whole pipeline with every service a separate process, driven from outside over HTTP."""

import asyncio
import json
from datetime import date

import aio_pika
import httpx
import pytest

from shared.events import utcnow
from shared.signing import signed_headers
from tests.support import EventTap, eventually

WRONG_SECRET = "whsec_d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA=="

pytestmark = pytest.mark.e2e


def item(title: str, **overrides) -> dict:
    return {
        "title": title,
        "body": "根据工作安排，现将有关事项通知如下。\n请各单位遵照执行。",
        "category": "notice",
        "channels": ["platform", "portal"],
        "formed_on": date.today().isoformat(),
        **overrides,
    }


async def approve_at_every_level(http, system, sid: str, reviewers: list[dict], seconds: float = 30) -> None:
    for headers in reviewers:

        async def waiting(headers=headers):
            queue = (await http.get(f"{system.urls['review']}/v1/reviews", headers=headers)).json()["items"]
            return any(i["submission_id"] == sid for i in queue)

        await eventually(waiting, seconds, f"{sid} in a reviewer's queue")
        answer = await http.post(
            f"{system.urls['review']}/v1/reviews/{sid}/decisions",
            json={"decision": "approve", "comment": "同意"},
            headers=headers,
        )
        assert answer.status_code == 200, answer.text


async def status_of(http, system, sid: str, clerk: dict) -> str:
    return (await http.get(f"{system.urls['ingest']}/v1/submissions/{sid}", headers=clerk)).json()["status"]


async def test_an_item_travels_from_submission_to_both_channels_and_the_statistics(system):
    clerk = await system.identities.department("office", "党政办")
    reviewers = [await system.identities.reviewer("王审查", 1), await system.identities.reviewer("赵审核", 2)]
    year = date.today().year
    async with httpx.AsyncClient(timeout=10) as http:
        before = (await http.get(f"{system.urls['stats']}/v1/stats?year={year}")).json()
        answer = await http.post(
            f"{system.urls['ingest']}/v1/submissions",
            json=item("关于做好冬季安全生产工作的通知"),
            headers=clerk,
        )
        assert answer.status_code == 202
        sid = answer.json()["id"]
        await approve_at_every_level(http, system, sid, reviewers)
        await eventually(lambda: _is(http, system, sid, clerk, "published"), 30, "the item published")

        shown = (await http.get(f"{system.urls['ingest']}/v1/submissions/{sid}", headers=clerk)).json()
        assert {p["channel"] for p in shown["publications"]} == {"platform", "portal"}
        assert [a["reviewer"] for a in shown["review"]["approvals"]] == ["王审查", "赵审核"]

        pushed = (await http.get(f"{system.urls['sandbox']}/items")).json()["items"]
        assert [p["title"] for p in pushed] == ["关于做好冬季安全生产工作的通知"]
        deliveries = (await http.get(f"{system.urls['sandbox']}/deliveries")).json()["items"]
        assert [d["verdict"] for d in deliveries] == ["accepted"]  # the sandbox checked the signature

        page = await http.get(f"{system.urls['publish']}/portal/items/{sid}")
        assert page.status_code == 200 and "关于做好冬季安全生产工作的通知" in page.text
        assert sid in (await http.get(f"{system.urls['publish']}/portal/")).text

        async def counted():
            after = (await http.get(f"{system.urls['stats']}/v1/stats?year={year}")).json()
            return after if after["published"]["total"] - before["published"]["total"] == 2 else None

        after = await eventually(counted, 20, "the statistics to count both publications")
        for channel in ("platform", "portal"):
            assert after["published"]["by_channel"][channel] - before["published"]["by_channel"][channel] == 1
        assert after["published"]["by_department"]["office"] == 2
        assert after["submissions"]["approved"] - before["submissions"]["approved"] == 1


async def _is(http, system, sid, clerk, wanted) -> bool:
    return await status_of(http, system, sid, clerk) == wanted


async def test_a_marked_item_is_rejected_and_appears_on_no_channel(system):
    clerk = await system.identities.department("office", "党政办")
    reviewer = await system.identities.reviewer("王审查", 1)
    async with httpx.AsyncClient(timeout=10) as http:
        marked = item("秘密★1年 关于人员调整的意见", channels=["portal", "platform"])
        sid = (await http.post(f"{system.urls['ingest']}/v1/submissions", json=marked, headers=clerk)).json()[
            "id"
        ]
        await eventually(lambda: _is(http, system, sid, clerk, "rejected"), 30, "the marked item rejected")
        shown = (await http.get(f"{system.urls['ingest']}/v1/submissions/{sid}", headers=clerk)).json()
        assert shown["review"]["automatic"] is True and shown["publications"] == []
        queue = (await http.get(f"{system.urls['review']}/v1/reviews", headers=reviewer)).json()["items"]
        assert sid not in [i["submission_id"] for i in queue]
        assert (await http.get(f"{system.urls['publish']}/portal/items/{sid}")).status_code == 404
        feed = (await http.get(f"{system.urls['publish']}/portal/feed.json")).text
        pushed = (await http.get(f"{system.urls['sandbox']}/items")).text
        assert "人员调整" not in feed and "人员调整" not in pushed


async def test_a_duplicate_approval_changes_nothing(system):
    clerk = await system.identities.department("duplicates", "重复办")
    reviewers = [await system.identities.reviewer("钱审查", 1), await system.identities.reviewer("孙审核", 2)]
    async with EventTap(system.settings, "review.approved") as tap, httpx.AsyncClient(timeout=10) as http:
        sid = (
            await http.post(
                f"{system.urls['ingest']}/v1/submissions",
                json=item("2026年第四季度财政收支情况"),
                headers=clerk,
            )
        ).json()["id"]
        await approve_at_every_level(http, system, sid, reviewers)
        await eventually(lambda: _is(http, system, sid, clerk, "published"), 30, "the item published")
        stats_url = f"{system.urls['stats']}/v1/stats?department=duplicates"

        async def both_counted():  # stats consumes on its own: wait for it before comparing
            figures = (await http.get(stats_url)).json()
            return figures if figures["published"]["total"] == 2 else None

        figures = await eventually(both_counted, 20, "both publications counted")
        deliveries = len((await http.get(f"{system.urls['sandbox']}/deliveries")).json()["items"])
        [approval] = await tap.wait_for("review.approved", sid)

        # The broker delivers the approval again, as at-least-once delivery may.
        message = aio_pika.Message(json.dumps(approval).encode(), content_type="application/json")
        await tap.exchange.publish(message, routing_key="review.approved")
        await tap.wait_for("review.approved", sid, count=2)
        await asyncio.sleep(3)  # give every service the time to (not) react
        assert len((await http.get(f"{system.urls['sandbox']}/deliveries")).json()["items"]) == deliveries
        assert (await http.get(stats_url)).json() == figures  # nothing counted twice, approvals included
        shown = (await http.get(f"{system.urls['ingest']}/v1/submissions/{sid}", headers=clerk)).json()
        assert shown["status"] == "published" and len(shown["publications"]) == 2


async def test_bad_requests_get_problem_details(system):
    clerk = await system.identities.department("office", "党政办")
    ingest = f"{system.urls['ingest']}/v1/submissions"
    async with httpx.AsyncClient(timeout=10) as http:
        for answer in (
            await http.post(ingest, json=item("无令牌")),
            await http.post(ingest, json=item("错令牌"), headers={"Authorization": "Bearer gk_not-a-token"}),
            await http.get(f"{system.urls['review']}/v1/reviews"),
        ):
            assert answer.status_code == 401
            assert answer.headers["content-type"].startswith("application/problem+json")
        malformed = await http.post(
            ingest, content=b"{broken", headers={**clerk, "Content-Type": "application/json"}
        )
        assert malformed.status_code == 400
        invalid = await http.post(ingest, json=item("", category="nonsense", channels=[]), headers=clerk)
        assert invalid.status_code == 422
        problem = invalid.json()
        assert invalid.headers["content-type"].startswith("application/problem+json")
        assert {"title", "category", "channels"} <= {e["field"] for e in problem["errors"]}
        assert "Traceback" not in invalid.text


async def test_the_sandbox_refuses_a_push_with_a_wrong_signature(system):
    body = json.dumps({"id": "forged", "title": "伪造"})
    forged = signed_headers(WRONG_SECRET, "forged-1", body, utcnow())
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.post(f"{system.urls['sandbox']}/items", content=body, headers=forged)
        assert answer.status_code == 401
        assert "forged" not in (await http.get(f"{system.urls['sandbox']}/items")).text


async def test_a_returned_item_is_revised_screened_again_and_published(system):
    clerk = await system.identities.department("office", "党政办")
    first, second = (
        await system.identities.reviewer("周审查", 1),
        await system.identities.reviewer("吴审核", 2),
    )
    draft = item("关于低保对象的公示", body="低保对象：张某，身份证号11010519491231002X。")
    async with httpx.AsyncClient(timeout=10) as http:
        sid = (await http.post(f"{system.urls['ingest']}/v1/submissions", json=draft, headers=clerk)).json()[
            "id"
        ]

        async def queued_for(headers):
            queue = (await http.get(f"{system.urls['review']}/v1/reviews", headers=headers)).json()["items"]
            return next((i for i in queue if i["submission_id"] == sid), None)

        waiting = await eventually(lambda: queued_for(first), 30, "the item at level 1")
        assert [f["rule"] for f in waiting["findings"]] == ["citizen-id"]
        back = {"decision": "return", "comment": "请删去身份证号后重新报送"}
        assert (
            await http.post(f"{system.urls['review']}/v1/reviews/{sid}/decisions", json=back, headers=first)
        ).status_code == 200
        await eventually(lambda: _is(http, system, sid, clerk, "returned"), 30, "the item returned")
        too_early = await http.put(f"{system.urls['ingest']}/v1/submissions/{sid}", json=draft, headers=first)
        assert too_early.status_code == 403  # reviewers do not revise

        revision = {**draft, "body": "低保对象：张某（已核实）。"}
        answer = await http.put(f"{system.urls['ingest']}/v1/submissions/{sid}", json=revision, headers=clerk)
        assert answer.status_code == 200 and answer.json()["status"] == "received"
        again = await eventually(lambda: queued_for(first), 30, "the revision at level 1 again")
        assert again["revision"] == 2 and again["findings"] == []
        assert (
            await http.put(f"{system.urls['ingest']}/v1/submissions/{sid}", json=revision, headers=clerk)
        ).status_code == 409  # only a returned item is revised

        # The person who returned it may decide the revision again at level 1; level 2 is someone else.
        await approve_at_every_level(http, system, sid, [first, second])
        await eventually(lambda: _is(http, system, sid, clerk, "published"), 30, "the revision published")
        page = (await http.get(f"{system.urls['publish']}/portal/items/{sid}")).text
        assert "已核实" in page and "11010519491231002X" not in page


async def test_a_platform_outage_loses_and_duplicates_nothing(system):
    """The platform stops (its process killed), items keep being approved, the platform comes
    back: each item reaches it exactly once, and the portal never waited."""
    clerk = await system.identities.department("office", "党政办")
    reviewers = [
        await system.identities.reviewer("停机审查", 1),
        await system.identities.reviewer("停机审核", 2),
    ]
    system.kill("sandbox")
    async with httpx.AsyncClient(timeout=10) as http:
        sids = []
        for n in range(3):
            answer = await http.post(
                f"{system.urls['ingest']}/v1/submissions", json=item(f"停机期间的通知{n}"), headers=clerk
            )
            sids.append(answer.json()["id"])
        for sid in sids:
            await approve_at_every_level(http, system, sid, reviewers)
        for sid in sids:  # the portal does not wait for the platform
            url = f"{system.urls['publish']}/portal/items/{sid}"
            await eventually(lambda url=url: _answers(http, url, 200), 30, "the portal page")
        await asyncio.sleep(10)  # the platform stays down while pushes are retried
        assert all([await status_of(http, system, sid, clerk) == "approved" for sid in sids])
        system.start("sandbox")
        for sid in sids:
            await eventually(
                lambda sid=sid: _is(http, system, sid, clerk, "published"), 120, f"{sid} published"
            )
        pushed = [p["id"] for p in (await http.get(f"{system.urls['sandbox']}/items")).json()["items"]]
        assert sorted(pushed) == sorted(sids)
        verdicts = [
            d["verdict"] for d in (await http.get(f"{system.urls['sandbox']}/deliveries")).json()["items"]
        ]
        assert verdicts == ["accepted"] * 3  # once each: nothing duplicated


async def _answers(http, url: str, status: int) -> bool:
    return (await http.get(url)).status_code == status


async def test_a_published_item_is_corrected_reviewed_again_and_updated_on_both_channels(system):
    clerk = await system.identities.department("corrections", "更正办")
    reviewers = [
        await system.identities.reviewer("更正审查", 1),
        await system.identities.reviewer("更正审核", 2),
    ]
    draft = item("关于春节值班安排的通知", body="值班电话：0376-1234567（办公室）。")
    ingest = f"{system.urls['ingest']}/v1/submissions"
    async with httpx.AsyncClient(timeout=10) as http:
        sid = (
            await http.post(ingest, json={**draft, "body": "值班时间：除夕至初七。"}, headers=clerk)
        ).json()["id"]
        await approve_at_every_level(http, system, sid, reviewers)
        await eventually(lambda: _is(http, system, sid, clerk, "published"), 30, "the item published")

        correction = {**draft, "body": "值班时间：除夕至初六。"}
        answer = await http.put(f"{ingest}/{sid}", json=correction, headers=clerk)
        assert answer.status_code == 200 and answer.json()["status"] == "received"
        await approve_at_every_level(http, system, sid, reviewers)

        async def corrected_everywhere():
            page = (await http.get(f"{system.urls['publish']}/portal/items/{sid}")).text
            pushed = [
                p
                for p in (await http.get(f"{system.urls['sandbox']}/items")).json()["items"]
                if p["id"] == sid
            ]
            return "初六" in page and pushed and "初六" in pushed[0]["body"]

        await eventually(corrected_everywhere, 30, "the correction on both channels")
        await eventually(lambda: _is(http, system, sid, clerk, "published"), 30, "the item published again")
        shown = (await http.get(f"{ingest}/{sid}", headers=clerk)).json()
        assert "第2稿（更正）" in [t["detail"] for t in shown["timeline"]]
        assert "初七" not in (await http.get(f"{system.urls['publish']}/portal/items/{sid}")).text

        stats = f"{system.urls['stats']}/v1/stats?department=corrections"

        async def counted():
            figures = (await http.get(stats)).json()
            return figures if sum(figures["published"]["corrected"].values()) == 2 else None

        figures = await eventually(counted, 20, "the correction counted")
        assert figures["published"]["corrected"] == {"platform": 1, "portal": 1}
        assert figures["submissions"]["approved"] == 1 and figures["published"]["items"] == 1
        assert figures["rates"]["accuracy"] == 0.0
