from datetime import UTC, datetime

import pytest

from services.review.domain.decisions import (
    Decision,
    DecisionRefused,
    ReviewState,
    decide,
    withdrawn,
)
from tests.unit.factories import by, content, screened_item

NOW = datetime(2026, 11, 3, tzinfo=UTC)


def approve(comment: str = "同意") -> Decision:
    return Decision(decision="approve", comment=comment)


def test_a_marked_item_is_rejected_at_once_and_never_queued():
    task, event, _ = screened_item("s1", 1, content(title="机密★1年 选址意见"), levels=2)
    assert task.state == ReviewState.REJECTED
    assert event.type == "review.rejected"
    assert event.data.automatic and event.data.reason == "classified"
    assert event.data.findings


def test_an_ordinary_item_waits_at_level_one():
    task, event, _ = screened_item("s1", 1, content(), levels=2)
    assert (task.state, task.level) == (ReviewState.PENDING, 1)
    assert event.type == "review.queued" and event.data.level == 1


def test_two_levels_by_two_people_approve():
    task, _, _ = screened_item("s1", 1, content(), levels=2)
    task, queued, _ = decide(task, by("张三", 1), approve(), NOW)
    assert queued.type == "review.queued" and queued.data.level == 2
    task, approved, _ = decide(task, by("李四", 2), approve(), NOW)
    assert task.state == ReviewState.APPROVED
    assert approved.type == "review.approved"
    assert [(a.level, a.reviewer) for a in approved.data.approvals] == [(1, "张三"), (2, "李四")]


def test_one_person_never_decides_two_levels():
    task, _, _ = screened_item("s1", 1, content(), levels=2)
    task, _, _ = decide(task, by("张三", 1), approve(), NOW)
    with pytest.raises(DecisionRefused) as refused:
        decide(task, by("张三", 2), approve(), NOW)
    assert refused.value.status == 403


def test_a_reviewer_decides_only_at_the_level_the_item_waits_at():
    task, _, _ = screened_item("s1", 1, content(), levels=2)
    with pytest.raises(DecisionRefused) as refused:
        decide(task, by("李四", 2), approve(), NOW)
    assert refused.value.status == 403


def test_a_decided_item_takes_no_further_decision():
    task, _, _ = screened_item("s1", 1, content(), levels=1)
    task, _, _ = decide(task, by("张三", 1), approve(), NOW)
    with pytest.raises(DecisionRefused) as refused:
        decide(task, by("李四", 1), approve(), NOW)
    assert refused.value.status == 409


def test_rejection_needs_a_reason_and_other_needs_a_comment():
    with pytest.raises(ValueError):
        Decision(decision="reject")
    with pytest.raises(ValueError):
        Decision(decision="reject", reason="other")
    Decision(decision="reject", reason="other", comment="重复发布")


def test_return_needs_a_comment_and_announces_review_returned():
    task, _, _ = screened_item("s1", 1, content(), levels=2)
    task, event, _ = decide(task, by("张三", 1), Decision(decision="return", comment="请删除电话号码"), NOW)
    assert task.state == ReviewState.RETURNED and event.type == "review.returned"


def test_withdrawal_removes_a_pending_item_only():
    task, _, _ = screened_item("s1", 1, content(), levels=2)
    outcome = withdrawn(task, "finance", "内容有误", NOW, "w-1")
    assert outcome.task.state == ReviewState.WITHDRAWN
    assert (outcome.audit.actor, outcome.audit.action) == ("finance", "withdrawn")
    rejected, _, _ = screened_item("s2", 1, content(body="内部资料"), levels=2)
    assert withdrawn(rejected, "finance", "", NOW, "w-2") is None


def flagged_task():
    body = "联系人张三，电话13800138000，请按时参加。"
    task, _, _ = screened_item("s1", 1, content(body=body), levels=2)
    [flag] = task.findings
    return task, flag, body


def test_a_flag_must_be_redacted_or_accepted_before_approval():
    task, flag, _ = flagged_task()
    with pytest.raises(DecisionRefused) as refused:
        decide(task, by("张三", 1), approve(), NOW)
    assert refused.value.status == 422 and flag.id in refused.value.detail
    accepted = Decision(
        decision="approve", accepted_flags=[{"finding_id": flag.id, "reason": "公开的办公电话"}]
    )
    task, event, _ = decide(task, by("张三", 1), accepted, NOW)
    assert event.type == "review.queued"


def test_redactions_travel_with_the_approval_and_the_original_stays():
    task, flag, body = flagged_task()
    redaction = {"field": "body", "start": flag.start, "end": flag.end}
    task, _, _ = decide(task, by("张三", 1), Decision(decision="approve", redactions=[redaction]), NOW)
    task, approved, _ = decide(task, by("李四", 2), approve(), NOW)
    published = approved.data.content.body
    assert "13800138000" not in published and len(published) == len(body)
    assert published[flag.start : flag.end] == "■" * 11
    assert task.content.body == body  # the archive keeps the original
    assert [r.model_dump() for r in approved.data.redactions] == [redaction]


def test_a_redaction_outside_the_text_is_refused():
    task, _, body = flagged_task()
    bad = Decision(decision="approve", redactions=[{"field": "body", "start": 3, "end": len(body) + 5}])
    with pytest.raises(DecisionRefused) as refused:
        decide(task, by("张三", 1), bad, NOW)
    assert refused.value.status == 422
