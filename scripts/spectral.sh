#!/usr/bin/env bash
# Lints docs/swagger.json with Stoplight Spectral (the spectral:oas rules,
# adjusted in docs/spectral.yaml): any error or warning fails. Spectral is
# installed from npm, pinned, into a cache directory on first use (Node and
# npm from Debian when missing and running as root).
set -euo pipefail
cd "$(dirname "$0")/.."
version=6.15.0
cache="${XDG_CACHE_HOME:-$HOME/.cache}/huizong/spectral-$version"
if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
  else
    echo "spectral: npm is missing (apt-get install nodejs npm)"; exit 1
  fi
fi
if [ ! -x "$cache/node_modules/.bin/spectral" ]; then
  mkdir -p "$cache"
  npm install --silent --no-audit --no-fund --prefix "$cache" "@stoplight/spectral-cli@$version" >/dev/null
fi
"$cache/node_modules/.bin/spectral" lint --fail-severity warn -r docs/spectral.yaml docs/swagger.json
