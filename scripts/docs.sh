#!/usr/bin/env bash
# Generates docs/swagger.json from the handlers' annotations (swag, pinned
# in go.mod) and finishes it (docs/gen: number formats, nullable map
# values). Never edit docs/swagger.json by hand: CI runs this and fails
# when the result differs from what is committed.
set -euo pipefail
cd "$(dirname "$0")/.."
go tool swag init --quiet -g doc.go -d ./handlers,./services -o ./docs --outputTypes json
go run ./docs/gen docs/swagger.json
