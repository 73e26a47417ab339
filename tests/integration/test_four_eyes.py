"""Four eyes against the real broker and database: keyed on the token's holder, never on the
display name, and held across the revisions of one item."""

import pytest

from services.review.app import build
from shared.auth import Principal, issue_token
from shared.domain import Role
from shared.events import SubmissionReceived, SubmissionReceivedData, SubmissionRevised, new_event
from tests.conftest import running
from tests.support import EventTap, eventually
from tests.unit.factories import content

pytestmark = pytest.mark.integration


async def queue_of(http, reviewer) -> list[str]:
    return [i["submission_id"] for i in (await http.get("/v1/reviews", headers=reviewer)).json()["items"]]


async def decide(http, sid: str, reviewer: dict, decision: str = "approve", **fields):
    return await http.post(
        f"/v1/reviews/{sid}/decisions", json={"decision": decision, **fields}, headers=reviewer
    )


async def test_four_eyes_holds_across_name_case_and_revisions(settings, identities):
    alice_1, alice_2 = await identities.reviewer("alice", 1), await identities.reviewer("Alice", 2)
    bob_2, carol_1 = await identities.reviewer("Bob", 2), await identities.reviewer("Carol", 1)
    sid = "four-eyes-1"
    async with EventTap(settings) as tap, running(build(settings)) as http:
        await tap.publish(
            new_event(SubmissionReceived, sid, "ingest", SubmissionReceivedData(content=content()))
        )
        await eventually(lambda: queue_of(http, alice_1), 20, "the item in the level-1 queue")
        assert (await decide(http, sid, alice_1)).status_code == 200
        assert sid not in await queue_of(http, alice_2)  # "Alice" is alice: not hers to decide
        twice = await decide(http, sid, alice_2)
        assert twice.status_code == 403 and twice.json()["title"] == "Same reviewer"
        back = await decide(http, sid, bob_2, "return", comment="请补充文号")
        assert back.json()["state"] == "returned"

        revision = SubmissionReceivedData(revision=2, content=content(title="关于选址的通知（修改稿）"))
        await tap.publish(new_event(SubmissionRevised, sid, "ingest", revision))
        await eventually(lambda: queue_of(http, carol_1), 20, "revision 2 in the level-1 queue")
        assert (await decide(http, sid, carol_1)).status_code == 200  # someone else at level 1
        assert sid not in await queue_of(http, alice_2)  # alice decided level 1 of revision 1
        across = await decide(http, sid, alice_2)
        assert across.status_code == 403 and "两级审核" in across.json()["detail"]
        done = await decide(http, sid, bob_2)  # bob decides level 2 again: his level
        assert done.json()["state"] == "approved"
        [approved] = await tap.wait_for("review.approved", sid)
        assert [a["reviewer"] for a in approved["data"]["approvals"]] == ["Carol", "Bob"]
        assert [a["reviewer_id"] for a in approved["data"]["approvals"]] == ["carol", "bob"]
        [returned] = await tap.wait_for("review.returned", sid)
        assert returned["data"]["reviewer_id"] == "bob"
        review = (await http.get(f"/v1/reviews/{sid}", headers=bob_2)).json()
        assert [d["reviewer_id"] for d in review["decisions"]] == ["carol", "bob"]


async def test_one_holder_under_two_names_is_one_person(settings, identities):
    async def reviewer(name: str, level: int, holder: str) -> dict:
        principal = Principal(name=name, role=Role.REVIEWER, level=level, holder=holder)
        return {"Authorization": f"Bearer {await identities._issue(lambda db: issue_token(db, principal))}"}

    first = await reviewer("张三", 1, "staff-0042")
    same = await reviewer("Zhang San", 2, "staff-0042")
    sid = "four-eyes-2"
    async with EventTap(settings) as tap, running(build(settings)) as http:
        await tap.publish(
            new_event(SubmissionReceived, sid, "ingest", SubmissionReceivedData(content=content()))
        )
        await eventually(lambda: queue_of(http, first), 20, "the item in the level-1 queue")
        assert (await decide(http, sid, first)).status_code == 200
        assert (await decide(http, sid, same)).status_code == 403
