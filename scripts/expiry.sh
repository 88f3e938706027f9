#!/usr/bin/env bash
# Expiry and revalidation. A copy is fresh for as long as the origin says
# (here Cache-Control: max-age=2). After that the proxy does not throw it away:
# it asks the origin "has it changed?" with If-None-Match, the origin answers
# 304 Not Modified, and the proxy serves its copy again without the body ever
# crossing the network twice.
# Started with `sh`? These scripts need bash (arrays, pipefail); say so plainly.
if [ -z "${BASH_VERSION:-}" ]; then
  echo "run this script with bash: bash $0 (or ./$0)" >&2
  exit 2
fi
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

start_origin_and_proxy --max-age 2

step "A miss: the proxy fetches the file and stores it; the origin says max-age=2"
ask "$PROXY/data.json"
expect "the first request" "$X_CACHE" MISS

step "Asked again at once: a hit, served from disk; Age counts the seconds since"
ask "$PROXY/data.json"
expect "the second request" "$X_CACHE" HIT

step "Two seconds later the copy is stale: the proxy revalidates it"
sleep 2.1
ask "$PROXY/data.json"
expect "the request after expiry" "$X_CACHE" REVALIDATED

step "What the origin saw: the full GET, then a conditional GET it answered with 304"
grep 'GET /data.json' "$WORK/origin.log" | sed 's/^/  /'
grep -q '"GET /data.json HTTP/1.1" 304' "$WORK/origin.log" || fail "the origin never answered 304"

step "The 304 made the copy fresh again: a hit with Age 0"
ask "$PROXY/data.json"
expect "the request after revalidation" "$X_CACHE" HIT
echo
echo "expiry walk-through passed"
