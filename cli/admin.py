"""`gongkai admin …`: identities. Each command prints the new token alone on its last line."""

import asyncio
import json
import re

import typer

from cli.command import App
from shared.auth import Principal, add_department, issue_token
from shared.domain import DEPARTMENT_CODE, Role
from shared.mongo import connect, database_of
from shared.settings import get_settings

app = App(help="Manage departments, reviewers and operators.")
department = App(help="Departments that submit items.")
reviewer = App(help="Reviewers, each at one review level.")
operator = App(help="Operators who run the system.")
AS_JSON = typer.Option(False, "--json", help="Print the identity and its token as one JSON object")
app.add_typer(department, name="department")
app.add_typer(reviewer, name="reviewer")
app.add_typer(operator, name="operator")

# Department codes become keys of statistics documents: no dots, no `$`.
CODE = re.compile(DEPARTMENT_CODE)


async def _with_identity(action):
    settings = get_settings()
    client = connect(settings)
    try:
        return await action(database_of(client, settings, "identity"))
    finally:
        await client.close()


def create_identity(action) -> str:
    return asyncio.run(_with_identity(action))


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
    """Add a department (or give an existing one a further token)."""
    if not CODE.match(code):
        raise typer.BadParameter("lowercase letters, digits, '-' and '_', at most 40", param_hint="CODE")
    token = create_identity(lambda db: add_department(db, code, name))
    _show(f"Department {code} ({name})", {"role": "department", "code": code, "name": name}, token, as_json)


@reviewer.command("add")
def reviewer_add(
    name: str = typer.Argument(help="The reviewer's name; one name is one person"),
    level: int = typer.Option(..., "--level", min=1, max=5, help="Review level: 1 保密审查, 2 发布审核, …"),
    as_json: bool = AS_JSON,
) -> None:
    """Add a reviewer at a review level."""
    principal = Principal(name=name, role=Role.REVIEWER, level=level)
    token = create_identity(lambda db: issue_token(db, principal))
    _show(
        f"Reviewer {name} at level {level}",
        {"role": "reviewer", "name": name, "level": level},
        token,
        as_json,
    )


@operator.command("add")
def operator_add(name: str = typer.Argument(help="The operator's name"), as_json: bool = AS_JSON) -> None:
    """Add an operator."""
    principal = Principal(name=name, role=Role.OPERATOR)
    token = create_identity(lambda db: issue_token(db, principal))
    _show(f"Operator {name}", {"role": "operator", "name": name}, token, as_json)
