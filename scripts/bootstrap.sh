#!/usr/bin/env bash
# The virtual environment at .venv, exactly as uv.lock pins it. uv itself is installed from PyPI
# into .state/tools, so nothing but python3 (3.11+) is needed beforehand.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

UV_VERSION="0.13.8"
UV="$TOOLS/bin/uv"
command -v python3 >/dev/null || die "python3 (3.11 or newer) is needed: apt-get install python3 python3-venv"
if [[ ! -x "$UV" ]] || [[ "$("$UV" --version)" != "uv $UV_VERSION"* ]]; then
  python3 -m venv "$TOOLS" || die "python3 -m venv failed: apt-get install python3-venv"
  "$TOOLS/bin/pip" install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi
cd "$ROOT"
UV_PROJECT_ENVIRONMENT="$ROOT/.venv" "$UV" sync --frozen --quiet
