#!/usr/bin/env bash
# A guided tour of cacheproxy in nine stops. Each stop says in one sentence
# what it shows, prints the exact command, runs it, and shows the result and
# the proxy's --trace lines (numbered like the README's pseudocode). Press
# Enter to go on; --no-pause runs straight through, as CI does.
# Started with `sh`? These scripts need bash (arrays, pipefail); say so plainly.
if [ -z "${BASH_VERSION:-}" ]; then
  echo "run this script with bash: bash $0 (or ./$0)" >&2
  exit 2
fi
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

PAUSE=yes
[ "${1:-}" = --no-pause ] && PAUSE=no

# stop_here NUMBER TITLE SENTENCE : opens a stop of the tour.
stop_here() {
  printf '\n======== Stop %s of 9: %s\n%s\n\n' "$1" "$2" "$3"
}

# go_on : waits for Enter, unless --no-pause.
go_on() {
  if [ "$PAUSE" = yes ]; then
    read -r -p "  [Enter to go on] " _ || true
  fi
}

# wait_for_done : waits (at most 5 s) until the proxy's trace ends with a
# request's last line: curl returns with the reply, a moment before the proxy
# logs step 6.
wait_for_done() {
  for _ in $(seq 50); do
    tail -n 1 "$WORK/proxy.log" | grep -q '^#[0-9]* 6\. done: ' && return 0
    sleep 0.1
  done
}

# trace_since_last : prints the proxy's trace lines added since the last call;
# the first call starts at the first request's, after the start-up lines, and
# checks that it is request #1: the tour shows every request the proxy gets.
TRACE_SEEN=""
trace_since_last() {
  local lines first
  wait_for_done
  lines="$(wc -l <"$WORK/proxy.log")"
  lines=$((lines))
  if [ -z "$TRACE_SEEN" ]; then
    TRACE_SEEN="$(awk '/^#[0-9]/ { print NR - 1; exit }' "$WORK/proxy.log")"
    first="$(sed -n "$((TRACE_SEEN + 1))p" "$WORK/proxy.log")"
    case "$first" in
      "#1 "*) ;;
      *) fail "the first request traced is not #1: $first" ;;
    esac
  fi
  echo "  the proxy's --trace:"
  sed -n "$((TRACE_SEEN + 1)),${lines}p" "$WORK/proxy.log" | sed 's/^/    /'
  TRACE_SEEN="$lines"
}

echo "Building cacheproxy and starting a slow origin (1 s per reply) and the proxy."
# The origin serves a copy of www/ with one big file added, for stop 9.
WWW="$WORK/www"
cp -R "$ROOT/www" "$WWW"
BIG_SIZE=$((64 * 1024 * 1024))
head -c "$BIG_SIZE" /dev/zero >"$WWW/big.bin"
start_origin_and_proxy --delay 1000 --max-age 3 --trace -- --client-timeout 2000 \
  --write-timeout 4000 --min-rate 16M --trace
echo "origin: $ORIGIN   proxy: $PROXY   cache dir: $CACHE"
echo "(the origin says max-age=3, so copies go stale after 3 s; the proxy runs with --client-timeout 2000,"
echo " and --write-timeout 4000 --min-rate 16M for the slow reader of stop 9)"

stop_here 1 "a miss, then a hit" \
  "The first request finds nothing in the cache and waits for the slow origin; the second is answered from disk at once."
ask "$PROXY/"
expect "the first request" "$X_CACHE" MISS
ask "$PROXY/"
expect "the second request" "$X_CACHE" HIT
trace_since_last
go_on

stop_here 2 "the copy on disk" \
  "The miss left one file per URL under the cache directory, and the file is the stored response itself: head, blank line, body."
echo "  \$ find $CACHE -type f"
find "$CACHE" -type f | sed 's/^/    /'
echo "  (CACHEDIR.TAG is not a response: the proxy wrote it on opening the directory, to mark the directory as its own)"
echo "  \$ head -n 10 '$CACHE/@'"
head -n 10 "$CACHE/@" | sed 's/^/    /'
echo "  (the last two fields are the proxy's own record of the body, its length and the"
echo "   sum of its bytes, checked on every read: a file a crash left short is a miss)"
go_on

stop_here 3 "the headers that explain the decision" \
  "Every reply says what the cache did: X-Cache in short, Cache-Status (RFC 9211) in standard terms, Age in seconds."
echo "  \$ curl -sI $PROXY/"
curl -sI "$PROXY/" | tr -d '\r' | grep -i -E '^(HTTP/|age|x-cache|cache-status|via|etag)' | sed 's/^/    /'
echo "  (X-Cache HIT means served from disk; in Cache-Status, ttl= is the seconds of freshness left)"
trace_since_last
go_on

stop_here 4 "expiry and revalidation" \
  "After 3 s the copy is stale: cacheproxy explain says the proxy will check it, and it asks the origin whether it changed (If-None-Match); the origin says 304 and the copy is served again."
echo "  (waiting 3 s for the copy to expire)"
sleep 3.1
echo "  \$ cacheproxy explain / --cache-dir $CACHE    # what the proxy will do, and why"
"$BIN" explain / --cache-dir "$CACHE" | sed 's/^/    /' | tee "$WORK/explain.txt"
grep -q '^ *decision: *check (stale' "$WORK/explain.txt" || fail "explain did not say check"
ask "$PROXY/"
expect "the request after expiry" "$X_CACHE" REVALIDATED
trace_since_last
echo "  the origin's --trace for that conditional request:"
grep -E '^#[0-9]+ (2|6)\.' "$WORK/origin.log" | tail -n 2 | sed 's/^/    /'
grep -q '304 -' "$WORK/origin.log" || fail "the origin never answered 304"
go_on

stop_here 5 "a purge" \
  "PURGE (accepted from this machine only) drops one copy, so the next request is a miss again."
echo "  \$ curl -s -X PURGE $PROXY/"
echo "    $(curl -s -X PURGE "$PROXY/")"
ask "$PROXY/"
expect "the request after PURGE" "$X_CACHE" MISS
trace_since_last
go_on

stop_here 6 "the origin is down: a stale copy stands in" \
  "With the origin stopped and the copy expired, an old answer beats none: the proxy serves it, marked STALE (stale-if-error)."
echo "  (first, while the origin is up, the proxy stores the 64 MiB /big.bin that stop 9 needs)"
ask "$PROXY/big.bin"
expect "the request for /big.bin" "$X_CACHE" MISS
stop origin
echo "  (origin stopped; waiting 3 s for the copy of / to expire)"
sleep 3.1
ask "$PROXY/"
expect "the request with the origin down" "$X_CACHE" STALE
trace_since_last
go_on

stop_here 7 "a path traversal attempt" \
  "A path with .. (plain or percent-encoded) could reach files outside the cache directory, so it is refused before any file is touched."
echo "  (the origin stays down from here on: stops 8 and 9 are answered from the cache)"
for path in '/../../etc/passwd' '/%2e%2e/%2e%2e/etc/passwd'; do
  ask "$PROXY$path" --path-as-is
  expect "$path" "$STATUS" 400
  echo "    body: $(cat "$WORK/body")"
done
trace_since_last
go_on

stop_here 8 "a slow client, and the deadline that frees the server" \
  "One thread serves one client at a time, so a client that trickles its request holds everyone up, but only until --client-timeout (2 s here)."
host_port="${PROXY#http://}"
(
  trap '' PIPE # a write after the proxy hangs up fails quietly and ends the loop
  exec 3<>"/dev/tcp/${host_port%:*}/${host_port#*:}"
  cat <&3 >"$WORK/trickler.reply" &
  for byte in G E T ' ' / ' ' H T T P; do printf '%s' "$byte" >&3 2>/dev/null || break; sleep 0.5; done
  wait
) &
trickler=$!
sleep 0.2
echo "  (a client is sending 'GET / HTTP' one byte every 0.5 s)"
ask "$PROXY/"
wait "$trickler" 2>/dev/null || true
echo "  the trickling client got: $(head -n 1 "$WORK/trickler.reply" | tr -d '\r')"
echo "  the second client waited $SECONDS_TAKEN s: the rest of the trickler's 2 s deadline."
awk -v waited="$SECONDS_TAKEN" 'BEGIN { exit !(waited >= 1.0 && waited < 4.0) }' ||
  fail "the second client waited $SECONDS_TAKEN s, not about 2 s"
grep -q '408' "$WORK/trickler.reply" || fail "the trickling client did not get 408"
echo "  (a browser's spare connections, which send nothing, cost the same in kind: each"
echo "   holds the thread for --idle-timeout, 1 s by default, then gets 408)"
trace_since_last
go_on

stop_here 9 "a slow reader, and the rate that frees the server" \
  "A client that reads a big reply slowly holds the one thread too, but only while it keeps up with --min-rate (16 MiB/s here, after a first --write-timeout of 4 s): at worst 4 s + size / min-rate."
echo "  (a client is reading the 64 MiB /big.bin, stored at stop 6, at 4 MiB/s: it would take 16 s)"
curl -s --limit-rate 4M -o "$WORK/slow.body" "$PROXY/big.bin" &
slow_reader=$!
sleep 0.5
ask "$PROXY/"
wait "$slow_reader" 2>/dev/null || true
slow_got="$(wc -c <"$WORK/slow.body")"
bound="$(awk -v size="$BIG_SIZE" 'BEGIN { printf "%.1f", 4 + size / (16 * 1024 * 1024) }')"
echo "  the slow reader got $slow_got of $BIG_SIZE bytes before the proxy cut it off"
echo "  the second client waited $SECONDS_TAKEN s; the bound is 4 s + 64 MiB / 16 MiB/s = $bound s"
[ "$slow_got" -lt "$BIG_SIZE" ] || fail "the slow reader was not cut off"
awk -v waited="$SECONDS_TAKEN" -v bound="$bound" 'BEGIN { exit !(waited < bound + 1) }' ||
  fail "the second client waited $SECONDS_TAKEN s, over the $bound s bound"
echo "  (with the defaults, a download of 200 MiB at 1 MiB/s keeps up with --min-rate,"
echo "   256 KiB/s, so every hit behind it waits the 200 s it takes: --max-reply-time,"
echo "   5 min, is the bound)"
trace_since_last

printf '\nThe tour is over: every step above is numbered as in the README pseudocode and the // Step N: comments in src/.\n'
echo "tour complete"
