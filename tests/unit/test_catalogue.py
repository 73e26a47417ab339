"""The catalogue (政府信息公开目录, DOMAIN.md): what every item carries, validated at submission;
only 主动公开 goes online; 索引号 as the settings write it."""

import hashlib
import json
from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from services.ingest.app import build as ingest
from services.ingest.domain import SubmissionDraft
from services.publish.domain import Publication, Step, attempt_of, goes_online, index_year, withdrawal_wanted
from services.publish.items import resource_of
from services.publish.portal import validity_text
from shared.domain import (
    CATEGORY_CODES,
    THEME_LABELS,
    THEME_OF_CATEGORY,
    Category,
    ChannelState,
    Disclosure,
    Theme,
)
from shared.events import ItemContent, ReviewApproved, ReviewApprovedData, new_event
from shared.settings import Settings
from tests.unit.factories import approval, content

NOW = datetime(2026, 12, 1, 4, tzinfo=UTC)
CATALOGUE_FIELDS = {"disclosure", "disclosure_ground", "theme", "validity", "keywords", "summary"}
DRAFT = {
    "title": "关于调整城乡居民最低生活保障标准的通知",
    "body": "各村（社区）：……",
    "category": "regulation",
    "channels": ["portal"],
    "formed_on": "2026-11-02",
}


def draft(**fields) -> SubmissionDraft:
    return SubmissionDraft.model_validate({**DRAFT, **fields}, context={"now": NOW})


def refused_field(**fields) -> tuple[str, str]:
    with pytest.raises(ValidationError) as refused:
        draft(**fields)
    [error] = refused.value.errors()
    return ".".join(str(part) for part in error["loc"]), error["msg"]


def test_an_item_is_proactive_unless_marked_and_any_other_mark_needs_its_legal_ground():
    assert draft().disclosure == Disclosure.PROACTIVE and draft().disclosure_ground is None
    for disclosure in ("on_request", "withheld"):
        field, message = refused_field(disclosure=disclosure)
        assert field == "disclosure_ground" and "legal ground" in message
        assert refused_field(disclosure=disclosure, disclosure_ground="  ")[0] == "disclosure_ground"
    marked = draft(disclosure="withheld", disclosure_ground="《中华人民共和国政府信息公开条例》第十六条")
    assert marked.disclosure == Disclosure.WITHHELD
    assert refused_field(disclosure="secret")[0] == "disclosure"


def test_the_theme_is_the_state_councils_list_and_defaults_to_the_categorys_usual_one():
    assert len(Theme) == 21 and set(THEME_LABELS) == set(Theme)
    assert THEME_LABELS[Theme.FINANCE] == "财政、金融、审计"
    assert set(THEME_OF_CATEGORY) == set(Category)
    assert draft(category="budget").theme == Theme.FINANCE
    assert draft(theme="agriculture").theme == Theme.AGRICULTURE
    assert refused_field(theme="sports")[0] == "theme"


def test_validity_belongs_to_regulation_items_and_its_dates_must_fit_its_status():
    assert refused_field(category="notice", validity={"status": "valid"})[0] == "validity"
    assert refused_field(validity={"status": "expired"})[0] == "validity.expires_on"
    assert refused_field(validity={"status": "repealed"})[0] == "validity.repealed_on"
    assert (
        refused_field(validity={"status": "valid", "repealed_on": "2026-11-01"})[0] == "validity.repealed_on"
    )
    backwards = {"status": "expired", "effective_from": "2026-01-01", "expires_on": "2025-12-31"}
    field, message = refused_field(validity=backwards)
    assert field == "validity.expires_on" and "2026-01-01" in message
    assert refused_field(validity={"status": "unknown"})[0] == "validity.status"
    repealed = draft(
        validity={"status": "repealed", "effective_from": "2020-01-01", "repealed_on": "2026-11-02"}
    )
    assert repealed.validity.repealed_on == date(2026, 11, 2)


def test_a_normative_document_named_without_validity_gets_one_from_its_action():
    issued = draft(regulatory_document={"kind": "normative", "action": "issued"})
    assert issued.validity.status == "valid" and issued.validity.effective_from == date(2026, 11, 2)
    repeal = draft(regulatory_document={"kind": "normative", "action": "repealed"})
    assert repeal.validity.status == "repealed" and repeal.validity.repealed_on == date(2026, 11, 2)
    assert draft().validity is None


def test_keywords_and_summary_are_bounded():
    assert draft(keywords=["低保", "救助"], summary="调整标准。").keywords == ["低保", "救助"]
    assert refused_field(keywords=["低保", "低保"])[0] == "keywords"
    assert refused_field(keywords=["字" * 21])[0] == "keywords.0"
    assert refused_field(keywords=[str(n) for n in range(11)])[0] == "keywords"
    assert refused_field(summary="字" * 501)[0] == "summary"


def test_an_event_from_before_the_catalogue_still_parses_as_proactive():
    old = content().model_dump(mode="json")
    for field in (
        "disclosure",
        "disclosure_ground",
        "theme",
        "validity",
        "keywords",
        "summary",
        "index_number",
    ):
        old.pop(field)
    parsed = ItemContent.model_validate(old)
    assert parsed.disclosure == Disclosure.PROACTIVE and parsed.theme is None and parsed.index_number is None


def test_the_openapi_schema_states_the_rules_it_can():
    schema = ingest(Settings(namespace="openapi")).openapi()["components"]["schemas"]["SubmissionDraft"]
    grounded = [rule for rule in schema["allOf"] if "disclosure" in rule["if"]["properties"]]
    assert grounded == [
        {
            "if": {
                "properties": {"disclosure": {"enum": ["on_request", "withheld"]}},
                "required": ["disclosure"],
            },
            "then": {
                "properties": {"disclosure_ground": {"type": "string", "minLength": 1}},
                "required": ["disclosure_ground"],
            },
        }
    ]
    not_regulation = next(
        r for r in schema["allOf"] if "regulation" not in r["if"]["properties"]["category"]["enum"]
    )
    assert not_regulation["then"]["properties"]["validity"] == {"type": "null"}
    assert schema["properties"]["keywords"]["maxItems"] == 10


def publication(**overrides) -> Publication:
    return Publication(
        submission_id="c-1", channel="portal", content=content(**overrides), next_attempt_at=NOW
    )


def test_publish_never_pushes_an_item_that_is_not_proactive():
    assert goes_online(content())
    for disclosure in ("on_request", "withheld"):
        held = publication(disclosure=disclosure, disclosure_ground="第十六条")
        assert not goes_online(held.content)
        assert held.next_step is None and attempt_of(held) is None and not held.due
        live = held.model_copy(update={"state": ChannelState.LIVE, "live_revision": 1})
        assert live.next_step is None  # not even an update of what is shown
        # …but a withdrawal still reaches a channel that shows it (a correction marked it so).
        assert withdrawal_wanted(live, NOW).next_step == Step.WITHDRAW
    assert publication().next_step == Step.PUBLISH


def test_index_numbers_follow_the_settings_and_count_in_chinas_year():
    settings = Settings(organisation_code="11440300MB2C92345X")
    assert (
        settings.index_number(CATEGORY_CODES[Category.ORGANIZATION], 2026, 1)
        == "11440300MB2C92345X-01-2026-0001"
    )
    assert CATEGORY_CODES[Category.OTHER] == 19
    assert index_year(datetime(2026, 12, 31, 17, tzinfo=UTC)) == 2027  # 01:00 on 1 January in China
    custom = Settings(index_number_format="{organisation}/{year}-{category:02d}{serial:05d}")
    assert custom.index_number(7, 2026, 12) == "000000000000000000/2026-0700012"
    for bad in ("{organisation}-{year}", "{organisation}-{category}-{year}-{serial}-{x}", "{serial:d"):
        with pytest.raises(ValidationError):
            Settings(index_number_format=bad)


def test_the_item_resource_carries_the_catalogue():
    item = content(
        category="regulation",
        theme="civil_affairs",
        keywords=("低保",),
        summary="提高低保标准。",
        validity={"status": "valid", "effective_from": "2026-12-01"},
        index_number="11440300MB2C92345X-02-2026-0001",
        document_number="南府〔2026〕3号",
    )
    at = "2026-12-01T02:00:00+00:00"
    doc = {
        "_id": "c-1",
        "state": "published",
        "revision": 1,
        "first_published_at": at,
        "updated_at": at,
        "channels": {
            "portal": {"url": "https://x/portal/items/c-1", "revision": 1, "live": True, "published_at": at}
        },
        "content": item.model_dump(mode="json"),
    }
    resource = resource_of(doc, "https://files").model_dump(mode="json")
    assert resource["index_number"] == "11440300MB2C92345X-02-2026-0001"
    assert (resource["theme"], resource["theme_label"]) == ("civil_affairs", "民政、扶贫、救灾")
    assert resource["keywords"] == ["低保"] and resource["summary"] == "提高低保标准。"
    assert resource["validity"]["status_label"] == "有效"
    gone = resource_of({**doc, "state": "withdrawn", "withdrawn_at": at}, "https://files")
    assert gone.index_number == "11440300MB2C92345X-02-2026-0001"  # kept across withdrawal


def test_the_index_table_writes_validity_with_its_day():
    assert validity_text(None) is None
    assert validity_text({"status": "valid", "effective_from": "2026-12-01"}) == "有效（2026-12-01起施行）"
    assert validity_text({"status": "repealed", "repealed_on": "2027-01-05"}) == "废止（2027-01-05）"


def test_an_approval_of_a_withheld_item_is_still_a_valid_approval():
    data = ReviewApprovedData(
        revision=1,
        content=content(disclosure="withheld", disclosure_ground="第十四条"),
        approvals=(approval(1, "a"), approval(2, "b")),
    )
    assert data.content.disclosure == Disclosure.WITHHELD


def test_an_idempotency_key_used_before_the_catalogue_still_matches_its_body():
    from services.ingest.handlers import _fingerprint

    plain = draft(category="notice")
    legacy = hashlib.sha256(
        json.dumps(
            {k: v for k, v in plain.model_dump(mode="json").items() if k not in CATALOGUE_FIELDS},
            sort_keys=True,
        ).encode()
    ).hexdigest()
    assert _fingerprint(plain) == legacy
    assert _fingerprint(draft(category="notice", theme="general_affairs")) == legacy  # what it implied
    assert _fingerprint(draft(category="notice", theme="finance")) != legacy
    assert _fingerprint(draft(category="notice", keywords=["通知"])) != legacy


def test_an_approved_item_not_disclosed_proactively_counts_as_approved_and_not_against_the_rate():
    from services.stats.domain import tally

    def approved_event(sid: str, **fields):
        data = ReviewApprovedData(
            revision=1, content=content(**fields), approvals=(approval(1, "a"), approval(2, "b"))
        )
        return new_event(ReviewApproved, sid, "review", data)

    held = tally(approved_event("h-1", disclosure="on_request", disclosure_ground="第二十七条"))
    proactive = tally(approved_event("p-1"))
    [held_counts] = {f.counts.get("submissions.held") for f in held.firsts.values()}
    assert held_counts == 1
    assert all("submissions.held" not in f.counts for f in proactive.firsts.values())
    assert all(
        f.counts["submissions.approved"] == 1 for f in [*held.firsts.values(), *proactive.firsts.values()]
    )
    from services.stats.domain import RateRules, Scope, figures

    counters = {
        "published": {"total": 3, "items": 2, "by_channel": {"platform": 2, "portal": 1}},
        "submissions": {"approved": 4, "received": 8, "held": 2},
    }
    f = figures(Scope(2026), counters)
    assert f.submissions.held == 2 and f.rates.disclosure == 1.0  # 2 published of the 2 meant to be
    assert figures(Scope(2026), counters, RateRules(disclosure_base="received")).rates.disclosure == 0.3333


def test_ingest_says_in_the_timeline_that_an_approved_item_not_proactive_stays_offline():
    from services.ingest.domain import Submission, project, status_of

    fresh = Submission(id="s1", department="office", status="received", stage="received", channels=["portal"])
    data = ReviewApprovedData(
        revision=1,
        content=content(disclosure="on_request", disclosure_ground="第二十七条"),
        approvals=(approval(1, "a"), approval(2, "b")),
    )
    after = project(fresh, new_event(ReviewApproved, "s1", "review", data))
    assert status_of(after) == "approved"
    assert after.timeline[-1].detail == "依申请公开：登记备查，不上网发布"
