#!/usr/bin/env bash
# Unpacks Debian's OpenBLAS (libopenblas0-pthread) into .cache/openblas for the PyTorch anchor of
# `npm run bench` (bench/anchors/run.ts finds it there and loads it into that one process through
# LD_LIBRARY_PATH). Nothing is installed system-wide: Debian's torch links the reference BLAS,
# which is about 20x slower and would make a poor anchor.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.cache/openblas
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp" # apt-get download runs as the _apt user when it can
(cd "$tmp" && apt-get download libopenblas0-pthread 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
deb=$(ls "$tmp"/libopenblas0-pthread_*.deb 2>/dev/null | head -1)
if [ -z "$deb" ]; then
  echo "fetch-openblas: apt-get download libopenblas0-pthread failed (no Debian package source?)" >&2
  exit 1
fi
rm -rf "$dest" && mkdir -p "$dest"
dpkg -x "$deb" "$dest"
ls -d "$dest"/usr/lib/*/openblas-pthread
