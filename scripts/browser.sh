#!/usr/bin/env bash
# Debian's Chromium for the browser tests (Playwright drives it; it never downloads a browser),
# and a CJK font, without which every Chinese page renders as empty boxes.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

has_cjk_font() { fc-list :lang=zh 2>/dev/null | grep -q .; }
if (command -v chromium >/dev/null || command -v chromium-browser >/dev/null) && has_cjk_font; then exit 0; fi
say "installing chromium and fonts-noto-cjk from Debian's packages…"
apt_install chromium fonts-noto-cjk ||
  die "the browser tests need Chromium and a CJK font; installing them failed (see $LOGS/provision.log).
  Install them by hand (Debian: apt-get install chromium fonts-noto-cjk)."
