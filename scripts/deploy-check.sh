#!/usr/bin/env bash
# Tests the example deployment in deploy/ for real, as docs/deploy.md
# describes it:
#   - deploy/nginx.conf, rendered with free ports and a throwaway self-signed
#     certificate, passes `nginx -t` and, in front of a freshly built huizong
#     started with deploy/huizong.service's settings, answers /readyz and /
#     over TLS 1.2 and 1.3, redirects plain HTTP, passes the client address
#     (X-Forwarded-For, believed because of HUIZONG_TRUSTED_PROXIES), leaves
#     compression to huizong, lets a 10 MiB attachment through to huizong and
#     refuses a 12 MiB body itself;
#   - deploy/huizong-backup.service's commands make a backup of the running
#     server, delete only copies older than 30 days, and the copy restores;
#   - systemd-analyze verify accepts the three units (when it is installed;
#     only the missing /usr/local/bin/huizong is tolerated).
# Installs nginx and openssl with apt-get when they are missing and this runs
# as root. Everything runs on 127.0.0.1 and lives in one temp dir, removed
# on exit. Exit status 0 when every check passed.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "deploy-check: $*"; }
tmp=$(mktemp -d)
huizong_pid=""
nginx_pid=""
show_logs=1
# fail MESSAGE: says what failed, shows the logs that explain it, exits 1.
fail() {
  echo "deploy-check: FAILED: $*" >&2
  [ -n "$show_logs" ] || exit 1
  if [ -s "$tmp/huizong.log" ]; then echo "--- huizong log (last 20 lines):" >&2; tail -20 "$tmp/huizong.log" >&2; fi
  if [ -s "$tmp/logs/error.log" ]; then echo "--- nginx error log (last 20 lines):" >&2; tail -20 "$tmp/logs/error.log" >&2; fi
  if [ -s "$tmp/logs/nginx.out" ]; then echo "--- nginx output:" >&2; tail -20 "$tmp/logs/nginx.out" >&2; fi
  exit 1
}
stop() { # stop PID: TERM, then wait for it
  [ -n "$1" ] || return 0
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
cleanup() {
  stop "$nginx_pid"
  stop "$huizong_pid"
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# --- tools --------------------------------------------------------------
apt_updated=""
apt_install() { # apt_install PACKAGE: quietly, updating the lists once if needed
  if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$1" >>"$tmp/apt.log" 2>&1; then
    return 0
  fi
  [ -z "$apt_updated" ] || return 1
  apt_updated=1
  apt-get update -qq >>"$tmp/apt.log" 2>&1 || return 1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$1" >>"$tmp/apt.log" 2>&1
}
find_tool() { # find_tool NAME: its path (also from /usr/sbin, off a user's PATH)
  command -v "$1" 2>/dev/null || { [ -x "/usr/sbin/$1" ] && echo "/usr/sbin/$1"; } || true
}
need() { # need COMMAND PACKAGE...: the command's path, installing the first package that installs
  local cmd=$1 path pkg; shift
  path=$(find_tool "$cmd")
  if [ -z "$path" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    for pkg in "$@"; do
      echo "deploy-check: installing $pkg (for $cmd)" >&2
      if apt_install "$pkg"; then break; fi
    done
    path=$(find_tool "$cmd")
  fi
  if [ -z "$path" ]; then
    [ ! -s "$tmp/apt.log" ] || tail -5 "$tmp/apt.log" >&2
    fail "$cmd is not installed, and could not be installed here (apt-get install $*, as root)"
  fi
  echo "$path"
}
command -v go >/dev/null 2>&1 || fail "go is not installed"
command -v curl >/dev/null 2>&1 || fail "curl is not installed"
nginx=$(need nginx nginx nginx-light)
openssl=$(need openssl openssl)
say "$("$nginx" -v 2>&1), $("$openssl" version)"

# --- free ports, with bash alone: ones nothing answers on --------------
taken=" "
free_port() {
  local p
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 40000))
    case "$taken" in *" $p "*) continue ;; esac
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then taken="$taken$p "; echo "$p"; return 0; fi
  done
  return 1
}
up=$(free_port) && https_port=$(free_port) && http_port=$(free_port) || fail "no free local port found"

# --- huizong, with the unit's settings ----------------------------------
# unit_env UNIT: the unit's Environment= lines into unit_vars, NAME=value
# each, with the machine's paths and port turned into this test's.
unit_env() {
  local line
  unit_vars=()
  while IFS= read -r line; do
    case "$line" in
      *[\ \"\']*) fail "$1: Environment=$line: only NAME=value without spaces or quotes is understood here" ;;
      [A-Z]*=*) ;;
      *) fail "$1: Environment=$line is not NAME=value" ;;
    esac
    line=${line//\/var\/lib\/huizong-backups/$tmp/backups}
    line=${line//\/var\/lib\/huizong/$tmp/data}
    line=${line//127.0.0.1:8080/127.0.0.1:$up}
    unit_vars+=("$line")
  done < <(sed -n 's/^Environment=//p' "$1")
}
unit=deploy/huizong.service
[ -f "$unit" ] || fail "$unit is missing"
unit_env "$unit"
server_env=("${unit_vars[@]}")
printf '%s\n' "${server_env[@]}" | grep -qx "HUIZONG_ADDR=127.0.0.1:$up" ||
  fail "$unit must set Environment=HUIZONG_ADDR=127.0.0.1:8080 (the address deploy/nginx.conf forwards to)"
printf '%s\n' "${server_env[@]}" | grep -qx "HUIZONG_DATA_DIR=$tmp/data" ||
  fail "$unit must set Environment=HUIZONG_DATA_DIR=/var/lib/huizong (its StateDirectory)"
printf '%s\n' "${server_env[@]}" | grep -q '^HUIZONG_TRUSTED_PROXIES=\(.*,\)\?127\.0\.0\.1\(,.*\)\?$' ||
  fail "$unit must set HUIZONG_TRUSTED_PROXIES to include 127.0.0.1, or nginx's X-Forwarded-For is ignored"
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
[ "$exec_start" = "/usr/local/bin/huizong serve" ] || fail "$unit: ExecStart=$exec_start, want /usr/local/bin/huizong serve"
grep -q '^StateDirectory=huizong$' "$unit" || fail "$unit must have StateDirectory=huizong"

say "building huizong"
go build -o "$tmp/huizong" ./cmd/huizong || fail "go build ./cmd/huizong"
mkdir -p "$tmp/data" "$tmp/backups" "$tmp/logs" "$tmp/temp" "$tmp/tls"
chmod 0700 "$tmp/data" "$tmp/backups"
# As systemd runs it: from the state directory, with the unit's environment
# only (no MONGODB_URI, HUIZONG_CONFIG or other settings from this shell).
# HUIZONG_LOG_LEVEL=info: the X-Forwarded-For check reads the access log.
(cd "$tmp/data" && exec env -i PATH="$PATH" HOME="$tmp" "${server_env[@]}" HUIZONG_LOG_LEVEL=info HUIZONG_SHUTDOWN_DELAY=0s \
  "$tmp/huizong" serve) >"$tmp/huizong.log" 2>&1 &
huizong_pid=$!
for i in $(seq 150); do
  curl -sf "http://127.0.0.1:$up/readyz" >/dev/null 2>&1 && break
  kill -0 "$huizong_pid" 2>/dev/null || fail "huizong did not start"
  [ "$i" != 150 ] || fail "huizong did not answer /readyz on 127.0.0.1:$up within 30 s"
  sleep 0.2
done
say "huizong is up on 127.0.0.1:$up"

# --- a throwaway certificate, valid for 127.0.0.1 -----------------------
"$openssl" req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
  -keyout "$tmp/tls/privkey.pem" -out "$tmp/tls/fullchain.pem" >"$tmp/openssl.log" 2>&1 ||
  { cat "$tmp/openssl.log" >&2; fail "openssl could not make a self-signed certificate"; }
cacert="$tmp/tls/fullchain.pem"

# --- deploy/nginx.conf, rendered ----------------------------------------
conf=deploy/nginx.conf
[ -f "$conf" ] || fail "$conf is missing"
# Each placeholder must be there, or the rendering below would test nothing.
for want in 'listen 443 ssl;' 'listen 80;' 'server 127.0.0.1:8080;' \
  '/etc/ssl/huizong/fullchain.pem;' '/etc/ssl/huizong/privkey.pem;'; do
  grep -qF -- "$want" "$conf" || fail "$conf no longer has '$want': update scripts/deploy-check.sh along with it"
done
# The IPv6 listeners are dropped (this machine may have no IPv6); the rest
# is the file as it is.
sed -e '/^[[:space:]]*listen[[:space:]]\+\[::\]/d' \
  -e "s|listen 443 ssl;|listen 127.0.0.1:$https_port ssl;|" \
  -e "s|listen 80;|listen 127.0.0.1:$http_port;|" \
  -e "s|127\.0\.0\.1:8080|127.0.0.1:$up|g" \
  -e "s|/etc/ssl/huizong/fullchain\.pem|$tmp/tls/fullchain.pem|g" \
  -e "s|/etc/ssl/huizong/privkey\.pem|$tmp/tls/privkey.pem|g" \
  "$conf" >"$tmp/huizong.conf"
if grep -n -e '/etc/ssl/huizong' -e ':8080' -e 'listen 443' -e 'listen 80' "$tmp/huizong.conf" >&2; then
  fail "rendering $conf left the lines above unchanged"
fi
# Around it, what /etc/nginx/nginx.conf would give, every path in the temp
# dir so nginx runs without touching the machine's; as root the workers run
# as root too (the temp dir is root's alone).
{
  [ "$(id -u)" != 0 ] || echo "user root;"
  cat <<EOF
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/logs/error.log warn;
events { worker_connections 64; }
http {
    access_log $tmp/logs/access.log;
    client_body_temp_path $tmp/temp/body;
    proxy_temp_path $tmp/temp/proxy;
    fastcgi_temp_path $tmp/temp/fastcgi;
    uwsgi_temp_path $tmp/temp/uwsgi;
    scgi_temp_path $tmp/temp/scgi;
    include $tmp/huizong.conf;
}
EOF
} >"$tmp/nginx.conf"
# -e (nginx 1.19.5+) keeps nginx off the compiled-in error log even before
# it has read the configuration.
nginx_args=(-p "$tmp/" -c "$tmp/nginx.conf")
if "$nginx" -h 2>&1 | grep -q -- '-e filename'; then nginx_args+=(-e "$tmp/logs/error.log"); fi
"$nginx" -t "${nginx_args[@]}" >"$tmp/logs/nginx-t.out" 2>&1 || { cat "$tmp/logs/nginx-t.out" >&2; fail "nginx -t rejects $conf"; }
grep -q 'test is successful' "$tmp/logs/nginx-t.out" || { cat "$tmp/logs/nginx-t.out" >&2; fail "nginx -t did not report success"; }
say "nginx -t accepts $conf"

"$nginx" "${nginx_args[@]}" -g 'daemon off;' >"$tmp/logs/nginx.out" 2>&1 &
nginx_pid=$!
base="https://127.0.0.1:$https_port"
for i in $(seq 100); do
  curl -s -o /dev/null --cacert "$cacert" "$base/healthz" 2>/dev/null && break
  kill -0 "$nginx_pid" 2>/dev/null || fail "nginx did not start"
  [ "$i" != 100 ] || fail "nginx did not answer on $base within 20 s"
  sleep 0.2
done
say "nginx is up on 127.0.0.1:$https_port (TLS) and 127.0.0.1:$http_port"

# --- through nginx ------------------------------------------------------
# get NAME URL [CURL ARGS...]: the status; body in $tmp/NAME.body, headers in $tmp/NAME.headers.
get() {
  local name=$1 url=$2; shift 2
  curl -s --show-error --cacert "$cacert" -o "$tmp/$name.body" -D "$tmp/$name.headers" -w '%{http_code}' "$@" "$url" ||
    fail "$name: curl $url failed"
}
header() { tr -d '\r' <"$tmp/$1.headers" | sed -n "s/^$2: //Ip"; }

code=$(get readyz "$base/readyz")
[ "$code" = 200 ] || fail "GET $base/readyz through nginx: $code, want 200: $(cat "$tmp/readyz.body")"
grep -q '"status":"ok"' "$tmp/readyz.body" || fail "/readyz through nginx: $(cat "$tmp/readyz.body")"
say "ok: GET /readyz through nginx: 200 $(cat "$tmp/readyz.body")"

code=$(get root "$base/")
[ "$code" = 200 ] || fail "GET $base/ through nginx: $code, want 200"
grep -q '"name":"huizong"' "$tmp/root.body" || fail "GET / through nginx is not huizong's: $(cat "$tmp/root.body")"
[ -n "$(header root Strict-Transport-Security)" ] || fail "no Strict-Transport-Security header on the TLS server"
say "ok: GET / through nginx: 200, with HSTS"

for v in 1.2 1.3; do
  code=$(get "tls$v" "$base/readyz" --tlsv"$v" --tls-max "$v")
  [ "$code" = 200 ] || fail "TLS $v: $code, want 200"
done
say "ok: TLS 1.2 and TLS 1.3"

code=$(get redirect "http://127.0.0.1:$http_port/readyz")
location=$(header redirect Location)
[ "$code" = 301 ] && [[ "$location" == https://* ]] || fail "plain HTTP: $code Location $location, want 301 to https://"
say "ok: plain HTTP redirects to $location"

# The client's address reaches huizong: nginx appends the peer to
# X-Forwarded-For, huizong believes the chain because 127.0.0.1 is a
# trusted proxy, and logs the address before it.
code=$(get forwarded "$base/readyz?xff" -H 'X-Forwarded-For: 203.0.113.7')
[ "$code" = 200 ] || fail "GET /readyz with X-Forwarded-For: $code"
for i in $(seq 25); do
  grep -q '"path":"/readyz".*"ip":"203\.0\.113\.7"' "$tmp/huizong.log" && break
  [ "$i" != 25 ] || fail "huizong did not log the forwarded client address 203.0.113.7 (HUIZONG_TRUSTED_PROXIES, X-Forwarded-For)"
  sleep 0.2
done
say "ok: X-Forwarded-For counts (huizong logged the client as 203.0.113.7)"

# Compression is huizong's: gzip once, and the body is still JSON. (gzip off
# is checked as written: Debian's nginx.conf turns gzip on for the whole http
# block, and with gzip_types widened nginx would compress the photos, PDFs
# and Office files huizong deliberately sends as they are.)
grep -q '^[[:space:]]*gzip off;' "$conf" || fail "$conf must say gzip off; (huizong compresses its answers itself)"
# The spec (a few hundred KiB) is gzipped; an answer under 1 KiB is not.
code=$(get gzip "$base/swagger/doc.json" --compressed)
[ "$code" = 200 ] || fail "GET /swagger/doc.json with gzip: $code"
[ "$(header gzip Content-Encoding)" = gzip ] || fail "GET /swagger/doc.json with Accept-Encoding gzip: Content-Encoding '$(header gzip Content-Encoding)', want gzip (from huizong)"
[ "$(tr -d '\r' <"$tmp/gzip.headers" | grep -ci '^content-encoding:')" = 1 ] || fail "Content-Encoding sent more than once"
grep -q '"swagger":"2.0"\|"swagger": "2.0"' "$tmp/gzip.body" || fail "the gzipped answer does not decompress to huizong's spec"
code=$(get small "$base/" -H 'Accept-Encoding: gzip')
[ "$code" = 200 ] || fail "GET / with gzip: $code"
[ -z "$(header small Content-Encoding)" ] || fail "GET / (under 1 KiB) came gzipped: Content-Encoding '$(header small Content-Encoding)'"
grep -q '"name":"huizong"' "$tmp/small.body" || fail "GET /: $(cat "$tmp/small.body")"
say "ok: large answers are gzipped once, by huizong; small ones go plain"

# Bodies: a full-size attachment (10 MiB) reaches huizong (which answers
# 401 here, signed out: its problem JSON, not nginx's 413); 12 MiB is
# refused by nginx itself.
head -c $((10 << 20)) /dev/zero >"$tmp/10MiB.bin"
head -c $((12 << 20)) /dev/zero >"$tmp/12MiB.bin"
code=$(get upload "$base/api/v1/attachments" -F client_id=7d1f2c9e-0b5a-4c1e-9a3f-2e6b8d4c1a90 -F "file=@$tmp/10MiB.bin")
ctype=$(header upload Content-Type)
[ "$code" = 401 ] && [[ "$ctype" == application/problem+json* ]] ||
  fail "a 10 MiB upload through nginx: $code $ctype, want huizong's 401 problem (client_max_body_size too small?)"
code=$(get toolarge "$base/api/v1/attachments" -F client_id=7d1f2c9e-0b5a-4c1e-9a3f-2e6b8d4c1a90 -F "file=@$tmp/12MiB.bin")
[ "$code" = 413 ] || fail "a 12 MiB upload through nginx: $code, want 413"
rm -f "$tmp/10MiB.bin" "$tmp/12MiB.bin"
say "ok: client_max_body_size lets a 10 MiB attachment through and stops 12 MiB"

# --- deploy/huizong-backup.service, its commands as systemd runs them ------
bunit=deploy/huizong-backup.service
[ -f "$bunit" ] || fail "$bunit is missing"
unit_env "$bunit"
backup_env=("${unit_vars[@]}")
printf '%s\n' "${backup_env[@]}" | grep -qx "HUIZONG_DATA_DIR=$tmp/data" ||
  fail "$bunit must set Environment=HUIZONG_DATA_DIR=/var/lib/huizong, as huizong.service does"
# unit_cmd KEY: the unit's KEY= command with systemd's %% and $$ undone and
# this test's paths.
unit_cmd() {
  local c
  c=$(sed -n "s/^$1=//p" "$bunit")
  [ -n "$c" ] || fail "$bunit has no $1="
  c=${c//%%/%}
  c=${c//\$\$/\$}
  c=${c//\/usr\/local\/bin\/huizong/$tmp/huizong}
  c=${c//\/var\/lib\/huizong-backups/$tmp/backups}
  c=${c//\/var\/lib\/huizong/$tmp/data}
  echo "$c"
}
backup_cmd=$(unit_cmd ExecStart)
prune_cmd=$(unit_cmd ExecStartPost)
# An old copy (40 days) and one of yesterday, beside tonight's.
touch -d '40 days ago' "$tmp/backups/huizong-20000101-000000.db"
touch -d '1 day ago' "$tmp/backups/huizong-20000102-000000.db"
(cd "$tmp/data" && eval "exec env -i PATH=\"\$PATH\" HOME=\"\$tmp\" \"\${backup_env[@]}\" $backup_cmd") >"$tmp/backup.out" 2>&1 ||
  { cat "$tmp/backup.out" >&2; fail "$bunit: ExecStart failed while the server runs"; }
copy=$(find "$tmp/backups" -maxdepth 1 -name 'huizong-*.db' -newer "$tmp/backups/huizong-20000102-000000.db" | head -1)
[ -n "$copy" ] && [ -s "$copy" ] || { cat "$tmp/backup.out" >&2; fail "$bunit: no backup file written"; }
[ "$(stat -c %a "$copy")" = 600 ] || fail "the backup $copy has mode $(stat -c %a "$copy"), want 600"
(eval "$prune_cmd") || fail "$bunit: ExecStartPost failed"
[ ! -e "$tmp/backups/huizong-20000101-000000.db" ] || fail "$bunit: the 40-day-old copy was not deleted"
[ -e "$tmp/backups/huizong-20000102-000000.db" ] && [ -e "$copy" ] || fail "$bunit: ExecStartPost deleted a recent copy"
say "ok: $bunit wrote $(basename "$copy") (mode 600) beside the running server and deleted only the 40-day-old copy"
env -i PATH="$PATH" HOME="$tmp" HUIZONG_DATA_DIR="$tmp/restored" "$tmp/huizong" restore "$copy" >"$tmp/restore.out" 2>&1 ||
  { cat "$tmp/restore.out" >&2; fail "huizong restore of the backup failed"; }
say "ok: the backup restores ($(head -1 "$tmp/restore.out"))"

stop "$nginx_pid"; nginx_pid=""
stop "$huizong_pid"; huizong_pid=""
show_logs=""

# --- systemd-analyze verify -----------------------------------------------
if command -v systemd-analyze >/dev/null 2>&1; then
  units=(deploy/huizong.service deploy/huizong-backup.service deploy/huizong-backup.timer)
  rc=0
  systemd-analyze verify "${units[@]}" >"$tmp/verify.out" 2>&1 || rc=$?
  # The binary is not installed on this machine; anything else counts.
  others=$(grep -v 'Command /usr/local/bin/huizong is not executable: No such file or directory' "$tmp/verify.out" || true)
  if [ -n "$others" ]; then
    cat "$tmp/verify.out" >&2
    fail "systemd-analyze verify found problems in ${units[*]}"
  fi
  if [ "$rc" != 0 ] && ! grep -q 'Command /usr/local/bin/huizong is not executable' "$tmp/verify.out"; then
    fail "systemd-analyze verify exited $rc"
  fi
  say "ok: systemd-analyze verify accepts ${units[*]} (binary path not installed here)"
else
  say "systemd-analyze is not installed: the units were not verified"
fi

say "every check passed"
