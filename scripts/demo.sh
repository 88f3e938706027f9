#!/usr/bin/env bash
# The whole story in one run: a slow origin, the cache proxy in front of it,
# and curl asking for the same URL twice: a MISS, then a HIT.
# Exits non-zero if any step does not behave as described.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

step "Build cacheproxy"
build

step "Start the demo origin (it waits 1 s before every reply, like a slow database)"
start origin origin --port 0 --root "$ROOT/www" --delay 1000
ORIGIN="$URL"
echo "origin: $ORIGIN"

step "Start the cache proxy in front of it, caching in cache/"
CACHE="$ROOT/cache"
# Forget this demo's own entries from an earlier run, so the first request is a miss.
rm -f "$CACHE/@" "$CACHE/images/gradient.png@"
start proxy proxy --port 0 --origin "$ORIGIN" --cache-dir "$CACHE"
PROXY="$URL"
echo "proxy:  $PROXY"

# fetch PATH NAME : GETs PATH through the proxy into $WORK/NAME, prints the
# cache result and the time, and sets X_CACHE.
fetch() {
  local seconds
  seconds="$(curl -sS --max-time 10 -o "$WORK/$2" -D "$WORK/$2.head" -w '%{time_total}' "$PROXY$1")"
  X_CACHE="$(tr -d '\r' <"$WORK/$2.head" | sed -n 's/^X-Cache: //ip')"
  printf '  curl %s%s  ->  X-Cache: %-4s in %s s\n' "$PROXY" "$1" "$X_CACHE" "$seconds"
}

step "Ask for / twice"
fetch / first
[ "$X_CACHE" = MISS ] || fail "the first request should be a MISS"
fetch / second
[ "$X_CACHE" = HIT ] || fail "the second request should be a HIT"
cmp -s "$WORK/first" "$WORK/second" || fail "the hit differs from the miss"
cmp -s "$WORK/second" "$ROOT/www/index.html" || fail "the page differs from www/index.html"
echo "  both replies are identical to www/index.html"

step "The copy that appeared in the cache directory"
echo "  the URL / is stored as cache/@ (the README's \"Cache layout\" explains the names)"
ls -l "$CACHE/@"
echo "  its head (the body follows the blank line):"
sed -n '1,/^\r$/p' "$CACHE/@" | sed 's/^/    /'

step "A binary file survives byte for byte"
fetch /images/gradient.png png-miss
[ "$X_CACHE" = MISS ] || fail "the first image request should be a MISS"
fetch /images/gradient.png png-hit
[ "$X_CACHE" = HIT ] || fail "the second image request should be a HIT"
cmp "$WORK/png-miss" "$ROOT/www/images/gradient.png" || fail "the image changed on a miss"
cmp "$WORK/png-hit" "$ROOT/www/images/gradient.png" || fail "the image changed on a hit"
echo "  both copies are identical to www/images/gradient.png ($(wc -c <"$ROOT/www/images/gradient.png") bytes)"

step "What the proxy logged"
tail -n +3 "$WORK/proxy.log" | sed 's/^/  /'

step "Stop both servers"
echo "  demo passed"
