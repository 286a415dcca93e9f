#!/usr/bin/env bash
# A browser for the browser test (spec/browser/browser.spec.ts).
#
#   bash scripts/ensure-chromium.sh            (npm's pretest) says which browser the test will use
#                                              (scripts/find-browser.mjs: CHROME_PATH, playwright-
#                                              core's own, the usual install locations, the PATH), or
#                                              that the browser test will be SKIPPED. Installs
#                                              nothing, and always exits 0.
#   bash scripts/ensure-chromium.sh --install  the same, and when no browser is found installs
#                                              Debian's/Ubuntu's `chromium` with apt-get: directly
#                                              as root, otherwise through sudo, after saying so.
#                                              Fails loudly when it cannot (CI uses this).
set -euo pipefail
cd "$(dirname "$0")/.."
install=no
if [ "${1-}" = "--install" ]; then install=yes; fi

if found=$(node scripts/find-browser.mjs 2>/dev/null); then
  echo "ensure-chromium: the browser test will use $found" >&2
  exit 0
fi
how=$(node --input-type=module -e "import { HOW_TO_GET_ONE } from './scripts/find-browser.mjs'; console.log(HOW_TO_GET_ONE)")

if [ "$install" = no ]; then
  {
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
    echo "!! ensure-chromium: no Chromium, Chrome or Edge found: spec/browser will be SKIPPED."
    node scripts/find-browser.mjs 2>&1 | sed 's/^/!!   /' || true
    echo "!! To run it: $how."
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
  } >&2
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: no browser found and no apt-get here to install one: $how." >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "ensure-chromium: not root and no sudo: run 'apt-get install -y chromium' as root." >&2
    exit 1
  fi
  echo "ensure-chromium: installing Debian's chromium package with 'sudo apt-get' (sudo may ask for your password)..." >&2
  sudo="sudo"
else
  echo "ensure-chromium: installing Debian's chromium package with apt-get..." >&2
fi
log=$(mktemp)
if ! { $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "ensure-chromium: 'apt-get install chromium' failed (output above)." >&2
  exit 1
fi
rm -f "$log"
if ! found=$(node scripts/find-browser.mjs); then
  echo "ensure-chromium: the chromium package installed, but no browser is found (above)." >&2
  exit 1
fi
echo "ensure-chromium: the browser test will use $found ($("$found" --version 2>/dev/null | head -1))" >&2
