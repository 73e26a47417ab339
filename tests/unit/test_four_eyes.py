"""Four eyes keyed on the reviewer's principal id and held across every revision of an item."""

from datetime import UTC, datetime

import pytest

from services.review.domain.decisions import (
    Decision,
    DecisionRefused,
    ReviewState,
    ReviewTask,
    decide,
    four_eyes_allow,
    revised,
)
from services.review.domain.screening import screen_content
from tests.unit.factories import by, content, screened_item

NOW = datetime(2026, 11, 3, tzinfo=UTC)
APPROVE = Decision(decision="approve")
RETURN = Decision(decision="return", comment="请补充文号")


def revision_of(task: ReviewTask, revision: int) -> ReviewTask:
    item = content(title=f"通知（第{revision}稿）")
    outcome = revised(task, revision, item, task.levels, screen_content(item))
    assert outcome is not None and outcome.task.state == ReviewState.PENDING
    return outcome.task


def test_a_display_name_in_another_case_is_the_same_person():
    task, _, _ = screened_item("s1", 1, content(), levels=2)
    task, _, _ = decide(task, by("alice", 1), APPROVE, NOW)
    with pytest.raises(DecisionRefused) as refused:
        decide(task, by("Alice", 2), APPROVE, NOW)
    assert refused.value.status == 403 and refused.value.title == "Same reviewer"


def test_one_holder_under_two_display_names_is_one_person():
    task, _, _ = screened_item("s1", 1, content(), levels=2)
    task, _, _ = decide(task, by("张三", 1, holder="staff-0042"), APPROVE, NOW)
    with pytest.raises(DecisionRefused):
        decide(task, by("Zhang San", 2, holder="staff-0042"), APPROVE, NOW)


def test_two_people_with_one_display_name_are_two_when_their_holders_differ():
    task, _, _ = screened_item("s1", 1, content(), levels=2)
    task, _, _ = decide(task, by("王芳", 1, holder="staff-1"), APPROVE, NOW)
    task, event, _ = decide(task, by("王芳", 2, holder="staff-2"), APPROVE, NOW)
    assert task.state == ReviewState.APPROVED and event.type == "review.approved"


def test_level_one_of_one_revision_and_level_two_of_the_next_is_refused():
    task, _, _ = screened_item("s1", 1, content(), levels=2)
    task, _, _ = decide(task, by("张三", 1), APPROVE, NOW)
    task, _, _ = decide(task, by("李四", 2), RETURN, NOW)  # back to the department
    task = revision_of(task, 2)
    assert task.decisions == [] and task.level == 1  # the revision starts over at level 1 …
    task, _, _ = decide(task, by("王五", 1), APPROVE, NOW)
    assert not four_eyes_allow(task, "张三", 2)  # … but 张三 decided level 1 of this item
    with pytest.raises(DecisionRefused):
        decide(task, by("张三", 2), APPROVE, NOW)
    task, event, _ = decide(task, by("李四", 2), APPROVE, NOW)  # 李四 decides level 2 again: fine
    assert event.type == "review.approved"


def test_level_two_of_one_revision_bars_level_one_of_the_next():
    task, _, _ = screened_item("s1", 1, content(), levels=2)
    task, _, _ = decide(task, by("张三", 1), APPROVE, NOW)
    task, _, _ = decide(task, by("李四", 2), RETURN, NOW)
    task = revision_of(task, 2)
    with pytest.raises(DecisionRefused):
        decide(task, by("李四", 1), APPROVE, NOW)
    task, _, _ = decide(task, by("张三", 1), APPROVE, NOW)  # the same level again: their job


def test_a_correction_of_an_approved_item_keeps_its_deciders():
    task, _, _ = screened_item("s1", 1, content(), levels=2)
    task, _, _ = decide(task, by("张三", 1), APPROVE, NOW)
    task, _, _ = decide(task, by("李四", 2), APPROVE, NOW)
    task = revision_of(task, 2)  # a correction (PUT) of the published item
    task, _, _ = decide(task, by("ALICE", 1), APPROVE, NOW)
    with pytest.raises(DecisionRefused):
        decide(task, by("张三", 2), APPROVE, NOW)
    assert {(d.holder, d.level) for d in task.deciders} == {("张三", 1), ("李四", 2), ("alice", 1)}


def test_tasks_stored_before_deciders_existed_know_theirs_from_their_decisions():
    task, _, _ = screened_item("s1", 1, content(), levels=2)
    task, _, _ = decide(task, by("Alice", 1), APPROVE, NOW)
    stored = task.model_dump(mode="json", exclude={"deciders"})
    for decision in stored["decisions"]:
        del decision["reviewer_id"]  # as written before principal ids
    legacy = ReviewTask.model_validate(stored)
    assert [(d.holder, d.level) for d in legacy.deciders] == [("alice", 1)]
    with pytest.raises(DecisionRefused):
        decide(legacy, by("alice", 2), APPROVE, NOW)
