#!/usr/bin/env bash
# The whole story in one run: a slow origin, the cache proxy in front of it,
# and curl asking for the same URL twice: a MISS, then a HIT.
# Exits non-zero if any step does not behave as described.
# Started with `sh`? These scripts need bash (arrays, pipefail); say so plainly.
if [ -z "${BASH_VERSION:-}" ]; then
  echo "run this script with bash: bash $0 (or ./$0)" >&2
  exit 2
fi
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

step "Build cacheproxy, start the demo origin (1 s per reply, like a slow database) and the proxy"
CACHE="$ROOT/cache"
# Forget this demo's own entries from an earlier run, so the first request is a miss.
rm -f "$CACHE/@" "$CACHE/images/gradient.png@"
start_origin_and_proxy --delay 1000
echo "origin: $ORIGIN"
echo "proxy:  $PROXY (caching in cache/)"

step "Ask for / twice"
ask "$PROXY/"
expect "the first request" "$X_CACHE" MISS
cp "$WORK/body" "$WORK/first"
ask "$PROXY/"
expect "the second request" "$X_CACHE" HIT
cmp -s "$WORK/first" "$WORK/body" || fail "the hit differs from the miss"
cmp -s "$WORK/body" "$ROOT/www/index.html" || fail "the page differs from www/index.html"
echo "  both replies are identical to www/index.html"

step "The copy that appeared in the cache directory"
echo "  the URL / is stored as cache/@ (the README's \"Cache layout\" explains the names)"
ls -l "$CACHE/@"
echo "  its head (the body follows the blank line):"
awk '{ print "    " $0 } /^\r?$/ { exit }' "$CACHE/@"

step "A binary file survives byte for byte"
PNG="$ROOT/www/images/gradient.png"
ask "$PROXY/images/gradient.png"
expect "the first image request" "$X_CACHE" MISS
cmp "$WORK/body" "$PNG" || fail "the image changed on a miss"
ask "$PROXY/images/gradient.png"
expect "the second image request" "$X_CACHE" HIT
cmp "$WORK/body" "$PNG" || fail "the image changed on a hit"
echo "  both copies are identical to www/images/gradient.png ($(size_of "$PNG") bytes)"

step "What the proxy logged"
tail -n +3 "$WORK/proxy.log" | sed 's/^/  /'

step "Stop both servers"
echo "  demo passed"
