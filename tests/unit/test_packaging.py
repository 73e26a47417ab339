"""What the code imports is what pyproject.toml declares (deptry, as `make lint` runs it)."""

import subprocess

from tests.support import ROOT


def test_every_import_is_a_declared_dependency():
    deptry = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "deptry"), "."], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert deptry.returncode == 0, deptry.stdout + deptry.stderr
