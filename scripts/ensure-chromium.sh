#!/usr/bin/env bash
# Makes sure Debian's Chromium is at /usr/bin/chromium for the browser test
# (spec/browser/browser.spec.ts). Does nothing when it is already there; otherwise installs the
# `chromium` package with apt-get (needs root). Fails loudly when it cannot.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then exit 0; fi
echo "ensure-chromium: /usr/bin/chromium is missing; installing Debian's chromium package..." >&2
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: no apt-get here: install Chromium so that /usr/bin/chromium exists, then rerun." >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "ensure-chromium: not root and no sudo: run 'apt-get install -y chromium' as root." >&2
    exit 1
  fi
fi
log=$(mktemp)
if ! { $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "ensure-chromium: 'apt-get install chromium' failed (output above)." >&2
  exit 1
fi
rm -f "$log"
if [ ! -x /usr/bin/chromium ]; then
  echo "ensure-chromium: the chromium package installed, but /usr/bin/chromium is still missing." >&2
  exit 1
fi
echo "ensure-chromium: $(/usr/bin/chromium --version 2>/dev/null | head -1)" >&2
