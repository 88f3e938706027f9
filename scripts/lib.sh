# Shared by the scripts in this folder: build cacheproxy, start servers on free
# ports, stop them on exit. Source it; do not run it.

# The repository root, whatever directory the script was started from.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/target/debug/cacheproxy"
# Logs and scratch files for this run; removed on exit.
WORK="$(mktemp -d "${TMPDIR:-/tmp}/cacheproxy-script.XXXXXX")"
SERVER_PIDS=()

stop_servers() {
  for pid in "${SERVER_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap stop_servers EXIT

build() {
  (cd "$ROOT" && cargo build --quiet)
}

# start NAME ARGS... : runs `cacheproxy ARGS...` in the background with its log
# in $WORK/NAME.log, waits (at most 10 s) for the first line, and sets URL to
# the address it printed there.
start() {
  local name="$1"; shift
  "$BIN" "$@" >"$WORK/$name.log" 2>&1 &
  SERVER_PIDS+=("$!")
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

# step TEXT : prints a heading for the next step.
step() {
  printf '\n== %s\n' "$*"
}

fail() {
  echo "FAILED: $*" >&2
  exit 1
}
