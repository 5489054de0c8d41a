#!/usr/bin/env bash
# Runs the README's walk through the API, exactly as written: every ```sh
# block between <!-- walkthrough:start --> and <!-- walkthrough:end -->
# of the Markdown file given as the first argument (default README.md;
# e.g. `bash scripts/walkthrough.sh README.zh-CN.md` for the Chinese one),
# in one bash with errexit, against a fresh server on a free port. Any
# failing call (curl -f) fails the script; then a few answers are checked:
# the drill record got approved, the district totals count it once, the
# imported teachers exist, the task's progress answers for the school and it
# is missing from the task (one record short), the audit log holds the
# district admin's password change.
set -euo pipefail
# The file: a path from here, else from the repository root (README.md).
md=${1:-README.md}
if [ -f "$md" ]; then md="$(cd "$(dirname "$md")" && pwd)/$(basename "$md")"; fi
cd "$(dirname "$0")/.."
[ -f "$md" ] || { echo "walkthrough: no such file: $md"; exit 1; }

tmp=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

go build -o "$tmp/huizong" ./cmd/huizong

# A free port, with bash alone: one nothing answers on.
port=""
for _ in $(seq 50); do
  p=$((20000 + RANDOM % 40000))
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
done
[ -n "$port" ] || { echo "walkthrough: no free port found"; exit 1; }

# What the README's first block sets up (a fresh data dir, the admin password),
# here in the temp dir; BASE points the blocks at this server.
export HUIZONG_ADMIN_PASSWORD='Change-me-2025' HUIZONG_DATA_DIR="$tmp/data" HUIZONG_ADDR="127.0.0.1:$port"
export HUIZONG_LOG_LEVEL=warn HUIZONG_SHUTDOWN_DELAY=0s BASE="http://127.0.0.1:$port"
"$tmp/huizong" >"$tmp/server.log" 2>&1 &
server_pid=$!
for i in $(seq 150); do
  curl -sf "$BASE/readyz" >/dev/null 2>&1 && break
  if ! kill -0 "$server_pid" 2>/dev/null || [ "$i" = 150 ]; then
    echo "walkthrough: the server did not start; its log:"; cat "$tmp/server.log"; exit 1
  fi
  sleep 0.2
done

# The blocks, in order, as one script.
{
  echo 'trap '\''echo "walkthrough: failed at line $LINENO of the blocks: $BASH_COMMAND" >&2'\'' ERR'
  awk '/<!-- walkthrough:start -->/{on=1; next} /<!-- walkthrough:end -->/{on=0} on && /^```sh$/{code=1; next} on && /^```$/{code=0; next} on && code' "$md"
} >"$tmp/walk.sh"
lines=$(($(wc -l <"$tmp/walk.sh") - 1))
if [ "$lines" -lt 20 ]; then
  echo "walkthrough: found only $lines lines between the markers of $md"; exit 1
fi
start=$(date +%s)
cat >>"$tmp/walk.sh" <<'CHECKS'
# Checks on what the walk made.
status=$(api GET "/api/v1/records/$RECORD" "$PRINCIPAL" | field status)
[ "$status" = approved ] || { echo "walkthrough: the record is $status, want approved"; exit 1; }
totals=$(api GET "/api/v1/totals?org_id=$DISTRICT&template=safety_drill" "$DISTRICT_ADMIN")
echo "$totals" | grep -q '"count":1[,}]' || { echo "walkthrough: district totals, want count 1: $totals"; exit 1; }
echo "$totals" | grep -q '"students":1650[,}]' || { echo "walkthrough: district totals, want 1650 students: $totals"; exit 1; }
teachers=$(api GET "/api/v1/users?org_id=$SCHOOL&role=teacher" "$PRINCIPAL")
echo "$teachers" | grep -q '李老师' || { echo "walkthrough: the imported teachers are missing: $teachers"; exit 1; }
progress=$(api GET "/api/v1/tasks/$TASK/progress" "$DISTRICT_ADMIN")
echo "$progress" | grep -q "\"school_id\":\"$SCHOOL\"" || { echo "walkthrough: task progress without the school: $progress"; exit 1; }
missing=$(api GET "/api/v1/tasks/$TASK/missing" "$DISTRICT_ADMIN")
echo "$missing" | grep -q "$SCHOOL" || { echo "walkthrough: the school is not missing from the task: $missing"; exit 1; }
audit=$(api GET "/api/v1/audit?kind=password_changed" "$DISTRICT_ADMIN")
echo "$audit" | grep -q '"subject_name":"chenghua"' || { echo "walkthrough: the audit log lacks the district admin's password change: $audit"; exit 1; }
CHECKS
if ! bash -euo pipefail "$tmp/walk.sh" >"$tmp/walk.out" 2>&1; then
  echo "walkthrough: failed; its output:"; cat "$tmp/walk.out"
  echo "--- server log:"; tail -20 "$tmp/server.log"
  exit 1
fi
echo "walkthrough: the $lines lines of $(basename "$md") ran against a fresh server in $(( $(date +%s) - start )) s"
