"""The `gongkai` console script as an operator meets it: bad arguments, --version, help."""

import json
import subprocess

import pytest
import typer
from typer.testing import CliRunner

from cli.main import app
from shared.settings import get_settings
from tests.support import ROOT, free_port

runner = CliRunner()


def invoke(args: list[str], columns: int = 80, **env: str):
    return runner.invoke(app, args, env={"COLUMNS": str(columns), **env}, prog_name="gongkai")


# Each is refused before any server is asked: a usage error, exit 2, one clear message.
BAD_USAGE = [
    ["nosuch"],
    ["ready"],
    ["ready", "nosuch"],
    ["ready", "ingest", "--wait", "-1"],
    ["dlq", "list", "nosuch"],
    ["dlq", "list", "--limit", "0"],
    ["dlq", "replay"],
    ["dlq", "replay", "nosuch"],
    ["admin", "department", "add", "Bad.Code", "--name", "x"],
    ["admin", "department", "add", "finance"],
    ["admin", "reviewer", "add", "张三", "--level", "9"],
    ["admin", "operator", "add"],
    ["audit", "verify", "--nosuch"],
    ["stats", "rebuild", "--year", "1999"],
    ["import", "/nonexistent.csv"],
    ["import", "README.md", "--format", "xml"],
    ["demo", "--timeout", "0"],
    ["sandbox", "platform", "--port", "0"],
]


@pytest.mark.parametrize("args", BAD_USAGE, ids=" ".join)
def test_bad_usage_is_a_clean_error_with_exit_2(args):
    result = invoke(args)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # no traceback: typer's own usage error
    assert "Error" in result.output and "Usage: gongkai" in result.output


def test_ready_names_what_it_refuses():
    result = invoke(["ready", "ingest", "nosuch"], columns=200)
    assert "nosuch: not one of ingest, review, publish, stats, sandbox" in result.output


def test_the_console_script_has_a_version_and_no_traceback_on_bad_usage():
    script = str(ROOT / ".venv" / "bin" / "gongkai")
    version = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("gongkai ")
    bad = subprocess.run([script, "ready", "nosuch"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_bad_settings_are_a_clean_error_naming_the_variable():
    script = str(ROOT / ".venv" / "bin" / "gongkai")
    env = {"PATH": "/usr/bin:/bin", "GONGKAI_REVIEW_LEVELS": "9"}
    bad = subprocess.run([script, "ready", "ingest"], capture_output=True, text=True, timeout=60, env=env)
    assert bad.returncode == 2 and "GONGKAI_REVIEW_LEVELS" in bad.stderr and "Traceback" not in bad.stderr


def test_ready_answers_in_json_for_scripts():
    get_settings.cache_clear()
    try:  # nothing listens on a free port
        result = invoke(["ready", "ingest", "--json"], GONGKAI_INGEST_PORT=str(free_port()))
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    answer = json.loads(result.stdout)
    assert answer["ingest"]["ready"] is False and answer["ingest"]["error"]


def _commands(group: typer.Typer, path: tuple[str, ...] = ()):
    command = typer.main.get_command(group)
    yield from _walk(command, path)


def _walk(command, path):
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _walk(sub, (*path, name))


COMMANDS = [path for path, _ in _commands(app)]
# Where a script would read what a command prints, it can ask for JSON.
READ_BY_SCRIPTS = [
    ("ready",),
    ("demo",),
    ("import",),
    ("audit", "verify"),
    ("dlq", "list"),
    ("dlq", "replay"),
    ("stats", "rebuild"),
    ("admin", "department", "add"),
    ("admin", "reviewer", "add"),
    ("admin", "operator", "add"),
]


@pytest.mark.parametrize("path", READ_BY_SCRIPTS, ids=" ".join)
def test_json_where_a_script_reads_the_output(path):
    assert "--json" in invoke([*path, "--help"]).output


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "gongkai")
def test_help_reads_well_at_80_columns(path):
    result = invoke([*path, "--help"])
    assert result.exit_code == 0
    for placeholder in ("<bool>", "<str>", "<list[", "<file>", "<path>", "<int>", "<float>", "{"):
        assert placeholder not in result.output, placeholder
    assert all(len(line) <= 80 for line in result.output.splitlines())


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "gongkai")
def test_every_command_is_listed_with_one_whole_sentence(path):
    """A group lists each command by its help's first paragraph: one sentence, never cut."""
    command = dict(_commands(app))[path]
    first = (command.help or "").split("\n\n")[0]
    assert first and "\n" not in first and first.endswith(".") and len(first) <= 120, first
