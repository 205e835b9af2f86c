#!/usr/bin/env bash
# Browser tests' system packages: Debian's chromium (driven by Playwright for Python, which
# requirements-dev.txt installs) and a CJK font so Chinese names render in screenshots.
# Idempotent: installs only what is missing. Never runs `playwright install` (no download).
set -euo pipefail

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
fc-list 2>/dev/null | grep -qi "wenquanyi\|noto sans cjk" || missing+=(fonts-wqy-microhei)

if [ ${#missing[@]} -eq 0 ]; then
  echo "ci_browser_setup: chromium and fonts present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo -n"; fi
echo "ci_browser_setup: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
/usr/bin/chromium --version
