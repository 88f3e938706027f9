# shellcheck shell=bash
# Shared by the scripts in this folder: build cacheproxy, start servers on free
# ports, stop them on exit. Source it; do not run it.
#
# These scripts run on macOS as well as on Linux: bash 3.2 (no associative
# arrays, no "${empty_array[@]}" under set -u) and the BSD tools (no sed I
# flag, no GNU-only options). tests/scripts.rs checks for what would break.

# The repository root, whatever directory the script was started from.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/target/debug/cacheproxy"
# Logs and scratch files for this run; removed on exit.
WORK="$(mktemp -d "${TMPDIR:-/tmp}/cacheproxy-script.XXXXXX")"
# The proxy's cache directory: a fresh one, unless a script sets another.
CACHE="$WORK/cache"
# What the demo origin serves: the repository's www/, unless a script sets another.
WWW="$ROOT/www"
# Every server started, to stop on exit; each also has its pid in $WORK/NAME.pid.
SERVER_PIDS=()

stop_servers() {
  for pid in ${SERVER_PIDS[@]+"${SERVER_PIDS[@]}"}; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap stop_servers EXIT

build() {
  echo "building cacheproxy (cargo build; the first build compiles the dependencies, about half a minute)"
  (cd "$ROOT" && cargo build)
}

# start NAME ARGS... : runs `cacheproxy ARGS...` in the background with its log
# in $WORK/NAME.log, waits (at most 10 s) for the first line, and sets URL to
# the address it printed there.
start() {
  local name="$1"; shift
  : >"$WORK/$name.log" # exists before the first read below, whatever the child does
  "$BIN" "$@" >"$WORK/$name.log" 2>&1 &
  SERVER_PIDS+=("$!")
  echo "$!" >"$WORK/$name.pid"
  URL=""
  for _ in $(seq 100); do
    URL="$(head -n 1 "$WORK/$name.log" | grep -o 'http://[^ ]*' || true)"
    [ -n "$URL" ] && return 0
    sleep 0.1
  done
  echo "error: $name did not start:" >&2
  cat "$WORK/$name.log" >&2
  exit 1
}

# start_origin_and_proxy [ORIGIN_FLAGS...] [-- PROXY_FLAGS...] : builds
# cacheproxy, starts the demo origin on $WWW and the proxy in front of it,
# caching in $CACHE, and sets ORIGIN and PROXY.
start_origin_and_proxy() {
  local origin_flags=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do
    origin_flags+=("$1")
    shift
  done
  [ $# -gt 0 ] && shift
  build
  start origin origin --port 0 --root "$WWW" ${origin_flags[@]+"${origin_flags[@]}"}
  ORIGIN="$URL"
  start proxy proxy --port 0 --origin "$ORIGIN" --cache-dir "$CACHE" "$@"
  # shellcheck disable=SC2034 # for the script that sourced this file
  PROXY="$URL"
}

# header_value NAME : prints the value of the header field NAME (any case) in
# the head on standard input, without its CR; nothing if it is absent.
header_value() {
  tr -d '\r' | awk -v name="$1" 'index(tolower($0), tolower(name) ":") == 1 {
    sub(/^[^:]*:[ \t]*/, ""); print }'
}

# ask URL [CURL_ARGS...] : shows the curl command, runs it, and prints the
# status line and the header fields that explain the cache's decision, with
# the time it took. Sets STATUS, X_CACHE and SECONDS_TAKEN; the body is in
# $WORK/body.
ask() {
  local url="$1"; shift
  echo "  \$ curl -si${*:+ $*} $url"
  SECONDS_TAKEN="$(curl -sS --max-time 10 -D "$WORK/head" -o "$WORK/body" -w '%{time_total}' "$@" "$url")"
  tr -d '\r' <"$WORK/head" >"$WORK/head.txt"
  # shellcheck disable=SC2034 # STATUS and X_CACHE are for the script that sourced this file
  STATUS="$(awk 'NR == 1 { print $2 }' "$WORK/head.txt")"
  # shellcheck disable=SC2034
  X_CACHE="$(header_value x-cache <"$WORK/head.txt")"
  grep -i -E '^(HTTP/|x-cache|cache-status|age|etag|last-modified|cache-control):?' "$WORK/head.txt" |
    sed 's/^/    /'
  echo "    ($SECONDS_TAKEN s)"
}

# expect WHAT ACTUAL WANTED : fails the script unless ACTUAL is WANTED.
expect() {
  [ "$2" = "$3" ] || fail "$1: got '$2', expected '$3'"
}

# pid_of NAME : prints the process id of the server started as NAME.
pid_of() {
  cat "$WORK/$1.pid"
}

# stop NAME : stops the server started as NAME.
stop() {
  local pid
  pid="$(pid_of "$1")"
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# size_of FILE : prints FILE's size in bytes, without the spaces BSD wc pads it with.
size_of() {
  local size
  size="$(wc -c <"$1")"
  echo $((size))
}

# step TEXT : prints a heading for the next step.
step() {
  printf '\n== %s\n' "$*"
}

fail() {
  echo "FAILED: $*" >&2
  exit 1
}
