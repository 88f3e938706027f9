#!/usr/bin/env bash
# Real clients through the proxy: a compressed copy and a plain one stored
# side by side (curl --compressed, and curl without it), and a download that
# stopped halfway, resumed from the cache (curl -C -).
# Started with `sh`? These scripts need bash (arrays, pipefail); say so plainly.
if [ -z "${BASH_VERSION:-}" ]; then
  echo "run this script with bash: bash $0 (or ./$0)" >&2
  exit 2
fi
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

command -v gzip >/dev/null || fail "this walk-through needs gzip (apt-get install gzip)"
# shellcheck disable=SC2119 # no flags: both servers with their defaults
start_origin_and_proxy

FILE=/guide/book.txt
PLAIN="$WWW$FILE"
GZIPPED="$WWW$FILE.gz"

step "The origin has book.txt and, beside it, book.txt.gz: the same text, compressed"
for file in "$PLAIN" "$GZIPPED"; do
  echo "    $(size_of "$file") bytes  $file"
done

step "A client that accepts gzip gets the origin's own gzip bytes (X-Cache: MISS)"
ask "$PROXY$FILE" --compressed
expect "the first compressed request" "$X_CACHE" MISS
grep -i -E '^(content-encoding|vary):' "$WORK/head.txt" | sed 's/^/    /'
echo "  \$ curl -s --compressed -o decoded.txt -w '%{size_download}' $PROXY$FILE"
on_the_wire="$(curl -sS --max-time 10 --compressed -o "$WORK/decoded" -w '%{size_download}' "$PROXY$FILE")"
echo "    $on_the_wire bytes on the wire; curl decoded them to $(size_of "$WORK/decoded") bytes"
expect "bytes on the wire" "$on_the_wire" "$(size_of "$GZIPPED")"
cmp -s "$WORK/decoded" "$PLAIN" || fail "the decoded body differs from book.txt"
echo "  \$ curl -s --compressed --raw $PROXY$FILE | gunzip | cmp - $PLAIN   # --raw: undecoded"
curl -sS --max-time 10 --compressed --raw "$PROXY$FILE" -o "$WORK/raw.gz"
gunzip -c "$WORK/raw.gz" | cmp -s - "$PLAIN" || fail "gunzip of the bytes is not book.txt"
echo "    identical: the proxy passed the origin's gzip bytes through, never decoding them"

step "A client that accepts no coding gets the plain text: another variant, another MISS"
ask "$PROXY$FILE"
expect "the first plain request" "$X_CACHE" MISS
cmp -s "$WORK/body" "$PLAIN" || fail "the plain body differs from book.txt"

step "Both again: each client gets its own copy from the cache"
ask "$PROXY$FILE" --compressed
expect "the second compressed request" "$X_CACHE" HIT
ask "$PROXY$FILE"
expect "the second plain request" "$X_CACHE" HIT
cmp -s "$WORK/body" "$PLAIN" || fail "the plain hit differs from book.txt"

step "cacheproxy ls: the two variants side by side, named by the codings each client accepts"
echo "  \$ cacheproxy ls --cache-dir $CACHE; ls $CACHE/guide"
"$BIN" ls --cache-dir "$CACHE" | sed 's/^/    /'
for entry in "$CACHE/guide"/*; do
  echo "    ${entry##*/}"
done
variants="$("$BIN" ls --cache-dir "$CACHE" | grep -c 'book.txt (accept-encoding=' || true)"
expect "variants of book.txt" "$variants" 2
"$BIN" ls --cache-dir "$CACHE" | grep -q 'book.txt (accept-encoding=identity)' ||
  fail "no identity variant"

step "A download that stopped after 10000 bytes is resumed from the cache (curl -C -)"
head -c 10000 "$PLAIN" >"$WORK/copy.txt"
echo "  \$ head -c 10000 book.txt > copy.txt; curl -s -C - -o copy.txt $PROXY$FILE"
(cd "$WORK" && curl -sS --max-time 10 -C - -D "$WORK/resume-head" -o copy.txt "$PROXY$FILE")
tr -d '\r' <"$WORK/resume-head" | grep -i -E '^(HTTP/|(x-cache|content-range|content-length):)' |
  sed 's/^/    /'
expect "the resume's status" "$(awk 'NR == 1 { print $2 }' "$WORK/resume-head")" 206
expect "the resume's X-Cache" "$(header_value x-cache <"$WORK/resume-head")" HIT
cmp -s "$WORK/copy.txt" "$PLAIN" || fail "the resumed download differs from book.txt"
echo "    the resumed file is byte for byte book.txt"
echo
echo "clients walk-through passed"
