"""Tokens as operators manage them with `gongkai admin`, against the real database."""

import asyncio
import json
from datetime import timedelta

import pytest

from services.ingest.app import build
from shared.auth import (
    TokenConflict,
    TokenInfo,
    TokenState,
    digest,
    list_tokens,
    prepare_identity,
    resolve,
    revoke_token,
    rotate_token,
)
from shared.events import utcnow
from shared.mongo import connect, database_of
from tests.conftest import running
from tests.support import run_cli

pytestmark = pytest.mark.integration


def listed(settings, *args: str) -> list[dict]:
    answer = run_cli(settings, "admin", "list", "--json", *args)
    assert answer.returncode == 0, answer.stderr
    return [json.loads(line) for line in answer.stdout.splitlines()]


def issued(settings, *args: str) -> dict:
    answer = run_cli(settings, "admin", *args, "--json")
    assert answer.returncode == 0, answer.stderr
    return json.loads(answer.stdout)


def test_operators_list_revoke_and_rotate_tokens_without_ever_seeing_one(settings):
    first = issued(settings, "reviewer", "add", "张三", "--level", "1", "--holder", "Staff-42")
    other = issued(settings, "operator", "add", "Alice")
    assert (first["holder"], other["holder"]) == ("staff-42", "alice")
    plain = run_cli(settings, "admin", "list")
    rows = listed(settings)
    assert first["token"] not in plain.stdout + json.dumps(rows)
    assert digest(first["token"]) not in plain.stdout + json.dumps(rows)
    [mine] = listed(settings, "--holder", "STAFF-42")
    assert (mine["role"], mine["level"], mine["state"], mine["name"]) == ("reviewer", 1, "active", "张三")
    assert mine["created_at"] and mine["expires_at"] > mine["created_at"]

    rotated = issued(settings, "rotate", mine["token_id"])
    assert rotated["state"] == "revoked" and rotated["new_token_id"] != mine["token_id"]
    [successor] = listed(settings, "--holder", "staff-42")
    assert (successor["token_id"], successor["level"]) == (rotated["new_token_id"], 1)
    assert successor["token_id"] not in rotated["token"]  # the id tells nothing of the token
    again = run_cli(settings, "admin", "rotate", mine["token_id"])
    assert again.returncode == 1 and "revoked" in again.stderr

    gone = run_cli(settings, "admin", "revoke", successor["token_id"], "--reason", "left the office")
    assert gone.returncode == 0
    assert listed(settings, "--holder", "staff-42") == []
    assert {r["state"] for r in listed(settings, "--holder", "staff-42", "--all")} == {"revoked"}
    twice = run_cli(settings, "admin", "revoke", successor["token_id"])
    assert twice.returncode == 1 and "already revoked" in twice.stderr


def test_bad_usage_is_one_line_and_exit_2(settings):
    unknown = run_cli(settings, "admin", "revoke", "0000000000000000")
    assert unknown.returncode == 2 and unknown.stderr.strip() == "gongkai: no token with id 0000000000000000"
    assert run_cli(settings, "admin", "rotate", "0000000000000000").returncode == 2
    negative = run_cli(settings, "admin", "rotate", "x", "--grace-minutes", "-1")
    assert negative.returncode == 2 and "Traceback" not in negative.stderr
    assert run_cli(settings, "admin", "revoke").returncode == 2
    blank = run_cli(settings, "admin", "operator", "add", "x", "--holder", "  ")
    assert blank.returncode == 2 and "--holder" in blank.stderr


async def test_a_rotation_with_grace_keeps_the_old_token_until_it_ends(settings, identities):
    old = issued(settings, "operator", "add", "运维")
    [row] = listed(settings)
    rotated = issued(settings, "rotate", row["token_id"], "--grace-minutes", "30")
    assert rotated["state"] == "rotating" and rotated["revoked_at"] > row["created_at"]
    client = connect(settings)
    try:
        identity = database_of(client, settings, "identity")
        assert (await resolve(identity, old["token"])).holder == "运维"  # still in its grace period
        assert (await resolve(identity, rotated["token"])).token_id == rotated["new_token_id"]
    finally:
        await client.close()


async def test_tokens_issued_before_expiry_existed_keep_working_and_get_the_default_lifetime(settings):
    legacy_token = "gk_legacy-token-issued-before-expiry-existed"
    client = connect(settings)
    try:
        identity = database_of(client, settings, "identity")
        created = (utcnow() - timedelta(days=400)).replace(microsecond=0)
        legacy = {
            "_id": digest(legacy_token),
            "name": "Old Operator",
            "role": "operator",
            "created_at": created,
        }
        await identity.tokens.insert_one(legacy)
        before = utcnow() - timedelta(milliseconds=1)  # the server keeps milliseconds
        async with running(build(settings)) as http:  # a service's start upgrades the tokens
            answer = await http.get("/v1/submissions", headers={"Authorization": f"Bearer {legacy_token}"})
            assert answer.status_code == 200
        doc = await identity.tokens.find_one({"_id": digest(legacy_token)})
        assert doc["holder"] == "old operator" and doc["token_id"] == digest(legacy_token)[:16]
        assert before + settings.token_lifetime <= doc["expires_at"] <= utcnow() + settings.token_lifetime
        assert doc["created_at"] == created and doc["last_used_at"] >= before
        assert await prepare_identity(identity, settings.token_lifetime) == 0  # once only
    finally:
        await client.close()


async def test_racing_operators_rotate_and_revoke_a_token_once(settings, identities):
    await identities.operator("并发运维")
    client = connect(settings)
    try:
        identity = database_of(client, settings, "identity")
        [old] = await list_tokens(identity)
        tries = await asyncio.gather(
            *(rotate_token(identity, old.token_id) for _ in range(8)), return_exceptions=True
        )
        won = [t for t in tries if not isinstance(t, BaseException)]
        assert len(won) == 1 and all(isinstance(t, TokenConflict) for t in tries if t not in won)
        [successor] = [t for t in await list_tokens(identity) if t.state(utcnow()) == TokenState.ACTIVE]
        assert successor.token_id == won[0][1].replaced_by  # the losers took their tokens back
        revokes = await asyncio.gather(
            *(revoke_token(identity, successor.token_id) for _ in range(8)), return_exceptions=True
        )
        assert len([r for r in revokes if isinstance(r, TokenInfo)]) == 1
        assert all(isinstance(r, TokenConflict) for r in revokes if not isinstance(r, TokenInfo))
    finally:
        await client.close()


async def test_replicas_starting_together_upgrade_each_old_token_once(settings):
    client = connect(settings)
    try:
        identity = database_of(client, settings, "identity")
        await identity.tokens.insert_many(
            [{"_id": digest(f"gk_old-{n}"), "name": f"old {n}", "role": "operator"} for n in range(20)]
        )
        counts = await asyncio.gather(
            *(prepare_identity(identity, settings.token_lifetime) for _ in range(4))
        )
        assert sum(counts) == 20
        assert await identity.tokens.count_documents({"expires_at": {"$exists": True}}) == 20
    finally:
        await client.close()
