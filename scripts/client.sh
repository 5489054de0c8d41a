#!/usr/bin/env bash
# Generates the Go client of the API under client/ from docs/swagger.json
# with go-swagger (pinned in go.mod): client/api (one package per tag) and
# client/models. Never edit client/ by hand: CI runs this and fails when
# the result differs from what is committed.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf client/api client/models
go tool swagger generate client -q -f docs/swagger.json -t client --client-package=api -A huizong
