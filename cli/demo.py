"""`gongkai demo`: sample items of the kinds a township publishes, through the real HTTP API."""

import json
import time
from datetime import date, timedelta
from pathlib import Path

import httpx
import typer

from cli.admin import create_identity
from shared.auth import Principal, add_department, issue_token
from shared.domain import Role
from shared.settings import get_settings

DEMO_DEPARTMENT = ("demo-office", "镇党政办公室")
DEMO_REVIEWERS = (("演示保密审查员", 1), ("演示发布审核员", 2))

SAMPLES = [
    (
        "关于印发《2026年政务公开工作要点》的通知",
        "regulation",
        ["platform", "portal"],
        "各村（社区）、镇直各单位：\n现将《2026年政务公开工作要点》印发给你们，请结合实际认真贯彻落实。",
        {
            "regulatory_document": {"kind": "normative", "action": "issued"},
            "document_number": "镇府办〔2026〕3号",
            "theme": "general_affairs",
            "keywords": ["政务公开", "工作要点"],
            "summary": "印发本镇2026年政务公开工作要点，部署全年政务公开重点任务。",
        },
    ),
    (
        "2026年镇级财政预算及“三公”经费预算公开",
        "budget",
        ["platform", "portal"],
        "根据预算法有关规定，现将本镇2026年财政预算及“三公”经费预算情况公开如下。",
        {"theme": "finance", "keywords": ["预算", "三公经费"]},
    ),
    (
        "李庄村2026年第三季度村务公开",
        "village_affairs",
        ["platform"],
        "李庄村第三季度财务收支情况、低保评议结果及集体资产处置情况公示如下。",
    ),
    (
        "镇政府召开秋冬季森林防火工作会议",
        "work_news",
        ["portal"],
        "11月20日，镇政府召开秋冬季森林防火工作会议，部署当前森林防火重点工作。",
    ),
    (
        "2026年镇属事业单位公开招聘工作人员公告",
        "personnel",
        ["platform", "portal"],
        "经研究决定，面向社会公开招聘事业单位工作人员5名，现将有关事项公告如下。",
    ),
    (
        "2026年11月行政处罚决定公示",
        "penalty",
        ["platform", "portal"],
        "本月作出行政处罚决定3件，现予公示。",
        {"decisions": {"kind": "punishment", "count": 3}},
    ),
    ("机密★1年 关于重点工程选址的内部意见", "projects", ["portal"], "本材料涉及国家秘密，不得上网。"),
    (
        "关于李庄村土地承包经营纠纷的调处意见",
        "rural",
        ["portal"],
        "经调查核实，现就李庄村第三村民小组土地承包经营纠纷提出调处意见如下。",
        {"disclosure": "on_request", "disclosure_ground": "《中华人民共和国政府信息公开条例》第二十七条"},
    ),
]


def _identities(path: Path) -> dict[str, str]:
    """The demo's tokens, created once and kept in `path` so that reruns reuse them."""
    if path.exists():
        return json.loads(path.read_text())
    code, name = DEMO_DEPARTMENT
    tokens = {"department": create_identity(lambda db: add_department(db, code, name))}
    for reviewer, level in DEMO_REVIEWERS:
        principal = Principal(name=reviewer, role=Role.REVIEWER, level=level)
        tokens[f"reviewer_level_{level}"] = create_identity(lambda db, p=principal: issue_token(db, p))
    operator = Principal(name="演示运维", role=Role.OPERATOR)
    tokens["operator"] = create_identity(lambda db: issue_token(db, operator))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(tokens, indent=2))
    path.chmod(0o600)
    return tokens


def _url(service: str) -> str:
    settings = get_settings()
    return f"http://{settings.host}:{settings.port_of(service)}"


def _poll(seconds: float, check):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if (found := check()) is not None:
            return found
        time.sleep(0.5)
    return None


def demo(
    tokens_file: Path = typer.Option(Path(".state/demo-tokens.json"), help="Where the demo tokens are kept"),
    tokens_only: bool = typer.Option(False, "--tokens-only", help="Only make sure the demo identities exist"),
    timeout: float = typer.Option(90, min=1, help="Seconds to wait for each step"),
    as_json: bool = typer.Option(False, "--json", help="Print the tokens, or where each item ended, as JSON"),
) -> None:
    """Submit sample items, approve them at every level, and show where they ended up."""
    tokens = _identities(tokens_file)
    if tokens_only:
        if as_json:
            typer.echo(json.dumps(tokens))
            return
        for role, token in tokens.items():
            typer.echo(f"  {role:18} {token}")
        return
    auth = {role: {"Authorization": f"Bearer {token}"} for role, token in tokens.items()}
    levels = get_settings().review_levels
    with httpx.Client(timeout=30) as http:
        ids = []
        for title, category, channels, body, *table_a in SAMPLES:
            item = {
                "title": title,
                "body": body,
                "category": category,
                "channels": channels,
                "formed_on": (date.today() - timedelta(days=3)).isoformat(),
                **(table_a[0] if table_a else {}),  # catalogue fields, and what Table A counts
            }
            answer = http.post(f"{_url('ingest')}/v1/submissions", json=item, headers=auth["department"])
            answer.raise_for_status()
            ids.append(answer.json()["id"])
            typer.echo(f"submitted {ids[-1]}  {title}", err=as_json)
        for level in range(1, levels + 1):
            headers = auth.get(f"reviewer_level_{level}")
            if headers is None:
                typer.echo(
                    f"gongkai demo: no demo reviewer for level {level}; it knows levels 1 and 2", err=True
                )
                raise typer.Exit(1)
            for sid in ids:

                def waiting(sid=sid, headers=headers):
                    """'queued' at this level, 'settled' when it never will be (rejected at once), or None."""
                    queue = http.get(f"{_url('review')}/v1/reviews", headers=headers).json()["items"]
                    if any(i["submission_id"] == sid for i in queue):
                        return "queued"
                    status = http.get(
                        f"{_url('ingest')}/v1/submissions/{sid}", headers=auth["department"]
                    ).json()
                    return "settled" if status["status"] in ("rejected", "withdrawn") else None

                if _poll(timeout, waiting) == "queued":
                    decision = {"decision": "approve", "comment": "演示：同意公开"}
                    http.post(f"{_url('review')}/v1/reviews/{sid}/decisions", json=decision, headers=headers)
                    typer.echo(f"level {level} approved {sid}", err=as_json)
        outcomes = []
        for sid, (title, *_rest) in zip(ids, SAMPLES, strict=True):

            def settled(sid=sid):
                status = http.get(f"{_url('ingest')}/v1/submissions/{sid}", headers=auth["department"]).json()
                if status["status"] == "approved" and status.get("disclosure", "proactive") != "proactive":
                    return "approved"  # 依申请公开: recorded, never published
                return status["status"] if status["status"] in ("published", "rejected", "failed") else None

            outcomes.append({"id": sid, "title": title, "status": _poll(timeout, settled) or "in_progress"})
            if not as_json:
                typer.echo(f"{outcomes[-1]['status']:11} {title}")
        if as_json:
            typer.echo(json.dumps(outcomes, ensure_ascii=False))
