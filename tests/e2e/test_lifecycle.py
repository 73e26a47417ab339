"""Issue 11's lifecycle bugs, tried from outside against every service as a process: a rejected
correction, an update that fails for good, and files that were never approved."""

import httpx
import pytest

from shared.events import PublicationFailed, PublicationFailedData, new_event
from tests.documents import pdf
from tests.e2e.test_attachments import upload
from tests.e2e.test_pipeline import _is, approve_at_every_level, item
from tests.support import EventTap, eventually

pytestmark = pytest.mark.e2e


async def _reviewers(system, tag: str) -> list[dict]:
    return [
        await system.identities.reviewer(f"{tag}审查", 1),
        await system.identities.reviewer(f"{tag}审核", 2),
    ]


async def _queued_for(http, system, sid: str, reviewer: dict) -> bool:
    queue = (await http.get(f"{system.urls['review']}/v1/reviews", headers=reviewer)).json()["items"]
    return any(i["submission_id"] == sid for i in queue)


async def _on_platform(http, system, sid: str) -> dict | None:
    items = (await http.get(f"{system.urls['sandbox']}/items")).json()["items"]
    return next((i for i in items if i["id"] == sid), None)


async def _taken_down_everywhere(http, system, sid: str) -> bool:
    portal = await http.get(f"{system.urls['publish']}/portal/items/{sid}")
    return portal.status_code == 410 and await _on_platform(http, system, sid) is None


async def _published(http, system, clerk: dict, reviewers: list[dict], draft: dict) -> str:
    ingest = f"{system.urls['ingest']}/v1/submissions"
    sid = (await http.post(ingest, json=draft, headers=clerk)).json()["id"]
    await approve_at_every_level(http, system, sid, reviewers)
    await eventually(lambda: _is(http, system, sid, clerk, "published"), 30, "the item published")
    return sid


async def test_a_rejected_correction_leaves_the_item_online_correctable_and_withdrawable(system):
    clerk = await system.identities.department("lifecycle", "生命周期办")
    first, second = await _reviewers(system, "驳回更正")
    ingest = f"{system.urls['ingest']}/v1/submissions"
    draft = item("关于村级公益事业一事一议的公示", body="筹资标准：每人每年15元。")
    async with httpx.AsyncClient(timeout=10) as http:
        sid = await _published(http, system, clerk, [first, second], draft)

        correction = {**draft, "body": "筹资标准：每人每年20元。"}
        assert (await http.put(f"{ingest}/{sid}", json=correction, headers=clerk)).status_code == 200
        await eventually(lambda: _queued_for(http, system, sid, first), 30, "the correction at level 1")
        refusal = {"decision": "reject", "reason": "inaccurate", "comment": "标准未经村民代表会议通过"}
        answer = await http.post(
            f"{system.urls['review']}/v1/reviews/{sid}/decisions", json=refusal, headers=first
        )
        assert answer.status_code == 200, answer.text

        async def rejection_recorded():
            shown = (await http.get(f"{ingest}/{sid}", headers=clerk)).json()
            return shown if shown["review"].get("correction_rejected") else None

        shown = await eventually(rejection_recorded, 30, "the correction's rejection recorded")
        assert shown["status"] == "published"  # the approved revision stays online
        assert shown["review"]["revision"] == 2 and shown["review"]["live_revision"] == 1
        assert {(p["channel"], p["state"], p["revision"]) for p in shown["publications"]} == {
            ("platform", "live", 1),
            ("portal", "live", 1),
        }
        assert "15元" in (await http.get(f"{system.urls['publish']}/portal/items/{sid}")).text
        assert "15元" in (await _on_platform(http, system, sid))["body"]

        # A correction leaving out a channel that shows the item would leave the old text there.
        narrower = await http.put(f"{ingest}/{sid}", json={**draft, "channels": ["portal"]}, headers=clerk)
        assert narrower.status_code == 422 and narrower.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in narrower.json()["errors"]] == ["channels"]

        # A further correction is taken up and reviewed again.
        again = {**draft, "body": "筹资标准：每人每年18元。"}
        answer = await http.put(f"{ingest}/{sid}", json=again, headers=clerk)
        assert answer.status_code == 200 and answer.json()["status"] == "received", answer.text
        await eventually(lambda: _queued_for(http, system, sid, first), 30, "the third revision at level 1")

        # Withdrawn while that correction waits: off both channels, whatever review does next.
        answer = await http.post(f"{ingest}/{sid}/withdraw", json={"reason": "重新研究"}, headers=clerk)
        assert answer.status_code == 200 and answer.json()["status"] == "withdrawn", answer.text
        await eventually(lambda: _taken_down_everywhere(http, system, sid), 30, "the item off both channels")

        async def both_gone():
            shown = (await http.get(f"{ingest}/{sid}", headers=clerk)).json()
            return {p["state"] for p in shown["publications"]} == {"gone"}

        await eventually(both_gone, 30, "ingest seeing both channels gone")
        assert (await http.post(f"{ingest}/{sid}/withdraw", headers=clerk)).status_code == 409


async def test_an_update_that_fails_for_good_leaves_the_old_revision_which_a_withdrawal_takes_down(system):
    clerk = await system.identities.department("lifecycle", "生命周期办")
    operator = await system.identities.operator("生命周期运维")
    reviewers = await _reviewers(system, "更新失败")
    ingest = f"{system.urls['ingest']}/v1/submissions"
    sandbox = system.urls["sandbox"]
    draft = item("关于农村宅基地申请审批的公告", body="受理时间：工作日上午。")
    async with EventTap(system.settings, "publication.*") as tap, httpx.AsyncClient(timeout=10) as http:
        sid = await _published(http, system, clerk, reviewers, draft)

        correction = {**draft, "body": "受理时间：工作日全天。"}
        assert (await http.put(f"{ingest}/{sid}", json=correction, headers=clerk)).status_code == 200
        await eventually(lambda: _queued_for(http, system, sid, reviewers[0]), 30, "the correction queued")

        # A late or replayed publication.failed of the first revision (as older producers wrote it,
        # without a sequence) must not move the correction still in review anywhere.
        stale = PublicationFailedData(channel="platform", attempts=6, error="old", revision=1)
        await tap.publish(new_event(PublicationFailed, sid, "publish", stale))
        await tap.wait_for("publication.failed", sid)

        async def stale_event_seen():
            shown = (await http.get(f"{ingest}/{sid}", headers=clerk)).json()
            return shown if any(t["event"] == "publication.failed" for t in shown["timeline"]) else None

        shown = await eventually(stale_event_seen, 30, "ingest taking in the stale event")
        assert shown["status"] in ("received", "in_review")  # not published, not failed
        assert {p["state"] for p in shown["publications"]} == {"live"}  # still on both channels

        # The platform refuses the correction's update for good (a client error is not retried).
        await http.put(f"{sandbox}/behaviour", json={"fail_status": 400, "fail_count": 1})
        await approve_at_every_level(http, system, sid, reviewers)
        failed = await tap.wait_for("publication.failed", sid, count=2)
        given_up = failed[-1]["data"]
        assert (given_up["channel"], given_up["revision"], given_up["live_revision"]) == ("platform", 2, 1)

        async def as_the_channels_are():
            shown = (await http.get(f"{ingest}/{sid}", headers=clerk)).json()
            states = {p["channel"]: (p["state"], p["revision"]) for p in shown["publications"]}
            return shown["status"] == "failed" and states == {
                "platform": ("live_stale", 1),
                "portal": ("live", 2),
            }

        await eventually(as_the_channels_are, 30, "the platform live but stale, the portal corrected")
        assert "上午" in (await _on_platform(http, system, sid))["body"]  # still online, old text

        answer = await http.post(f"{ingest}/{sid}/withdraw", json={"reason": "停止受理"}, headers=operator)
        assert answer.status_code == 200, answer.text
        await eventually(lambda: _taken_down_everywhere(http, system, sid), 30, "the item off both channels")
        deliveries = (await http.get(f"{sandbox}/deliveries")).json()["items"]
        deletes = [d for d in deliveries if d["method"] == "DELETE" and d["path"] == f"/items/{sid}"]
        assert [d["verdict"] for d in deletes] == ["accepted"]
        withdrawn = await tap.wait_for("publication.withdrawn", sid, count=2)
        assert {e["data"]["channel"] for e in withdrawn} == {"platform", "portal"}


async def test_files_are_public_only_while_a_revision_carrying_them_is_live(system):
    clerk = await system.identities.department("lifecycle", "生命周期办")
    first, second = await _reviewers(system, "附件生命")
    ingest = system.urls["ingest"]
    async with httpx.AsyncClient(timeout=10) as http:

        async def public(attachment: dict) -> bool:
            answer = await http.get(f"{ingest}/v1/attachments/{attachment['id']}")  # anyone, no token
            assert answer.status_code in (200, 404), answer.text
            return answer.status_code == 200

        kept = await upload(http, system, clerk, "收费标准.pdf", pdf("二〇二六年收费标准"))
        draft = item("关于公布收费标准的通知", attachments=[kept["id"]])
        sid = await _published(http, system, clerk, [first, second], draft)
        assert await public(kept)

        # A correction's new file waits for the correction's approval.
        added = await upload(http, system, clerk, "补充说明.pdf", pdf("补充说明"))
        correction = {**draft, "body": "补充说明见附件二。", "attachments": [kept["id"], added["id"]]}
        assert (
            await http.put(f"{ingest}/v1/submissions/{sid}", json=correction, headers=clerk)
        ).status_code == 200
        assert await public(kept) and not await public(added)

        # A file named in a PUT that is refused (the correction is in review) is bound to nothing.
        refused = await upload(http, system, clerk, "不应公开.pdf", pdf("不应公开"))
        late = {**correction, "attachments": [refused["id"]]}
        answer = await http.put(f"{ingest}/v1/submissions/{sid}", json=late, headers=clerk)
        assert answer.status_code == 409 and answer.headers["content-type"] == "application/problem+json"
        assert not await public(refused)

        # Returned, the clerk removes the added file; the approved revision never carried it.
        await eventually(lambda: _queued_for(http, system, sid, first), 30, "the correction queued")
        back = {"decision": "return", "comment": "附件二不宜公开"}
        answer = await http.post(
            f"{system.urls['review']}/v1/reviews/{sid}/decisions", json=back, headers=first
        )
        assert answer.status_code == 200, answer.text
        await eventually(lambda: _is(http, system, sid, clerk, "returned"), 30, "the correction returned")
        assert not await public(added)
        without = {**correction, "attachments": [kept["id"]]}
        assert (
            await http.put(f"{ingest}/v1/submissions/{sid}", json=without, headers=clerk)
        ).status_code == 200
        await approve_at_every_level(http, system, sid, [first, second])

        async def corrected_everywhere():
            shown = (await http.get(f"{ingest}/v1/submissions/{sid}", headers=clerk)).json()
            return {(p["state"], p["revision"]) for p in shown["publications"]} == {("live", 3)}

        await eventually(corrected_everywhere, 30, "the third revision on both channels")
        assert await public(kept) and not await public(added) and not await public(refused)
        assert (await http.get(f"{ingest}/v1/attachments/{added['id']}", headers=clerk)).status_code == 200

        assert (await http.post(f"{ingest}/v1/submissions/{sid}/withdraw", headers=clerk)).status_code == 200
        assert not await public(kept)  # withdrawn: nothing of it is public any more
