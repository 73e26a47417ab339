"""Plain builders of domain objects for unit tests."""

from datetime import UTC, date, datetime

from services.review.domain.decisions import Reviewer, screened
from services.review.domain.screening import screen_content
from shared.domain import holder_of
from shared.events import Approval, ItemContent


def content(**overrides) -> ItemContent:
    fields = {
        "title": "关于开展秋季森林防火工作的通知",
        "body": "各村（社区）：现将有关事项通知如下。",
        "category": "notice",
        "channels": ("platform", "portal"),
        "formed_on": date(2026, 11, 2),
        "department": "office",
        "department_name": "党政办",
    }
    return ItemContent(**{**fields, **overrides})


def approval(level: int, reviewer: str) -> Approval:
    return Approval(level=level, reviewer=reviewer, decided_at=datetime(2026, 11, 3, tzinfo=UTC))


def screened_item(submission_id: str, revision: int, item: ItemContent, levels: int):
    """A task as review makes it: the item screened, then queued or rejected."""
    return screened(submission_id, revision, item, levels, screen_content(item))


def by(name: str, level: int, holder: str | None = None) -> Reviewer:
    """A reviewer deciding at `level`; their principal id from `holder`, else from the name."""
    return Reviewer(id=holder_of(holder or name), name=name, level=level)
