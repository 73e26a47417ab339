"""Bearer-token identities: random tokens shown once, stored only as their SHA-256 digest.

Identities live in the `identity` database, read by every service through this module only.
"""

import hashlib
import secrets
from collections.abc import Callable

from fastapi import Depends, Request
from fastapi.security import HTTPBearer
from pydantic import BaseModel
from pymongo.asynchronous.database import AsyncDatabase

from shared.domain import Role
from shared.events import utcnow
from shared.problems import Problem

TOKEN_PREFIX = "gk_"


class Principal(BaseModel):
    """Who is calling: a department clerk, a reviewer at one level, or an operator."""

    name: str
    role: Role
    level: int | None = None  # reviewers only
    department: str | None = None  # departments only
    department_name: str | None = None


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_token(identity: AsyncDatabase, principal: Principal) -> str:
    """Store a new identity and return its token; the token itself is never stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    await identity.tokens.insert_one(
        {"_id": digest(token), **principal.model_dump(mode="json"), "created_at": utcnow()}
    )
    return token


async def add_department(identity: AsyncDatabase, code: str, name: str) -> str:
    await identity.departments.update_one(
        {"_id": code}, {"$set": {"name": name}, "$setOnInsert": {"created_at": utcnow()}}, upsert=True
    )
    principal = Principal(name=code, role=Role.DEPARTMENT, department=code, department_name=name)
    return await issue_token(identity, principal)


async def resolve(identity: AsyncDatabase, token: str) -> Principal | None:
    doc = await identity.tokens.find_one({"_id": digest(token)})
    if doc is None:
        return None
    return Principal.model_validate({k: v for k, v in doc.items() if k in Principal.model_fields})


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def bearer_principal(request: Request) -> Principal | None:
    """Who is calling, where a call may also be made without a token (None then)."""
    token = _bearer(request)
    principal = await resolve(request.app.state.identity, token) if token else None
    if token and principal is None:
        raise Problem(
            401, "Unauthenticated", "The bearer token is not valid.", {"WWW-Authenticate": "Bearer"}
        )
    return principal


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
