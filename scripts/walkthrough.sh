#!/usr/bin/env bash
# Runs the README's walk through the API, exactly as written: every ```sh
# block between <!-- walkthrough:start --> and <!-- walkthrough:end -->,
# in one bash with errexit, against a fresh server on a free port. Any
# failing call (curl -f) fails the script; then a few answers are checked.
set -euo pipefail
cd "$(dirname "$0")/.."

tmp=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

go build -o "$tmp/huizong" ./cmd/huizong
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 18080)
export HUIZONG_ADMIN_PASSWORD='Change-me-2025' HUIZONG_DATA_DIR="$tmp/data" HUIZONG_ADDR="127.0.0.1:$port"
export HUIZONG_LOG_LEVEL=warn HUIZONG_SHUTDOWN_DELAY=0s BASE="http://127.0.0.1:$port"
"$tmp/huizong" >"$tmp/server.log" 2>&1 &
server_pid=$!

# The blocks, in order, as one script.
awk '/<!-- walkthrough:start -->/{on=1; next} /<!-- walkthrough:end -->/{on=0} on && /^```sh$/{code=1; next} on && /^```$/{code=0; next} code' README.md >"$tmp/walk.sh"
lines=$(wc -l <"$tmp/walk.sh")
if [ "$lines" -lt 20 ]; then
  echo "walkthrough: found only $lines lines between the README's markers"; exit 1
fi
start=$(date +%s)
cat >>"$tmp/walk.sh" <<'CHECKS'
# Checks on what the walk made.
status=$(api GET "/api/v1/records/$RECORD" "$PRINCIPAL" | field status)
[ "$status" = approved ] || { echo "walkthrough: the record is $status, want approved"; exit 1; }
totals=$(api GET "/api/v1/totals?org_id=$DISTRICT&period=2025AY&template=safety_drill" "$DISTRICT_ADMIN")
echo "$totals" | grep -q '"count":1' || { echo "walkthrough: district totals: $totals"; exit 1; }
echo "$totals" | grep -q '"students":1650' || { echo "walkthrough: district totals: $totals"; exit 1; }
teachers=$(api GET "/api/v1/users?org_id=$SCHOOL&role=teacher&count=true" "$PRINCIPAL")
echo "$teachers" | grep -q '李老师' || { echo "walkthrough: the imported teachers are missing: $teachers"; exit 1; }
api GET "/api/v1/tasks/$TASK/progress" "$DISTRICT_ADMIN" | grep -q '"schools' || { echo "walkthrough: task progress"; exit 1; }
CHECKS
if ! bash -euo pipefail "$tmp/walk.sh" >"$tmp/walk.out" 2>&1; then
  echo "walkthrough: failed; its output:"; cat "$tmp/walk.out"
  echo "--- server log:"; tail -20 "$tmp/server.log"
  exit 1
fi
echo "walkthrough: the README's $lines lines ran against a fresh server in $(( $(date +%s) - start )) s"
