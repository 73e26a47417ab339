"""Expired and revoked tokens, tried on every service running as its own process."""

import asyncio
import json
from datetime import timedelta
from email.utils import parsedate_to_datetime

import httpx
import pytest

from shared.events import utcnow
from tests.support import run_cli

pytestmark = pytest.mark.e2e

# A call on each service that needs an operator's token (review: an operator reads a review).
CALLS = {
    "ingest": "/v1/submissions",
    "review": "/v1/reviews/no-such-item",
    "publish": "/v1/subscriptions",
    "stats": "/v1/reports/annual/2026/inputs",
}


def operator_token(settings, name: str) -> dict:
    answer = run_cli(settings, "admin", "operator", "add", name, "--json")
    assert answer.returncode == 0, answer.stderr
    return json.loads(answer.stdout)


async def answers(system, token: str) -> dict[str, httpx.Response]:
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=10) as http:
        return {name: await http.get(system.urls[name] + path) for name, path in CALLS.items()}


async def test_an_expired_and_a_revoked_token_are_refused_by_every_service_saying_why(system):
    valid = operator_token(system.settings, "在岗运维")
    two_seconds = system.settings.model_copy(update={"token_lifetime_days": 2 / 86400})
    expiring = operator_token(two_seconds, "临时运维")
    revoked = operator_token(system.settings, "离职运维")
    [row] = [
        json.loads(line)
        for line in run_cli(
            system.settings, "admin", "list", "--json", "--holder", "离职运维"
        ).stdout.splitlines()
    ]
    assert run_cli(system.settings, "admin", "revoke", row["token_id"]).returncode == 0

    assert all(r.status_code != 401 for r in (await answers(system, valid["token"])).values())
    assert all(
        "gongkai-token-expires" not in r.headers for r in (await answers(system, valid["token"])).values()
    )
    for name, answer in (await answers(system, revoked["token"])).items():
        assert answer.status_code == 401, name
        assert answer.headers["content-type"].startswith("application/problem+json"), name
        assert answer.json()["title"] == "Token revoked", name
        assert 'error="invalid_token"' in answer.headers["www-authenticate"], name
    await asyncio.sleep(2.5)
    for name, answer in (await answers(system, expiring["token"])).items():
        assert answer.status_code == 401, name
        assert answer.json()["title"] == "Token expired" and "expired at" in answer.json()["detail"], name
    unknown = await answers(system, "gk_never-issued")
    assert {a.json()["title"] for a in unknown.values()} == {"Unauthenticated"}


async def test_a_rotated_token_is_refused_at_once_and_its_successor_admitted(system):
    old = operator_token(system.settings, "轮换运维")
    [row] = [
        json.loads(line)
        for line in run_cli(
            system.settings, "admin", "list", "--json", "--holder", "轮换运维"
        ).stdout.splitlines()
    ]
    rotated = run_cli(system.settings, "admin", "rotate", row["token_id"], "--json")
    new = json.loads(rotated.stdout)["token"]
    assert all(r.status_code != 401 for r in (await answers(system, new)).values())
    assert {r.json()["title"] for r in (await answers(system, old["token"])).values()} == {"Token revoked"}


async def test_a_token_near_its_expiry_says_so_on_every_answer(system):
    one_day = system.settings.model_copy(update={"token_lifetime_days": 1})
    soon = operator_token(one_day, "将到期运维")
    for name, answer in (await answers(system, soon["token"])).items():
        assert answer.status_code != 401, name
        expires = parsedate_to_datetime(answer.headers["gongkai-token-expires"])
        assert timedelta(hours=23) < expires - utcnow() <= timedelta(days=1), name
    listed = run_cli(system.settings, "admin", "list", "--expiring", "--json").stdout.splitlines()
    assert [json.loads(line)["holder"] for line in listed] == ["将到期运维"]
