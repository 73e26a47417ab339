"""Bearer-token identities: random tokens shown once, stored only as their SHA-256 digest.

Identities live in the `identity` database, read by every service through this module only.

Every token document carries who holds it and for how long: `token_id` (public, never the
secret: the first 16 hex digits of the digest, so that tokens issued before ids existed have one
too), `holder` (the stable principal id that four eyes and audits key on — not the display
name), `created_at`, `expires_at`, and, once revoked, `revoked_at` (a rotation with a grace
period sets it in the future). Every change is one guarded single-document update.
"""

import hashlib
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from fastapi import Depends, Request
from fastapi.security import HTTPBearer
from pydantic import BaseModel, Field, model_validator
from pymongo.asynchronous.database import AsyncDatabase

from shared.domain import Role, holder_of
from shared.events import utcnow
from shared.problems import Problem

TOKEN_PREFIX = "gk_"
DEFAULT_LIFETIME = timedelta(days=90)  # GONGKAI_TOKEN_LIFETIME_DAYS' default
LAST_USED_EVERY = timedelta(hours=1)  # `last_used_at` is written at most this often per token
DEFAULT_WARNING = timedelta(days=14)  # GONGKAI_TOKEN_WARN_DAYS' default
EXPIRES_HEADER = "Gongkai-Token-Expires"  # on answers to a token that expires within the warning


class Principal(BaseModel):
    """Who is calling: a department clerk, a reviewer at one level, or an operator."""

    name: str  # the display name
    role: Role
    holder: str = Field("", max_length=100)  # the stable principal id; from the name when left out
    level: int | None = None  # reviewers only
    department: str | None = None  # departments only
    department_name: str | None = None
    token_id: str | None = None  # the token this call came with (None before it is issued)
    expires_at: datetime | None = None  # when that token expires

    @model_validator(mode="after")
    def _held(self) -> "Principal":
        self.holder = holder_of(self.holder or self.name)
        if not self.holder:
            raise ValueError("a holder id must have a visible character")
        return self


class TokenState(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


class TokenInfo(BaseModel):
    """What operators see of a token: never the secret, nor its digest."""

    token_id: str
    holder: str
    name: str
    role: Role
    level: int | None = None
    department: str | None = None
    created_at: datetime | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    replaced_by: str | None = None
    last_used_at: datetime | None = None

    def expires_soon(self, now: datetime, warning: timedelta = DEFAULT_WARNING) -> bool:
        return (
            self.state(now) == TokenState.ACTIVE
            and self.expires_at is not None
            and self.expires_at - now <= warning
        )

    def state(self, now: datetime) -> TokenState:
        if self.revoked_at is not None and self.revoked_at <= now:
            return TokenState.REVOKED
        if self.expires_at is not None and self.expires_at <= now:
            return TokenState.EXPIRED
        return TokenState.ACTIVE


class TokenRefused(Exception):
    """A bearer token that does not admit its bearer, and why (said to the client)."""

    def __init__(self, state: TokenState | None, at: datetime | None = None):
        self.state, self.at = state, at
        super().__init__(state.value if state else "unknown")


class TokenError(Exception):
    """An operator's token command that cannot be done."""


class UnknownToken(TokenError):
    """No token has the id given."""


class TokenConflict(TokenError):
    """The token is not in a state that allows it (already revoked, rotated meanwhile)."""


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_id_of(token_digest: str) -> str:
    return token_digest[:16]


def _info(doc: dict) -> TokenInfo:
    return TokenInfo.model_validate(
        {k: v for k, v in doc.items() if k in TokenInfo.model_fields}
        | {"token_id": token_id_of(doc["_id"]), "holder": doc.get("holder") or holder_of(doc.get("name", ""))}
    )


async def prepare_identity(identity: AsyncDatabase, lifetime: timedelta = DEFAULT_LIFETIME) -> int:
    """Indexes, and the upgrade of tokens issued before ids, holders and expiry existed: each
    gets its id, a holder from its name and an expiry `lifetime` from now (the upgrade), each in
    one update guarded on `expires_at` being absent, so that replicas starting together upgrade
    each token once. Returns how many were upgraded."""
    await identity.tokens.create_index("token_id")
    await identity.tokens.create_index("holder")
    upgraded = 0
    async for doc in identity.tokens.find({"expires_at": {"$exists": False}}):
        now = utcnow()
        fields = {
            "token_id": token_id_of(doc["_id"]),
            "holder": doc.get("holder") or holder_of(doc.get("name", "")) or token_id_of(doc["_id"]),
            "created_at": doc.get("created_at") or now,
            "expires_at": now + lifetime,
            "upgraded_at": now,
        }
        result = await identity.tokens.update_one(
            {"_id": doc["_id"], "expires_at": {"$exists": False}}, {"$set": fields}
        )
        upgraded += result.modified_count
    return upgraded


async def issue_token(
    identity: AsyncDatabase, principal: Principal, lifetime: timedelta = DEFAULT_LIFETIME
) -> str:
    """Store a new identity and return its token; the token itself is never stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    await identity.tokens.insert_one(_token_document(token, principal, lifetime, utcnow()))
    return token


def _token_document(token: str, principal: Principal, lifetime: timedelta, now: datetime) -> dict:
    key = digest(token)
    fields = principal.model_dump(mode="json", exclude={"token_id", "expires_at"})
    return {
        "_id": key,
        **fields,
        "token_id": token_id_of(key),
        "created_at": now,
        "expires_at": now + lifetime,
    }


async def add_department(
    identity: AsyncDatabase, code: str, name: str, lifetime: timedelta = DEFAULT_LIFETIME
) -> str:
    await identity.departments.update_one(
        {"_id": code}, {"$set": {"name": name}, "$setOnInsert": {"created_at": utcnow()}}, upsert=True
    )
    principal = Principal(name=code, role=Role.DEPARTMENT, department=code, department_name=name)
    return await issue_token(identity, principal, lifetime)


async def resolve(identity: AsyncDatabase, token: str) -> Principal:
    """The principal a token admits; TokenRefused (unknown, expired or revoked) otherwise."""
    key = digest(token)
    doc = await identity.tokens.find_one({"_id": key})
    if doc is None:
        raise TokenRefused(None)
    now = utcnow()
    info = _info(doc)
    match info.state(now):
        case TokenState.REVOKED:
            raise TokenRefused(TokenState.REVOKED, info.revoked_at)
        case TokenState.EXPIRED:
            raise TokenRefused(TokenState.EXPIRED, info.expires_at)
    if info.last_used_at is None or info.last_used_at <= now - LAST_USED_EVERY:
        # cheap: at most one write per token an hour, and a lost race loses nothing
        await identity.tokens.update_one(
            {
                "_id": key,
                "$or": [
                    {"last_used_at": {"$exists": False}},
                    {"last_used_at": {"$lte": now - LAST_USED_EVERY}},
                ],
            },
            {"$set": {"last_used_at": now}},
        )
    fields = {k: v for k, v in doc.items() if k in Principal.model_fields}
    return Principal.model_validate(fields | {"token_id": info.token_id, "expires_at": info.expires_at})


async def list_tokens(identity: AsyncDatabase, holder: str | None = None) -> list[TokenInfo]:
    query = {"holder": holder_of(holder)} if holder else {}
    docs = await identity.tokens.find(query).sort("created_at", 1).to_list()
    return [_info(d) for d in docs]


async def _one(identity: AsyncDatabase, token_id: str) -> dict:
    docs = await identity.tokens.find({"token_id": token_id}).to_list(2)
    if not docs:
        raise UnknownToken(f"no token with id {token_id}")
    if len(docs) > 1:  # 64 bits of a SHA-256 digest: not seen, but never act on the wrong one
        raise UnknownToken(f"more than one token has id {token_id}; revoke the holder's tokens one by one")
    return docs[0]


IMMEDIATE, GRACE = "immediate", "grace"  # `revocation`: how a revoked token's `revoked_at` was set


def _revocable(now: datetime) -> dict:
    """A guard: the token is not revoked, or only by a rotation's grace period still running.
    Two operators racing are told apart by the write that lands: the second finds the guard
    false, whatever their clocks said."""
    return {"$or": [{"revoked_at": {"$exists": False}}, {"revocation": GRACE, "revoked_at": {"$gt": now}}]}


async def revoke_token(identity: AsyncDatabase, token_id: str, reason: str = "") -> TokenInfo:
    """Revoke a token now (also one in a rotation's grace period); TokenError if already revoked."""
    doc = await _one(identity, token_id)
    now = utcnow()
    result = await identity.tokens.update_one(
        {"_id": doc["_id"], **_revocable(now)},
        {"$set": {"revoked_at": now, "revocation": IMMEDIATE, "revoked_reason": reason}},
    )
    if result.modified_count == 0:
        raise TokenConflict(f"token {token_id} is already revoked")
    return _info(await identity.tokens.find_one({"_id": doc["_id"]}))


async def rotate_token(
    identity: AsyncDatabase,
    token_id: str,
    grace: timedelta = timedelta(0),
    lifetime: timedelta = DEFAULT_LIFETIME,
) -> tuple[str, TokenInfo]:
    """A new token for the same holder, role and level; the old one is revoked at once, or when
    `grace` has passed. The new token is stored first and the old one then revoked by a guarded
    update: of two rotations racing, one wins and the other takes its new token back, so a holder
    never ends up with two successors. Returns the new token and what is now known of the old."""
    doc = await _one(identity, token_id)
    now = utcnow()
    if _info(doc).state(now) == TokenState.REVOKED:
        raise TokenConflict(f"token {token_id} is revoked; issue a new one with `gongkai admin … add`")
    if doc.get("replaced_by"):
        raise TokenConflict(f"token {token_id} is already rotated (to {doc['replaced_by']})")
    fields = {
        k: v for k, v in doc.items() if k in Principal.model_fields and k not in ("token_id", "expires_at")
    }
    principal = Principal.model_validate(fields)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    new = _token_document(token, principal, lifetime, now) | {"rotated_from": token_id}
    await identity.tokens.insert_one(new)
    result = await identity.tokens.update_one(
        {"_id": doc["_id"], "replaced_by": {"$exists": False}, **_revocable(now)},
        {
            "$set": {
                "revoked_at": now + grace,
                "revocation": GRACE if grace else IMMEDIATE,
                "revoked_reason": "rotated",
                "replaced_by": new["token_id"],
            }
        },
    )
    if result.modified_count == 0:
        await identity.tokens.delete_one({"_id": new["_id"]})
        raise TokenConflict(f"token {token_id} was revoked or rotated meanwhile; nothing issued")
    return token, _info(await identity.tokens.find_one({"_id": doc["_id"]}))


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _refusal(refused: TokenRefused) -> Problem:
    """401 saying why, in the body and in RFC 6750's `WWW-Authenticate` error description."""
    at = refused.at.isoformat(timespec="seconds") if refused.at else ""
    title, detail = {
        TokenState.EXPIRED: (
            "Token expired",
            f"令牌已于 {at} 过期，请向运维人员申领新令牌 (the bearer token expired at {at}).",
        ),
        TokenState.REVOKED: (
            "Token revoked",
            f"令牌已于 {at} 被吊销，请向运维人员申领新令牌 (the bearer token was revoked at {at}).",
        ),
        None: ("Unauthenticated", "The bearer token is not valid."),
    }[refused.state]
    why = refused.state.value if refused.state else "invalid"
    challenge = f'Bearer error="invalid_token", error_description="token {why}"'
    return Problem(401, title, detail, {"WWW-Authenticate": challenge})


async def bearer_principal(request: Request) -> Principal | None:
    """Who is calling, where a call may also be made without a token (None then)."""
    token = _bearer(request)
    if not token:
        return None
    try:
        principal = await resolve(request.app.state.identity, token)
    except TokenRefused as refused:
        raise _refusal(refused) from None
    _warn_of_expiry(request, principal)
    return principal


def _warn_of_expiry(request: Request, principal: Principal) -> None:
    """A token about to expire says so on every answer (`Gongkai-Token-Expires`, an HTTP date,
    added by shared.service), so that a client or its operator sees it coming."""
    settings = getattr(request.app.state, "settings", None)
    warning = settings.token_warning if settings else DEFAULT_WARNING
    if principal.expires_at and principal.expires_at - utcnow() <= warning:
        request.state.token_expires_at = principal.expires_at.astimezone(UTC)  # the store says +00:00


# Declares the bearer scheme in OpenAPI (securitySchemes, and `security` on every operation that
# requires a role), so that clients and "try it out" can send a token; checking stays ours.
BEARER = HTTPBearer(auto_error=False, scheme_name="bearer", description="A token issued by `gongkai admin`")


def requires(*roles: Role) -> Callable:
    """A FastAPI dependency admitting only the given roles (401 without a valid token, 403 otherwise)."""

    async def dependency(request: Request, _=Depends(BEARER)) -> Principal:
        principal = await bearer_principal(request)
        if principal is None:
            raise Problem(
                401, "Unauthenticated", "A valid bearer token is required.", {"WWW-Authenticate": "Bearer"}
            )
        if principal.role not in roles:
            raise Problem(403, "Forbidden", f"This call is for: {', '.join(r.value for r in roles)}.")
        return principal

    return dependency
