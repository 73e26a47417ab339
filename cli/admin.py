"""`gongkai admin …`: identities and their tokens. Each command that issues a token prints it
alone on its last line; `list` never shows a token, only its public id."""

import asyncio
import json
import re
from datetime import timedelta

import typer

from cli.command import App
from shared.auth import (
    Principal,
    TokenConflict,
    TokenInfo,
    TokenState,
    UnknownToken,
    add_department,
    holder_of,
    issue_token,
    list_tokens,
    prepare_identity,
    revoke_token,
    rotate_token,
)
from shared.domain import DEPARTMENT_CODE, Role
from shared.events import utcnow
from shared.mongo import connect, database_of
from shared.settings import get_settings

app = App(help="Manage departments, reviewers and operators, and their tokens.")
department = App(help="Departments that submit items.")
reviewer = App(help="Reviewers, each at one review level.")
operator = App(help="Operators who run the system.")
AS_JSON = typer.Option(False, "--json", help="Print the identity and its token as one JSON object")
HOLDER = typer.Option(
    None,
    "--holder",
    help="Stable id of the person (e.g. a staff number); four eyes and audits key on it. "
    "Default: the name, case-folded",
)
app.add_typer(department, name="department")
app.add_typer(reviewer, name="reviewer")
app.add_typer(operator, name="operator")

USAGE = 2  # exit code of a usage error: an unknown token id among them
REFUSED = 1  # exit code when the answer is no: the token is already revoked
MAX_GRACE_MINUTES = 24 * 60

# Department codes become keys of statistics documents: no dots, no `$`.
CODE = re.compile(DEPARTMENT_CODE)


async def _with_identity(action):
    settings = get_settings()
    client = connect(settings)
    try:
        identity = database_of(client, settings, "identity")
        await prepare_identity(identity, settings.token_lifetime)
        return await action(identity)
    finally:
        await client.close()


def create_identity(action):
    """Run `action` on the identity database (prepared and upgraded first) and return its result."""
    return asyncio.run(_with_identity(action))


def _lifetime() -> timedelta:
    return get_settings().token_lifetime


def _fail(message: str, code: int):
    typer.echo(f"gongkai: {message}", err=True)
    raise typer.Exit(code)


def _holder(holder: str | None) -> str | None:
    if holder is not None and not holder_of(holder):
        raise typer.BadParameter("must have a visible character", param_hint="--holder")
    return holder


def _show(what: str, identity: dict, token: str, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps({**identity, "token": token}, ensure_ascii=False))
        return
    typer.echo(f"{what}. The token is shown only this once; it is stored only as its digest:")
    typer.echo(token)


@department.command("add")
def department_add(
    code: str = typer.Argument(help="Short code, e.g. 'finance' (lowercase letters, digits, - and _)"),
    name: str = typer.Option(..., "--name", help="Full name, e.g. 财政所"),
    as_json: bool = AS_JSON,
) -> None:
    """Add a department (or give an existing one a further token). Its holder id is its code."""
    if not CODE.match(code):
        raise typer.BadParameter("lowercase letters, digits, '-' and '_', at most 40", param_hint="CODE")
    token = create_identity(lambda db: add_department(db, code, name, _lifetime()))
    _show(f"Department {code} ({name})", {"role": "department", "code": code, "name": name}, token, as_json)


@reviewer.command("add")
def reviewer_add(
    name: str = typer.Argument(help="The reviewer's name, as shown"),
    level: int = typer.Option(..., "--level", min=1, max=5, help="Review level: 1 保密审查, 2 发布审核, …"),
    holder: str = HOLDER,
    as_json: bool = AS_JSON,
) -> None:
    """Add a reviewer at a review level."""
    principal = Principal(name=name, role=Role.REVIEWER, level=level, holder=_holder(holder) or "")
    token = create_identity(lambda db: issue_token(db, principal, _lifetime()))
    _show(
        f"Reviewer {name} ({principal.holder}) at level {level}",
        {"role": "reviewer", "name": name, "holder": principal.holder, "level": level},
        token,
        as_json,
    )


@operator.command("add")
def operator_add(
    name: str = typer.Argument(help="The operator's name, as shown"),
    holder: str = HOLDER,
    as_json: bool = AS_JSON,
) -> None:
    """Add an operator."""
    principal = Principal(name=name, role=Role.OPERATOR, holder=_holder(holder) or "")
    token = create_identity(lambda db: issue_token(db, principal, _lifetime()))
    _show(
        f"Operator {name} ({principal.holder})",
        {"role": "operator", "name": name, "holder": principal.holder},
        token,
        as_json,
    )


def _shown_state(info: TokenInfo, now) -> str:
    """active; rotating (rotated, in its grace period); expiring (within GONGKAI_TOKEN_WARN_DAYS
    of its expiry); expired; revoked."""
    state = info.state(now)
    if state == TokenState.ACTIVE and info.replaced_by:
        return "rotating"
    return "expiring" if info.expires_soon(now, get_settings().token_warning) else state.value


def _row(info: TokenInfo, state: str) -> dict:
    return {**info.model_dump(mode="json"), "state": state}


def _day(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


@app.command("list")
def list_command(
    holder: str = typer.Option(None, "--holder", help="Only this holder's tokens"),
    every: bool = typer.Option(False, "--all", help="Also expired and revoked tokens"),
    expiring: bool = typer.Option(
        False, "--expiring", help="Only tokens within GONGKAI_TOKEN_WARN_DAYS of expiry"
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per token, one a line"),
) -> None:
    """List tokens: id, holder, role, created, expires, last used. Never the token itself."""
    now = utcnow()
    infos = create_identity(lambda db: list_tokens(db, holder))
    rows = [(i, _shown_state(i, now)) for i in infos]
    if expiring:
        rows = [(i, s) for i, s in rows if s == "expiring"]
    elif not every:
        rows = [(i, s) for i, s in rows if s in ("active", "rotating", "expiring")]
    if as_json:
        for info, state in rows:
            typer.echo(json.dumps(_row(info, state), ensure_ascii=False))
        return
    typer.echo(f"{'ID':16}  {'STATE':8}  {'ROLE':10}  {'HOLDER':20}  NAME / CREATED / EXPIRES / LAST USED")
    for info, state in rows:
        role = info.role.value + (f" {info.level}" if info.level else "")
        typer.echo(
            f"{info.token_id:16}  {state:8}  {role:10}  {info.holder:20}  {info.name}"
            f" / {_day(info.created_at)} / {_day(info.expires_at)} / {_day(info.last_used_at)}"
        )
    typer.echo(f"{len(rows)} token(s)" + ("" if every else "; --all shows expired and revoked ones too"))


@app.command("revoke")
def revoke_command(
    token_id: str = typer.Argument(help="The token's id, as `gongkai admin list` shows it"),
    reason: str = typer.Option("", "--reason", help="Why, kept with the token"),
    as_json: bool = typer.Option(False, "--json", help="Print the revoked token as JSON"),
) -> None:
    """Revoke a token at once: every service answers it 401 `Token revoked` from now on."""
    try:
        info = create_identity(lambda db: revoke_token(db, token_id, reason))
    except UnknownToken as error:
        _fail(str(error), USAGE)
    except TokenConflict as error:
        _fail(str(error), REFUSED)
    if as_json:
        typer.echo(json.dumps(_row(info, TokenState.REVOKED.value), ensure_ascii=False))
    else:
        typer.echo(f"Token {info.token_id} of {info.holder} revoked.")


@app.command("rotate")
def rotate_command(
    token_id: str = typer.Argument(help="The token's id, as `gongkai admin list` shows it"),
    grace_minutes: int = typer.Option(
        0,
        "--grace-minutes",
        min=0,
        max=MAX_GRACE_MINUTES,
        help="Keep the old token valid this long, so that its client can switch (default: revoke it at once)",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the old token's id and the new token as JSON"),
) -> None:
    """Issue a new token for the same holder, role and level, and revoke the old one."""
    grace = timedelta(minutes=grace_minutes)
    try:
        token, old = create_identity(lambda db: rotate_token(db, token_id, grace, _lifetime()))
    except UnknownToken as error:
        _fail(str(error), USAGE)
    except TokenConflict as error:
        _fail(str(error), REFUSED)
    if as_json:
        typer.echo(
            json.dumps(
                {**_row(old, _shown_state(old, utcnow())), "new_token_id": old.replaced_by, "token": token},
                ensure_ascii=False,
            )
        )
        return
    when = "now" if not grace_minutes else f"at {_day(old.revoked_at)} UTC"
    typer.echo(
        f"Token {old.token_id} of {old.holder} is replaced by {old.replaced_by}; the old one ends {when}."
    )
    typer.echo("The new token is shown only this once; it is stored only as its digest:")
    typer.echo(token)
