#!/usr/bin/env bash
# Stale-if-error. When a copy has expired and the origin cannot be reached,
# an old answer is usually better than none: the proxy serves the stale copy,
# marked X-Cache: STALE, unless the origin forbade it (must-revalidate,
# proxy-revalidate, no-cache, s-maxage) or it is more than --max-stale seconds
# past its lifetime. Without a copy, the client gets 502.
# Started with `sh`? These scripts need bash (arrays, pipefail); say so plainly.
if [ -z "${BASH_VERSION:-}" ]; then
  echo "run this script with bash: bash $0 (or ./$0)" >&2
  exit 2
fi
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

start_origin_and_proxy --max-age 1

step "A miss: the proxy stores the file, fresh for 1 second"
ask "$PROXY/data.json"
expect "the first request" "$X_CACHE" MISS

step "The origin goes down, and the copy expires"
stop origin
sleep 1.1
echo "  (origin stopped; 1 second passed)"

step "The proxy cannot revalidate, so the stale copy stands in"
ask "$PROXY/data.json"
expect "the request with the origin down" "$X_CACHE" STALE
expect "its status" "$STATUS" 200

step "A URL that was never cached has nothing to stand in: 502"
ask "$PROXY/style.css"
expect "an uncached URL with the origin down" "$STATUS" 502
echo "    body: $(cat "$WORK/body")"
echo
echo "stale-if-error walk-through passed"
