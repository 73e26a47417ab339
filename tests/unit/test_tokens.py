"""What a token's record says about it: its holder, and whether it still admits its bearer."""

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from shared.auth import Principal, TokenInfo, TokenState, token_id_of
from shared.domain import Role, holder_of

NOW = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


def info(**fields) -> TokenInfo:
    return TokenInfo(token_id="0123456789abcdef", holder="alice", name="Alice", role=Role.REVIEWER, **fields)


def test_a_holder_id_folds_case_width_and_spaces():
    assert holder_of("Alice") == holder_of("alice") == holder_of("ａｌｉｃｅ") == "alice"
    assert holder_of("  Zhang   San ") == "zhang san"
    assert holder_of("张三") == "张三"


def test_a_principal_is_held_by_its_name_unless_a_holder_is_given():
    assert Principal(name="Alice", role=Role.OPERATOR).holder == "alice"
    assert Principal(name="Alice", role=Role.OPERATOR, holder="Staff-7").holder == "staff-7"
    with pytest.raises(ValidationError):
        Principal(name=" ", role=Role.OPERATOR)


def test_a_token_is_active_until_it_expires():
    token = info(expires_at=NOW + timedelta(days=1))
    assert token.state(NOW) == TokenState.ACTIVE
    assert token.state(NOW + timedelta(days=1)) == TokenState.EXPIRED


def test_revocation_wins_over_expiry_and_a_grace_period_ends_it_later():
    revoked = info(expires_at=NOW - timedelta(days=1), revoked_at=NOW - timedelta(days=2))
    assert revoked.state(NOW) == TokenState.REVOKED
    in_grace = info(expires_at=NOW + timedelta(days=9), revoked_at=NOW + timedelta(minutes=10))
    assert in_grace.state(NOW) == TokenState.ACTIVE
    assert in_grace.state(NOW + timedelta(minutes=10)) == TokenState.REVOKED


def test_a_token_issued_before_expiry_existed_never_expires_until_it_is_upgraded():
    assert info().state(NOW) == TokenState.ACTIVE


def test_the_public_id_is_a_prefix_of_the_digest_never_the_token():
    assert token_id_of("ab" * 32) == "ab" * 8


def test_a_token_is_expiring_within_the_warning_and_never_once_ended():
    assert info(expires_at=NOW + timedelta(days=13)).expires_soon(NOW, timedelta(days=14))
    assert not info(expires_at=NOW + timedelta(days=15)).expires_soon(NOW, timedelta(days=14))
    assert not info(expires_at=NOW - timedelta(days=1)).expires_soon(NOW, timedelta(days=14))
    assert not info().expires_soon(NOW, timedelta(days=14))
