#!/usr/bin/env bash
# Debian's Chromium for the browser tests (Playwright drives it; it never downloads a browser),
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# and a CJK font, without which every Chinese page renders as empty boxes.
has_cjk_font() { fc-list :lang=zh 2>/dev/null | grep -q .; }
if (command -v chromium >/dev/null || command -v chromium-browser >/dev/null) && has_cjk_font; then exit 0; fi
command -v apt-get >/dev/null ||
  die "the browser tests need Chromium and a CJK font: install them (Debian: apt-get install chromium fonts-noto-cjk)"
say "installing chromium and fonts-noto-cjk from Debian's packages…"
if [[ -z "$(find /var/lib/apt/lists -name '*Packages*' -print -quit 2>/dev/null)" ]]; then
  apt-get update -q >>"$LOGS/provision.log" 2>&1
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-noto-cjk >>"$LOGS/provision.log" 2>&1 ||
  die "installing chromium failed; see $LOGS/provision.log"
