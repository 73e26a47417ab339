#!/usr/bin/env bash
# What the browser tests need: Debian's Chromium (Playwright drives it; it never downloads a
# browser), a CJK font, without which every Chinese page renders as empty boxes, and axe-core
# from npm exactly as package-lock.json pins it (the tests inject it into the pages they check).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

has_cjk_font() { fc-list :lang=zh 2>/dev/null | grep -q .; }
if ! { (command -v chromium >/dev/null || command -v chromium-browser >/dev/null) && has_cjk_font; }; then
  say "installing chromium and fonts-noto-cjk from Debian's packages…"
  apt_install chromium fonts-noto-cjk ||
    die "the browser tests need Chromium and a CJK font; installing them failed (see $LOGS/provision.log).
  Install them by hand (Debian: apt-get install chromium fonts-noto-cjk)."
fi

# npm ci empties node_modules each time, so it runs only when the lock file changed since the last
# install (its checksum is kept beside what it installed): a second run costs nothing.
cd "$ROOT"
stamp="node_modules/.gongkai-lock.sha256"
wanted="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [[ ! -f node_modules/axe-core/axe.min.js ]] || [[ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]]; then
  if ! command -v npm >/dev/null; then
    say "installing nodejs and npm from Debian's packages…"
    apt_install nodejs npm || die "the browser tests need npm for axe-core; apt-get install nodejs npm failed"
  fi
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error </dev/null >>"$LOGS/provision.log" 2>&1 ||
    die "npm ci failed (see $LOGS/provision.log)"
  echo "$wanted" >"$stamp"
fi
