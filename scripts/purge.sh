#!/usr/bin/env bash
# Looking into the cache and cleaning it: `cacheproxy ls` lists the entries,
# `curl -X PURGE` drops one through the running proxy (from this machine
# only), and `cacheproxy purge` drops entries without a server.
# Started with `sh`? These scripts need bash (arrays, pipefail); say so plainly.
if [ -z "${BASH_VERSION:-}" ]; then
  echo "run this script with bash: bash $0 (or ./$0)" >&2
  exit 2
fi
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

# shellcheck disable=SC2119 # no flags: both servers with their defaults
start_origin_and_proxy

step "Fill the cache with three URLs"
for path in / /data.json '/data.json?page=2'; do
  ask "$PROXY$path"
  expect "$path" "$X_CACHE" MISS
done

step "cacheproxy ls: one row per entry"
echo "  \$ cacheproxy ls --cache-dir $CACHE"
"$BIN" ls --cache-dir "$CACHE" | sed 's/^/    /'

step "PURGE drops one copy from the running proxy"
echo "  \$ curl -s -X PURGE $PROXY/data.json"
purged="$(curl -s -X PURGE "$PROXY/data.json")"
echo "    $purged"
expect "PURGE" "$purged" "purged /data.json"
ask "$PROXY/data.json"
expect "the request after PURGE" "$X_CACHE" MISS

step "PURGE of something not cached: 404"
echo "  \$ curl -s -o /dev/null -w '%{http_code}' -X PURGE $PROXY/not-cached"
code="$(curl -s -o /dev/null -w '%{http_code}' -X PURGE "$PROXY/not-cached")"
echo "    $code"
expect "PURGE of a URL not cached" "$code" 404

step "cacheproxy purge works on the directory itself, no server needed"
echo "  \$ cacheproxy purge --cache-dir $CACHE '/data.json?page=2'"
"$BIN" purge --cache-dir "$CACHE" '/data.json?page=2' | sed 's/^/    /'
echo "  \$ cacheproxy purge --cache-dir $CACHE --all"
"$BIN" purge --cache-dir "$CACHE" --all | sed 's/^/    /'
"$BIN" ls --cache-dir "$CACHE" | tail -n 1 | grep -q '^total: 0 entries' || fail "the cache is not empty"
echo
echo "purge walk-through passed"
