"""Stats against the real broker and database: every event counted once."""

import asyncio
import io
import json
import random
from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import httpx
import pytest
from docx import Document
from prometheus_client import REGISTRY

from services.stats.app import DOCX, build
from services.stats.domain import Aggregate, Scope, aggregate, figures, nested, tally
from services.stats.store import ReportFinal, StatsStore
from shared.events import (
    Decisions,
    ItemSubject,
    PublicationPublished,
    PublicationPublishedData,
    PublicationUpdated,
    PublicationUpdatedData,
    PublicationWithdrawn,
    PublicationWithdrawnData,
    PublishedItem,
    RegulatoryDocument,
    ReviewRejected,
    ReviewRejectedData,
    SubmissionReceived,
    SubmissionReceivedData,
    new_event,
    utcnow,
)
from shared.mongo import connect, database_of
from tests.conftest import running
from tests.integration.conftest import site_for
from tests.support import EventTap, eventually, run_cli
from tests.unit.factories import content

pytestmark = pytest.mark.integration


def published(sid: str, channel: str):
    item = PublishedItem(
        title="t", category="budget", department="finance", department_name="财政所", formed_on=date.today()
    )
    data = PublicationPublishedData(channel=channel, url="u", remote_id=sid, published_at=utcnow(), item=item)
    return new_event(PublicationPublished, sid, "publish", data)


async def test_each_event_counts_once_even_when_delivered_twice(settings):
    events = [
        new_event(SubmissionReceived, "s-1", "ingest", SubmissionReceivedData(content=content())),
        new_event(SubmissionReceived, "s-2", "ingest", SubmissionReceivedData(content=content())),
        new_event(
            ReviewRejected,
            "s-2",
            "review",
            ReviewRejectedData(revision=1, automatic=True, reason="classified"),
        ),
        published("s-1", "platform"),
        published("s-1", "portal"),
    ]
    async with EventTap(settings) as tap, running(build(settings)) as http:
        for event in events + events:  # everything twice, concurrently in flight
            await tap.publish(event)

        async def settled():
            figures = (await http.get("/v1/stats")).json()
            return (
                figures if figures["published"]["total"] >= 2 and figures["review"]["auto_blocked"] else None
            )

        figures = await eventually(settled, 20, "the events to be counted")
        await eventually(lambda: True, 1)  # let any duplicate still in flight land
        figures = (await http.get("/v1/stats")).json()
        assert figures["published"]["total"] == 2
        assert figures["published"]["items"] == 1
        assert figures["published"]["by_channel"] == {"platform": 1, "portal": 1}
        assert figures["published"]["by_department"] == {"finance": 2}
        assert figures["submissions"]["received"] == 2
        assert figures["submissions"]["rejected"] == 1
        assert figures["review"]["auto_blocked"] == 1
        assert figures["timeliness"]["on_time"] == 1


async def test_large_events_arriving_together_are_all_counted(settings):
    """Twelve submissions of about 1.8 MB each arrive at once: together they are more than a
    MongoDB document holds, so they cannot be one batch, and none may be stuck or lost."""
    big = content(body="各村（社区）：" + "现将有关事项通知如下。" * 55_000)
    labels = {"service": "stats", "type": "submission.received", "outcome": "retried"}
    retried_before = REGISTRY.get_sample_value("gongkai_events_consumed_total", labels) or 0
    async with EventTap(settings) as tap, running(build(settings)) as http:
        for n in range(12):
            await tap.publish(
                new_event(SubmissionReceived, f"big-{n}", "ingest", SubmissionReceivedData(content=big))
            )

        async def counted():
            return (await http.get("/v1/stats")).json()["submissions"]["received"] == 12

        await eventually(counted, 120, "twelve large submissions counted")
    # Each counted at its first delivery: no batch failed for its size and sent them all back.
    assert (REGISTRY.get_sample_value("gongkai_events_consumed_total", labels) or 0) == retried_before


NARROWINGS = (
    f"month={date.today().month}",
    "department=finance",
    "category=budget",
    "department=finance&category=budget",
    "department=office",
)


async def test_a_rebuilt_year_equals_the_live_one_after_duplicates_and_disorder(settings):
    formed = date.today()
    events = [
        new_event(SubmissionReceived, f"s-{i}", "ingest", SubmissionReceivedData(content=content()))
        for i in range(3)
    ]
    events += [published(f"s-{i}", channel) for i in range(3) for channel in ("platform", "portal")]
    events.append(
        new_event(
            ReviewRejected,
            "s-9",
            "review",
            ReviewRejectedData(revision=1, automatic=True, reason="classified"),
        )
    )
    shuffled = events + events[::-1] + events[::2]  # duplicates, in other orders
    app = build(settings)
    async with EventTap(settings) as tap, running(app) as http:
        for event in shuffled:
            await tap.publish(event)

        async def settled():  # every event archived, and its batch counted
            archived = await app.state.store.events.count_documents({})
            figures = (await http.get("/v1/stats")).json()
            counted = (figures["submissions"]["received"], figures["published"]["total"])
            return archived == len(events) and counted == (3, 6) and figures["review"]["auto_blocked"] == 1

        await eventually(settled, 30, "every event counted")
        await asyncio.sleep(0.5)  # any duplicate still in flight
        live = (await http.get("/v1/stats")).json()

        narrowed = {q: (await http.get(f"/v1/stats?{q}")).json() for q in NARROWINGS}

    rebuilt = run_cli(settings, "stats", "rebuild")
    assert rebuilt.returncode == 0 and f"{formed.year}: 6 publications of 3 items rebuilt" in rebuilt.stdout
    async with running(build(settings)) as http:
        assert (await http.get("/v1/stats")).json() == live
        for query, figures in narrowed.items():
            assert (await http.get(f"/v1/stats?{query}")).json() == figures, query
    assert narrowed["department=finance&category=budget"]["published"]["total"] == 6
    assert live["published"]["total"] == 6 and live["published"]["items"] == 3
    assert live["submissions"]["received"] == 3 and live["review"]["auto_blocked"] == 1


async def test_figures_narrow_to_a_department_a_category_and_a_month(settings):
    events = [
        new_event(
            SubmissionReceived, "a", "ingest", SubmissionReceivedData(content=content(department="office"))
        ),
        new_event(
            SubmissionReceived, "b", "ingest", SubmissionReceivedData(content=content(department="finance"))
        ),
        new_event(
            ReviewRejected,
            "b",
            "review",
            ReviewRejectedData(
                revision=1,
                automatic=False,
                reason="privacy",
                subject=ItemSubject(category="notice", department="finance"),
            ),
        ),
        published("c", "portal"),
    ]
    async with EventTap(settings) as tap, running(build(settings)) as http:
        for event in events:
            await tap.publish(event)

        async def counted():
            return (await http.get("/v1/stats")).json()["published"]["total"] == 1 and (
                await http.get("/v1/stats?department=finance")
            ).json()["submissions"]["rejected"] == 1

        await eventually(counted, 20, "the events to be counted")
        finance = (await http.get("/v1/stats?department=finance")).json()
        office = (await http.get("/v1/stats?department=office&category=notice")).json()
        other_month = (await http.get(f"/v1/stats?month={date.today().month % 12 + 1}")).json()
        refused = await http.get("/v1/stats?department=$where")
    assert finance["submissions"] == {
        "received": 1,
        "approved": 0,
        "held": 0,
        "rejected": 1,
        "returned": 0,
        "withdrawn": 0,
    }
    assert finance["review"]["rejected_by_reason"] == {"privacy": 1}
    assert finance["published"]["by_channel"] == {"platform": 0, "portal": 1}
    assert office["submissions"]["received"] == 1 and office["published"]["total"] == 0
    assert other_month["submissions"]["received"] == 0
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "query.department"


async def test_report_text_that_no_word_file_can_hold_is_refused_naming_the_field(settings, identities):
    operator = await identities.operator()
    texts = {"problems_and_improvements": "一是\x00不足。", "organisation": " \t "}
    async with running(build(settings)) as http:
        refused = await http.put("/v1/reports/annual/2025/inputs", json=texts, headers=operator)
        assert refused.status_code == 422
        assert {e["field"] for e in refused.json()["errors"]} == set(texts)
        assert (await http.get("/v1/reports/annual/2025/inputs", headers=operator)).json()[
            "other_matters"
        ] == ""


async def test_report_inputs_breaking_a_check_rule_are_refused_naming_the_cell(settings, identities):
    operator = await identities.operator()
    clerk = await identities.department()
    broken = {
        "table_b": {
            "new_applications": {"natural_person": 2},
            "results": {"disclosed": {"natural_person": 1}},
        }
    }
    fine = {
        "organisation": "楠杆镇",
        "table_b": {
            "new_applications": {"natural_person": 2},
            "results": {"disclosed": {"natural_person": 1}},
            "carried_forward": {"natural_person": 1},
        },
        "other_matters": "无。",
    }
    async with running(build(settings)) as http:
        assert (await http.put("/v1/reports/annual/2025/inputs", json=fine, headers=clerk)).status_code == 403
        assert (await http.put("/v1/reports/annual/2025/inputs", json=fine)).status_code == 401
        refused = await http.put("/v1/reports/annual/2025/inputs", json=broken, headers=operator)
        assert refused.status_code == 422
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["errors"][0]["field"] == "table_b.carried_forward.natural_person"
        negative = await http.put(
            "/v1/reports/annual/2025/inputs",
            json={"table_c": {"reconsideration": {"upheld": -1}}},
            headers=operator,
        )
        assert (
            negative.status_code == 422
            and "table_c.reconsideration.upheld" in negative.json()["errors"][0]["field"]
        )
        assert (
            await http.put("/v1/reports/annual/2025/inputs", json=fine, headers=operator)
        ).status_code == 200
        assert (await http.get("/v1/reports/annual/2025/inputs", headers=operator)).json()[
            "organisation"
        ] == "楠杆镇"
        # 2026 carries nothing over although 2025 carried one application forward: refused, and
        # the report of a year whose inputs were never checked against last year's says so too.
        this_year = {
            "table_b": {
                "new_applications": {"natural_person": 1},
                "results": {"disclosed": {"natural_person": 1}},
            }
        }
        carried = await http.put("/v1/reports/annual/2026/inputs", json=this_year, headers=operator)
        assert carried.json()["errors"][0]["field"] == "table_b.carried_over.natural_person"
        report = await http.get("/v1/reports/annual?year=2026&format=md", headers=operator)
        assert report.status_code == 409
        report = await http.get("/v1/reports/annual?year=2025&format=md", headers=operator)
        assert report.status_code == 200 and report.headers["content-type"].startswith("text/markdown")
        assert "2025年，楠杆镇新收政府信息公开申请2件" in report.text


SEED_CSV = (
    "item_id,title,category,department,department_name,channel,published_at\n"
    + "".join(
        f"n{i},楠杆镇信息{i},{'village_affairs' if i % 3 else 'work_news'},nangan,楠杆镇,platform,2018-{1 + i % 12:02d}-{1 + i % 28:02d}\n"
        for i in range(372)
    )
    + "".join(
        f"n{i},楠杆镇信息{i},{'village_affairs' if i % 3 else 'work_news'},nangan,楠杆镇,portal,2018-{1 + i % 12:02d}-{1 + i % 28:02d}\n"
        for i in range(71)
    )
)


async def test_an_imported_seed_shaped_year_gives_the_seed_reports_figures(settings, identities, tmp_path):
    history = tmp_path / "nangan-2018.csv"
    history.write_text(SEED_CSV, encoding="utf-8")
    first = run_cli(settings, "import", str(history), "--json")
    again = run_cli(settings, "import", str(history), "--json")
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip().endswith('{"publications": 443, "imported": 443, "already_imported": 0}')
    assert again.stdout.strip().endswith('{"publications": 443, "imported": 0, "already_imported": 443}')
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "item_id,title,category,department,channel,published_at\nx,t,budget,nangan,fax,2018-01-01\n"
    )
    refused = run_cli(settings, "import", str(bad))
    assert refused.returncode == 3 and "row 1, channel" in refused.stderr

    operator = await identities.operator()
    async with running(build(settings)) as http:
        figures = (await http.get("/v1/stats?year=2018")).json()
        inputs = {"organisation": "楠杆镇"}
        assert (
            await http.put("/v1/reports/annual/2018/inputs", json=inputs, headers=operator)
        ).status_code == 200
        report = (await http.get("/v1/reports/annual?year=2018", headers=operator)).json()
        html = (await http.get("/v1/reports/annual?year=2018&format=html", headers=operator)).text
        word = await http.get("/v1/reports/annual?year=2018&format=docx", headers=operator)
        assert word.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument")
        assert word.content.startswith(b"PK") and ".docx" in word.headers["content-disposition"]
    assert figures["published"]["total"] == 443 and figures["published"]["items"] == 372
    assert figures["published"]["by_channel"] == {"platform": 372, "portal": 71}
    assert "共更新和发布信息443条，其中，在统一平台发布372条，政府门户网站发布71条" in report["overview"][0]
    assert report["applications_summary"] == "2018年，楠杆镇没有收到要求公开信息的申请。"
    assert "没有发生针对政府信息公开事务的行政复议案" in report["proceedings_summary"]
    assert all(v == 0 for v in report["table_b"]["new_applications"].values() if v is not None)
    assert "共更新和发布信息443条" in html and "<h2>三、收到和处理政府信息公开申请情况</h2>" in html


async def _listed_on(site: httpx.AsyncClient, year: int) -> bool:
    return f"/portal/reports/{year}" in (await site.get("/portal/reports")).text


def published_in(sid: str, day: date, **facts):
    """A publication on the portal at noon (China) of `day`, with the item's Table A facts."""
    item = PublishedItem(
        title="行政处罚决定公示",
        category="penalty",
        department="office",
        department_name="党政办",
        formed_on=day,
        **facts,
    )
    at = datetime(day.year, day.month, day.day, 4, tzinfo=UTC)
    data = PublicationPublishedData(channel="portal", url="u", remote_id=sid, published_at=at, item=item)
    return new_event(PublicationPublished, sid, "publish", data)


async def test_a_final_report_is_frozen_as_rendered_and_public(settings, identities):
    operator = await identities.operator()
    year = date.today().year - 1  # a year that is over
    inputs = {
        "organisation": "楠杆镇人民政府",
        "table_a": {"decisions": {"punishment": 12}},
        "other_matters": "无。",
    }
    base = f"/v1/reports/annual/{year}"
    app = build(settings)
    async with EventTap(settings) as tap, running(app) as http, site_for(settings) as (portal, *_):
        await tap.publish(published_in("p-1", date(year, 6, 1), decisions={"kind": "punishment", "count": 4}))

        async def counted(total: int):
            return (await http.get(f"/v1/stats?year={year}")).json()["published"]["total"] == total

        await eventually(lambda: counted(1), 20, "the publication counted")
        nameless = await http.get(f"/v1/reports/annual?year={year}", headers=operator)
        assert nameless.status_code == 409 and nameless.json()["errors"][0]["field"] == "organisation"
        assert (await http.put(f"{base}/inputs", json=inputs, headers=operator)).status_code == 200
        draft = (await http.get(f"/v1/reports/annual?year={year}", headers=operator)).json()
        assert draft["state"] == "draft" and draft["table_a"]["decisions"]["行政处罚"] == 12
        assert draft["table_a"]["decisions_counted"]["行政处罚"] == 4
        md = (await http.get(f"/v1/reports/annual?year={year}&format=md", headers=operator)).text
        assert md.startswith(f"# 楠杆镇人民政府{year}年政府信息公开工作年度报告") and "12（系统统计4）" in md

        # Section 五 unwritten: refused, naming it.
        refused = await http.post(f"{base}/final", headers=operator)
        assert refused.status_code == 409
        assert refused.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in refused.json()["errors"]] == ["problems_and_improvements"]
        assert (await http.get(f"{base}/final")).status_code == 404
        written = {**inputs, "problems_and_improvements": "一是公开内容不够丰富。\n二是“三率”有待提高。"}
        assert (await http.put(f"{base}/inputs", json=written, headers=operator)).status_code == 200
        assert (await http.post(f"{base}/final")).status_code == 401
        final = await http.post(f"{base}/final", headers=operator)
        assert final.status_code == 200 and final.json()["state"] == "final"
        assert (await http.post(f"{base}/final", headers=operator)).status_code == 409
        again = await http.put(f"{base}/inputs", json={**written, "other_matters": "改"}, headers=operator)
        assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"
        with pytest.raises(ReportFinal):  # the write itself refuses, whatever a replica read before
            await app.state.store.save_report_inputs(year, written)

        frozen = {f: (await http.get(f"{base}/final?format={f}")).content for f in ("md", "html", "docx")}
        # Later events of that year change its figures, never its final report.
        await tap.publish(published_in("p-2", date(year, 7, 1), decisions={"kind": "punishment", "count": 9}))
        await eventually(lambda: counted(2), 20, "the later publication counted")
        for f, body in frozen.items():
            assert (await http.get(f"{base}/final?format={f}")).content == body, f
        as_operator = (await http.get(f"/v1/reports/annual?year={year}", headers=operator)).json()
        assert as_operator["figures"]["published"]["total"] == 1 and as_operator["state"] == "final"
        listed = (await http.get("/v1/reports/published")).json()
        word = await http.get(f"{base}/final?format=docx")
        this_year = await http.post(f"/v1/reports/annual/{year + 1}/final", headers=operator)

        # The portal's 年报 page has it, exactly as frozen, from report.published alone.
        await tap.wait_for("report.published", f"report-{year}")
        async with httpx.AsyncClient(base_url=portal) as site:
            await eventually(lambda: _listed_on(site, year), 20, "the report on the 年报 page")
            for f, body in frozen.items():
                assert (await site.get(f"/portal/reports/{year}?format={f}")).content == body, f
            assert (await site.get(f"/portal/reports/{year + 1}")).status_code == 404

    assert listed["items"] == [
        {
            "year": year,
            "organisation": "楠杆镇人民政府",
            "title": f"楠杆镇人民政府{year}年政府信息公开工作年度报告",
            "finalised_at": listed["items"][0]["finalised_at"],
            "formats": {f: f"{base}/final?format={f}" for f in ("html", "docx", "md", "json")},
        }
    ]
    html = frozen["html"].decode()
    assert "草稿" not in html and "未填写" not in html and "一是公开内容不够丰富。" in html
    assert '<td class="n" colspan="3">12</td>' in html
    assert word.headers["content-type"].startswith(DOCX) and "max-age" in word.headers["cache-control"]
    section = Document(io.BytesIO(word.content)).sections[0]
    assert (round(section.page_width.mm), round(section.top_margin.mm)) == (210, 37)
    assert this_year.status_code == 409
    assert "year" in [e["field"] for e in this_year.json()["errors"]]


async def test_rows_the_office_cannot_have_are_refused_and_in_force_stays_at_zero_or_more(
    settings, identities
):
    operator = await identities.operator()
    year = date.today().year - 1
    base = f"/v1/reports/annual/{year}"
    async with EventTap(settings) as tap, running(build(settings)) as http:
        rule = await http.put(
            f"{base}/inputs",
            json={"organisation": "楠杆镇人民政府", "table_a": {"in_force_before_records": {"rule": 2}}},
            headers=operator,
        )
        assert rule.status_code == 422 and rule.headers["content-type"] == "application/problem+json"
        assert rule.json()["errors"][0]["field"] == "table_a.in_force_before_records.rule"
        assert "makes no 规章" in rule.json()["errors"][0]["reason"]
        repealed = RegulatoryDocument(kind="normative", action="repealed")
        await tap.publish(published_in("r-1", date(year, 3, 1), regulatory_document=repealed))
        await eventually(lambda: _documents(http, year), 20, "the repealed document counted")
        named = {"organisation": "楠杆镇人民政府"}
        below_zero = await http.put(f"{base}/inputs", json=named, headers=operator)
        assert below_zero.status_code == 422
        [error] = below_zero.json()["errors"]
        assert (
            error["field"] == "table_a.in_force_before_records.normative" and "at least 1" in error["reason"]
        )
        fixed = {**named, "table_a": {"in_force_before_records": {"normative": 5}}}
        assert (await http.put(f"{base}/inputs", json=fixed, headers=operator)).status_code == 200
        report = (await http.get(f"/v1/reports/annual?year={year}", headers=operator)).json()
    assert [(d["label"], d["in_force"]) for d in report["table_a"]["documents"]] == [
        ("规章", 0),
        ("行政规范性文件", 4),
    ]


async def _documents(http, year: int) -> bool:
    table_a = (await http.get(f"/v1/stats?year={year}")).json()["table_a"]
    return table_a["documents"].get("normative", {}).get("repealed") == 1


def on(sid: str, channel: str, at: datetime, formed_on: date, category: str = "budget", **facts):
    item = PublishedItem(
        title="t",
        category=category,
        department="finance",
        department_name="财政所",
        formed_on=formed_on,
        **facts,
    )
    data = PublicationPublishedData(channel=channel, url="u", remote_id=sid, published_at=at, item=item)
    return new_event(PublicationPublished, sid, "publish", data)


async def test_an_item_counts_once_in_the_year_of_its_first_publication_even_when_it_arrives_last(
    settings, identities
):
    """Issue 14's cross-year case: formed 2025-12-10, on the platform 2025-12-11, on the portal
    2026-01-20 — the portal's publication counted first, the platform's arriving after it."""
    normative = RegulatoryDocument(kind="normative", action="issued")
    formed = date(2025, 12, 10)
    portal = on(
        "r-1",
        "portal",
        datetime(2026, 1, 20, 2, tzinfo=UTC),
        formed,
        "regulation",
        regulatory_document=normative,
    )
    platform = on(
        "r-1",
        "platform",
        datetime(2025, 12, 11, 2, tzinfo=UTC),
        formed,
        "regulation",
        regulatory_document=normative,
    )
    operator = await identities.operator()
    app = build(settings.model_copy(update={"office_name": "楠杆镇人民政府"}))
    async with EventTap(settings) as tap, running(app) as http:
        await tap.publish(portal)

        async def counted_in_2026():
            figures = (await http.get("/v1/stats?year=2026")).json()
            return figures if figures["published"]["items"] == 1 else None

        before = await eventually(counted_in_2026, 20, "the portal's publication to be counted")
        assert before["timeliness"]["late"] == 1 and before["timeliness"]["by_working_days"] == {"28": 1}
        await tap.publish(platform)

        async def moved_to_2025():
            figures = (await http.get("/v1/stats?year=2025")).json()
            return figures if figures["published"]["items"] == 1 else None

        in_2025 = await eventually(moved_to_2025, 20, "the item to move to 2025")
        in_2026 = (await http.get("/v1/stats?year=2026")).json()
        assert (in_2025["published"]["total"], in_2025["timeliness"]["on_time"]) == (1, 1)
        assert in_2025["table_a"]["documents"] == {"normative": {"issued": 1}}
        assert (in_2026["published"]["total"], in_2026["published"]["items"]) == (1, 0)
        assert (in_2026["timeliness"]["on_time"], in_2026["timeliness"]["late"]) == (0, 0)
        assert in_2026["table_a"]["documents"] == {}
        assert (await http.get("/v1/stats?year=2026&month=1")).json()["published"]["items"] == 0
        report = (await http.get("/v1/reports/annual?year=2026&format=json", headers=operator)).json()
        rows = {row["label"]: row for row in report["table_a"]["documents"]}
        assert (rows["行政规范性文件"]["issued"], rows["行政规范性文件"]["in_force"]) == (0, 1)
        live = {year: (await http.get(f"/v1/stats?year={year}")).json() for year in (2025, 2026)}

    rebuilt = run_cli(settings, "stats", "rebuild", "--year", "2026")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "2026: 1 publications of 0 items rebuilt" in rebuilt.stdout
    async with running(build(settings)) as http:
        for year, figures in live.items():
            assert (await http.get(f"/v1/stats?year={year}")).json() == figures


def _random_year(rng: random.Random) -> list:
    """Items on one or both channels at random moments around a new year, some regulation items
    issuing a document, some licence items with decisions, some corrected, some withdrawn."""
    events = []
    start = datetime(2025, 12, 1, tzinfo=UTC)
    for i in range(12):
        sid, formed = f"p-{i}", date(2025, 11, 20) + timedelta(days=rng.randrange(25))
        category = rng.choice(["budget", "license", "regulation"])
        facts = {}
        if category == "regulation":
            facts["regulatory_document"] = RegulatoryDocument(kind="normative", action="issued")
        if category == "license":
            facts["decisions"] = Decisions(kind="license", count=rng.randrange(1, 5))
        for channel in rng.sample(["platform", "portal"], rng.randrange(1, 3)):
            at = start + timedelta(days=rng.randrange(60), hours=rng.randrange(24))
            events.append(on(sid, channel, at, formed, category, **facts))
        if rng.random() < 0.4:
            item = PublishedItem(
                title="t",
                category=category,
                department="finance",
                department_name="财政所",
                formed_on=date(2026, 1, 5),
                **facts,
            )
            for channel in ("platform", "portal"):
                at = datetime(2026, 1, 6, tzinfo=UTC) + timedelta(days=rng.randrange(20))
                data = PublicationUpdatedData(
                    channel=channel, url="u", remote_id=sid, updated_at=at, revision=2, item=item
                )
                events.append(new_event(PublicationUpdated, sid, "publish", data))
        elif rng.random() < 0.3:  # withdrawn: amended, counted where the item is published
            subject = ItemSubject(category=category, department="finance")
            at = datetime(2026, 2, 1, tzinfo=UTC) + timedelta(days=rng.randrange(20))
            data = PublicationWithdrawnData(channel="portal", withdrawn_at=at, subject=subject)
            events.append(new_event(PublicationWithdrawn, sid, "publish", data))
    return events


@pytest.mark.parametrize("seed", range(3))
async def test_the_store_counts_as_the_rebuild_whatever_the_order_and_however_many_replicas(settings, seed):
    """The live path (two stores on two clients, as two replicas, every event delivered twice and
    all at once, in a random order) gives the rebuild's figures (`Aggregate`, in archive order)."""
    rng = random.Random(seed)
    events = _random_year(rng)
    deliveries = events + events
    rng.shuffle(deliveries)
    clients = [connect(settings), connect(settings)]
    try:
        stores = [StatsStore(database_of(c, settings, "stats")) for c in clients]
        await stores[0].prepare()
        await asyncio.gather(*(stores[i % 2].record(e) for i, e in enumerate(deliveries)))
        expected = aggregate(events)
        scopes = {scope for scope in expected.counters}
        for scope in scopes:
            stored = await stores[0].counters_of(scope)
            assert figures(scope, stored) == figures(scope, nested(expected.counters[scope])), scope
        await stores[0].replace_counts(expected)
        for scope in scopes:
            assert figures(scope, await stores[1].counters_of(scope)) == figures(
                scope, nested(expected.counters[scope])
            )
    finally:
        for client in clients:
            await client.close()


async def test_racing_publications_of_one_item_leave_it_counted_once_at_its_earliest(settings):
    """Forty publications of one item (redeliveries under new ids, as a republished channel
    makes) counted at once by two replicas: one item, judged by its earliest, in its year."""
    rng = random.Random(7)
    moments = [datetime(2025, 12, 11, tzinfo=UTC) + timedelta(days=rng.randrange(60)) for _ in range(40)]
    events = [
        on("race", ("platform", "portal")[i % 2], at, date(2025, 12, 10)) for i, at in enumerate(moments)
    ]
    rng.shuffle(events)
    clients = [connect(settings), connect(settings)]
    try:
        stores = [StatsStore(database_of(c, settings, "stats")) for c in clients]
        await asyncio.gather(*(stores[i % 2].record(e) for i, e in enumerate(events)))
        expected = aggregate(events)
        for year in (2025, 2026):
            stored = figures(Scope(year), await stores[0].counters_of(Scope(year)))
            assert stored == figures(Scope(year), nested(expected.counters[Scope(year)]))
        earliest = min(moments).year
        assert figures(Scope(earliest), await stores[1].counters_of(Scope(earliest))).published.items == 1
    finally:
        for client in clients:
            await client.close()


class Crashed(Exception):
    """The process died here."""


class Crashing:
    """A collection whose process dies after `budget` single-document writes (within a bulk, after
    its first ones): what a SIGKILL leaves, at any step."""

    WRITES = ("insert_one", "insert_many", "update_one", "find_one_and_update", "bulk_write")

    def __init__(self, collection, budget: list[int]):
        self._collection, self._budget = collection, budget

    def __getattr__(self, name):
        method = getattr(self._collection, name)
        return self._written(method) if name in self.WRITES else method

    def _written(self, method):
        async def write(first, *args, **kwargs):
            many = isinstance(first, list)
            writes = len(first) if many else 1
            if self._budget[0] >= writes:
                self._budget[0] -= writes
                return await method(first, *args, **kwargs)
            done, self._budget[0] = self._budget[0], -1
            if many and done:
                await method(first[:done], *args, **kwargs)
            raise Crashed()

        return write


def _lifecycle() -> list:
    """Two items: one received, approved, published on both channels and withdrawn from one; one
    received and rejected."""
    events = [on("c-1", "platform", datetime(2026, 3, 2, tzinfo=UTC), date(2026, 2, 2))]
    events.append(on("c-1", "portal", datetime(2026, 3, 1, tzinfo=UTC), date(2026, 2, 2)))
    subject = ItemSubject(category="budget", department="finance")
    withdrawn = PublicationWithdrawnData(
        channel="portal", withdrawn_at=datetime(2026, 4, 1, tzinfo=UTC), subject=subject
    )
    events.append(new_event(PublicationWithdrawn, "c-1", "publish", withdrawn))
    for sid in ("c-1", "c-2"):
        events.append(new_event(SubmissionReceived, sid, "ingest", SubmissionReceivedData(content=content())))
    rejected = ReviewRejectedData(revision=1, automatic=True, reason="classified")
    return [*events, new_event(ReviewRejected, "c-2", "review", rejected)]


async def _figures_of(store: StatsStore, scopes) -> dict:
    return {scope: figures(scope, await store.counters_of(scope)) for scope in scopes}


async def test_a_crash_at_any_write_then_redelivery_counts_every_event_once(settings, monkeypatch):
    """A process dies after each single-document write of counting in turn (1st, 2nd, … until
    one run completes); then a replica gets every event again, and the platform publication once
    more under a new event id (a publish retried and staged again). Every figure ends as a clean
    run's, and as the rebuild from the archive."""
    monkeypatch.setattr("services.stats.store.LANE_LEASE", timedelta(milliseconds=200))
    events = _lifecycle()
    again = events[0].model_copy(update={"event_id": uuid4()})
    clean = aggregate([*events, again])
    scopes = list(clean.counters)
    expected = {scope: figures(scope, nested(clean.counters[scope])) for scope in scopes}
    client = connect(settings)
    db = database_of(client, settings, "stats")
    try:
        for writes in range(1000):
            for name in await db.list_collection_names():
                await db.drop_collection(name)
            dying, budget = StatsStore(db), [writes]
            for name in ("events", "batches", "lanes", "counters", "first_publications"):
                setattr(dying, name, Crashing(getattr(dying, name), budget))
            outcome = await asyncio.gather(*(dying.record(e) for e in events), return_exceptions=True)
            survivor = StatsStore(db)
            await asyncio.gather(*(survivor.record(e) for e in [*events, again]))
            assert await _figures_of(survivor, scopes) == expected, f"after a crash at write {writes + 1}"
            rebuilt = Aggregate()
            async for event in survivor.archived():
                rebuilt.count(event)
            assert {s: figures(s, nested(rebuilt.counters[s])) for s in scopes} == expected
            if not any(isinstance(o, Crashed) for o in outcome):
                break  # the dying process counted everything before its budget ran out
        assert writes > 10  # every write of counting was crashed after, one run each
    finally:
        await client.close()


async def test_a_replica_waits_for_a_live_batch_and_completes_a_dead_ones(settings, monkeypatch):
    """A redelivery of an event in another replica's batch waits while that replica holds its lane;
    once its lease has run out (it died), the redelivery completes the batch."""
    monkeypatch.setattr("services.stats.store.LANE_LEASE", timedelta(seconds=1))
    client = connect(settings)
    try:
        db = database_of(client, settings, "stats")
        dying, budget = StatsStore(db), [5]  # its lane, its batch, the archive of the event: then it dies
        for name in ("events", "batches", "lanes", "counters", "first_publications"):
            setattr(dying, name, Crashing(getattr(dying, name), budget))
        event = published("w-1", "portal")
        with pytest.raises(Crashed):
            await dying.record(event)
        waiting = asyncio.create_task(StatsStore(db).record(event))
        await asyncio.sleep(0.3)
        assert not waiting.done()  # its lane's holder may still be counting it
        assert await asyncio.wait_for(waiting, 10) is False  # counted, in the dead one's batch
        year = Scope(tally(event).year)
        assert figures(year, await StatsStore(db).counters_of(year)).published.by_channel["portal"] == 1
    finally:
        await client.close()


async def test_rebuild_check_names_each_live_counter_that_differs_from_the_archive(settings):
    """`gongkai stats rebuild --check` writes nothing: exit 0 while the live figures are the
    rebuilt ones; once a counter has moved without an event (a count made twice), exit 1 with its
    scope and counter."""
    client = connect(settings)
    try:
        store = StatsStore(database_of(client, settings, "stats"))
        await asyncio.gather(*(store.record(e) for e in _lifecycle()))
        same = run_cli(settings, "stats", "rebuild", "--check")
        assert same.returncode == 0, same.stdout + same.stderr
        assert "0 difference(s) in 18 scope(s) checked" in same.stdout
        await store.counters.update_one(
            {"_id": "2026|m=03#all#0"}, {"$inc": {"scopes.all.up.published.by_channel.platform": 1}}
        )
        moved = run_cli(settings, "stats", "rebuild", "--check", "--json")
        assert moved.returncode == 1, moved.stdout + moved.stderr
        found = json.loads(moved.stdout)["differences"]
        assert found == [
            {"scope": "2026|m=03", "counter": "published.by_channel.platform", "live": 2, "rebuilt": 1}
        ]
        assert (
            "2026|m=03  published.by_channel.platform: live 2, rebuilt 1"
            in run_cli(settings, "stats", "rebuild", "--check").stdout
        )
        assert await store.counters_of(Scope(2026, 3)) != {}  # nothing was replaced
    finally:
        await client.close()
