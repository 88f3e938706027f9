#!/usr/bin/env bash
# Measures the design: a cache hit through the proxy side by side with the demo
# origin serving the same file from disk (the floor for this architecture) and,
# when installed, nginx with proxy_cache and one worker. Then the extra latency
# of a miss, peak memory on a 1 GiB file, and the cost of one slow client.
#
# The throughput table needs wrk (Debian/Ubuntu: apt-get install wrk; macOS:
# brew install wrk) and is skipped without it; nginx is optional (apt-get
# install nginx). Only loopback is used; every run is bounded by DURATION
# seconds (default 5), each row measured ROUNDS times (default 3); a miss is
# measured on MISSES distinct files (default 400). BASELINE_BIN=path adds
# another cacheproxy binary (a build from before a change) to the miss rows,
# measured in the same alternation. With valgrind installed (apt-get install
# valgrind), the user-space instructions of one 1 KiB hit are counted under
# callgrind, a figure that is the same on a busy machine as on an idle one:
# from runs of HITS and 2 * HITS hits (default 200); INSTRUCTIONS=0 skips it.
# Prints Markdown tables.
# Started with `sh`? These scripts need bash (arrays, pipefail); say so plainly.
if [ -z "${BASH_VERSION:-}" ]; then
  echo "run this script with bash: bash $0 (or ./$0)" >&2
  exit 2
fi
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

DURATION="${DURATION:-5}"
ROUNDS="${ROUNDS:-3}"
MISSES="${MISSES:-400}"
HITS="${HITS:-200}"
INSTRUCTIONS="${INSTRUCTIONS:-1}"

# What it needs, and each table or row it will skip for want of a tool, said
# before the build (which prints nothing for about a minute the first time).
command -v cargo >/dev/null || fail "bench.sh needs cargo (https://rustup.rs)"
command -v curl >/dev/null || fail "bench.sh needs curl"
echo "bench.sh needs cargo and curl; wrk, nginx (with python3), valgrind and /proc (Linux) each add a table or rows."
skipped=0
if ! command -v wrk >/dev/null; then
  echo "skipping the throughput table: wrk is not installed (apt-get install wrk on Debian/Ubuntu, brew install wrk on macOS)"
  skipped=$((skipped + 1))
fi
NGINX_MISSING=""
if ! command -v nginx >/dev/null; then
  NGINX_MISSING="nginx is not installed (apt-get install nginx)"
elif ! command -v python3 >/dev/null; then
  NGINX_MISSING="python3, which finds nginx a free port, is not installed"
fi
if [ -n "$NGINX_MISSING" ]; then
  echo "skipping nginx's rows: $NGINX_MISSING"
  skipped=$((skipped + 1))
fi
if [ "$INSTRUCTIONS" = 0 ]; then
  echo "skipping the instructions per hit: INSTRUCTIONS=0"
  skipped=$((skipped + 1))
elif ! command -v valgrind >/dev/null; then
  echo "skipping the instructions per hit: valgrind is not installed (apt-get install valgrind on Debian/Ubuntu)"
  skipped=$((skipped + 1))
fi
if [ ! -r /proc/self/status ]; then
  echo "skipping the peak memory table: it reads /proc, which only Linux has"
  skipped=$((skipped + 1))
fi
[ "$skipped" -gt 0 ] || echo "all of them are here: nothing will be skipped"

step "Build (release)"
echo "building the release binary (about a minute the first time)..."
(cd "$ROOT" && cargo build --release --quiet)
BIN="$ROOT/target/release/cacheproxy"

FILES="$WORK/files"
mkdir -p "$FILES"
head -c 1024 /dev/urandom >"$FILES/1k.bin"
head -c $((100 * 1024)) /dev/urandom >"$FILES/100k.bin"
head -c $((10 * 1024 * 1024)) /dev/urandom >"$FILES/10m.bin"
mkdir -p "$FILES/miss"
for n in $(seq "$MISSES"); do
  head -c 1024 /dev/urandom >"$FILES/miss/$n.bin"
done

start origin origin --port 0 --root "$FILES"
ORIGIN="$URL"
start proxy proxy --port 0 --origin "$ORIGIN" --cache-dir "$WORK/cache"
PROXY="$URL"

# free_port: asks the system for a port nobody uses, for nginx's config.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

NGINX=""
if command -v nginx >/dev/null && command -v python3 >/dev/null; then
  port="$(free_port)"
  mkdir -p "$WORK/nginx/logs" "$WORK/nginx/cache"
  # Run as root, nginx would hand its worker to an unprivileged user that
  # cannot write to our private scratch directory; keep it as whoever we are.
  run_as=""
  [ "$(id -u)" = 0 ] && run_as="user root;"
  cat >"$WORK/nginx/nginx.conf" <<CONF
$run_as
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/client_body;
  proxy_temp_path $WORK/nginx/proxy_temp;
  fastcgi_temp_path $WORK/nginx/fastcgi_temp;
  uwsgi_temp_path $WORK/nginx/uwsgi_temp;
  scgi_temp_path $WORK/nginx/scgi_temp;
  proxy_cache_path $WORK/nginx/cache keys_zone=bench:10m max_size=1g;
  server {
    listen 127.0.0.1:$port;
    location / {
      proxy_pass $ORIGIN;
      proxy_cache bench;
      proxy_cache_valid 200 1h;
      add_header X-Cache \$upstream_cache_status;
    }
  }
}
CONF
  nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" &
  SERVER_PIDS+=("$!")
  for _ in $(seq 50); do
    curl -s -o /dev/null "http://127.0.0.1:$port/1k.bin" && break
    sleep 0.1
  done
  NGINX="http://127.0.0.1:$port"
else
  echo "nginx's rows are skipped: $NGINX_MISSING"
fi

# Warm both caches: the first request is a miss, every later one a hit.
for file in 1k.bin 100k.bin 10m.bin; do
  for base in "$PROXY" ${NGINX:+"$NGINX"}; do
    curl -s -o /dev/null "$base/$file"
    hit="$(curl -s -o /dev/null -D - "$base/$file" | header_value x-cache)"
    [ "$hit" = HIT ] || fail "$base/$file is not a cache hit after warming (X-Cache: $hit)"
  done
done

# measure URL CONNECTIONS: runs wrk and prints "rps p50_ms p99_ms mb_per_s errors".
measure() {
  wrk -t1 -c"$2" -d"${DURATION}s" --latency -H 'Connection: close' "$1" | awk '
    function ms(value) {
      if (value ~ /us$/) return value / 1000
      if (value ~ /ms$/) return value + 0
      if (value ~ /s$/) return value * 1000
      return value
    }
    function mb(value) {
      if (value ~ /GB$/) return value * 1024
      if (value ~ /MB$/) return value + 0
      if (value ~ /KB$/) return value / 1024
      if (value ~ /B$/) return value / 1048576
      return value
    }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    $1 == "Requests/sec:" { rps = $2 }
    $1 == "Transfer/sec:" { rate = mb($2) }
    /Socket errors|Non-2xx/ { errors = errors $0 }
    END { printf "%.0f %.3f %.3f %.1f %s\n", rps, p50, p99, rate, (errors == "" ? "-" : "yes") }'
}

# median_round ROUNDS_FILE: of the rounds measured for one server (one "rps p50
# p99 mb errors" line each), prints the round with the median req/s.
median_round() {
  sort -n "$1" | awk '{ line[NR] = $0 } END { print line[int((NR + 1) / 2)] }'
}

step "Throughput and latency: ${ROUNDS} rounds of ${DURATION}s per row, Connection: close, wrk -t1"

# A shared or virtual machine has pauses of its own that land on whichever
# server is running. So the servers take turns, round after round, and each
# row is the round with the median req/s: a pause then hits every server alike.
sized_files=(1k.bin 100k.bin 10m.bin)
if command -v wrk >/dev/null; then
  echo
  echo "| file | conns | server | req/s | p50 ms | p99 ms | MB/s | req/s vs origin | MB/s vs origin | errors |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
else
  echo "wrk not installed: skipped (apt-get install wrk on Debian/Ubuntu, brew install wrk on macOS)"
  sized_files=()
fi
for file in ${sized_files[@]+"${sized_files[@]}"}; do
  for conns in 1 16; do
    rows=("origin (disk)|$ORIGIN" "cacheproxy hit|$PROXY" ${NGINX:+"nginx hit|$NGINX"})
    rm -f "$WORK"/round-*
    for _ in $(seq "$ROUNDS"); do
      for index in "${!rows[@]}"; do
        measure "${rows[$index]#*|}/$file" "$conns" >>"$WORK/round-$index"
      done
    done
    read -r base_rps _ _ base_rate _ <<<"$(median_round "$WORK/round-0")"
    for index in "${!rows[@]}"; do
      read -r rps p50 p99 rate errors <<<"$(median_round "$WORK/round-$index")"
      printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
        "$file" "$conns" "${rows[$index]%%|*}" "$rps" "$p50" "$p99" "$rate" \
        "$(awk -v a="$rps" -v b="$base_rps" 'BEGIN { printf "%.2f", a / b }')" \
        "$(awk -v a="$rate" -v b="$base_rate" 'BEGIN { printf "%.2f", a / b }')" "$errors"
    done
  done
done

step "What a miss adds: ${MISSES} distinct 1 KiB files, each fetched from every server in turn (median)"
# Each file is fetched directly from the origin, then through each cache, then
# the next file: a pause of the machine lands on every row alike. A cache's
# miss is its median time minus the origin's own; the goal is 0.4 ms at most.
rows=("origin, directly|$ORIGIN" "cacheproxy miss|$PROXY")
if [ -n "${BASELINE_BIN:-}" ]; then
  "$BASELINE_BIN" proxy --port 0 --origin "$ORIGIN" --cache-dir "$WORK/cache-baseline" \
    >"$WORK/baseline.log" 2>&1 &
  SERVER_PIDS+=("$!")
  for _ in $(seq 100); do
    baseline="$(head -n 1 "$WORK/baseline.log" | grep -o 'http://[^ ]*' || true)"
    [ -n "$baseline" ] && break
    sleep 0.1
  done
  [ -n "$baseline" ] || fail "$BASELINE_BIN did not start: $(cat "$WORK/baseline.log")"
  rows+=("baseline cacheproxy miss ($BASELINE_BIN)|$baseline")
fi
rows+=(${NGINX:+"nginx proxy_cache miss|$NGINX"})
rm -f "$WORK"/miss-*
for n in $(seq "$MISSES"); do
  for index in "${!rows[@]}"; do
    curl -s -o /dev/null -w '%{time_total}\n' "${rows[$index]#*|}/miss/$n.bin" >>"$WORK/miss-$index"
  done
done
median_ms() {
  sort -n "$1" | awk '{ t[NR] = $1 } END { printf "%.3f", t[int((NR + 1) / 2)] * 1000 }'
}
direct="$(median_ms "$WORK/miss-0")"
echo "| server | median ms | added ms per miss |"
echo "|---|---|---|"
for index in "${!rows[@]}"; do
  median="$(median_ms "$WORK/miss-$index")"
  added="$(awk -v a="$median" -v b="$direct" 'BEGIN { printf "%.3f", a - b }')"
  [ "$index" = 0 ] && added="-"
  echo "| ${rows[$index]%%|*} | $median | $added |"
done
added="$(awk -v a="$(median_ms "$WORK/miss-1")" -v b="$direct" 'BEGIN { printf "%.3f", a - b }')"
# nginx, when there, is the last row.
nginx_added=""
if [ -n "$NGINX" ]; then
  last=$((${#rows[@]} - 1))
  nginx_added="$(awk -v a="$(median_ms "$WORK/miss-$last")" -v b="$direct" 'BEGIN { printf "%.3f", a - b }')"
fi
echo
echo "added ms per miss: cacheproxy $added${nginx_added:+, nginx $nginx_added} (goal: cacheproxy at most 0.4)"
# Milliseconds differ from machine to machine; the added time over the
# origin's own, in one run, less so. The goal of 0.4 ms was set where the
# origin answered in 0.14 ms: a miss then added at most 2.9 times its time.
times_origin() {
  awk -v a="$1" -v b="$direct" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'
}
echo "added over the origin's own time: cacheproxy $(times_origin "$added")x${nginx_added:+, nginx $(times_origin "$nginx_added")x} (the goal, where it was set: 2.9x)"

step "Instructions per 1 KiB hit, under callgrind: (Ir with $((2 * HITS)) hits - Ir with ${HITS} hits) / ${HITS}"
# Time on a shared machine wanders; the user-space instructions a hit runs do
# not. Each server runs twice under callgrind, from an empty cache: one miss,
# then HITS hits of 1k.bin (Connection: close) in the first run and 2 * HITS
# in the second, then SIGTERM, on which callgrind writes its total. The start,
# the miss and the exit are in both totals, so their difference over HITS is
# what one hit costs. The goal for cacheproxy is 15,000 at most.
CALLGRIND=(valgrind --tool=callgrind --dump-instr=no)

# thousands N: prints the whole number N with commas, 41900 as 41,900.
thousands() {
  awk -v n="$1" 'BEGIN {
    s = ""
    while (length(n) > 3) { s = "," substr(n, length(n) - 2) s; n = substr(n, 1, length(n) - 3) }
    print n s
  }'
}

# callgrind_hits NAME URL COUNT: fetches URL/1k.bin once (waiting, at most
# 60 s, for the server started as NAME to answer: the miss), then COUNT more
# times, and fails unless the last was a hit. Then stops NAME (at most 60 s
# for callgrind to write its file) and sets IR to the instructions it counted.
callgrind_hits() {
  local name="$1" url="$2" count="$3" pid hit="" answered=""
  pid="$(pid_of "$name")"
  for _ in $(seq 600); do
    curl -s -o /dev/null --max-time 10 "$url/1k.bin" && answered=yes && break
    sleep 0.1
  done
  [ -n "$answered" ] || fail "$name did not answer within 60 s under callgrind: $(cat "$WORK/$name.log")"
  echo "  \$ for n in \$(seq $count); do curl -s -o /dev/null -H 'Connection: close' $url/1k.bin; done"
  for _ in $(seq "$((count - 1))"); do
    curl -s -o /dev/null --max-time 10 -H 'Connection: close' "$url/1k.bin" ||
      fail "$name: a request under callgrind failed: $(cat "$WORK/$name.log")"
  done
  hit="$(curl -s -o /dev/null --max-time 10 -H 'Connection: close' -D - "$url/1k.bin" |
    header_value x-cache)"
  [ "$hit" = HIT ] || fail "$name: $url/1k.bin is not a cache hit under callgrind (X-Cache: $hit)"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 600); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -9 "$pid" 2>/dev/null || true
    fail "$name did not exit within 60 s of SIGTERM under callgrind"
  fi
  wait "$pid" 2>/dev/null || true
  IR="$(awk '/^summary:/ { print $2 }' "$WORK/$name.callgrind")"
  [ -n "$IR" ] || fail "$name: callgrind wrote no total: $(cat "$WORK/$name.valgrind")"
}

if [ "$INSTRUCTIONS" = 0 ]; then
  echo "INSTRUCTIONS=0: skipped"
elif ! command -v valgrind >/dev/null; then
  echo "valgrind not installed: skipped (apt-get install valgrind on Debian/Ubuntu)"
else
  [ -z "$NGINX_MISSING" ] || echo "nginx's row is skipped: $NGINX_MISSING"
  cacheproxy_bin="$BIN"
  servers=(cacheproxy ${NGINX:+nginx})
  # What callgrind counted for each server, in the order of servers: with
  # HITS hits, and with 2 * HITS.
  ir_first=()
  ir_second=()
  for index in "${!servers[@]}"; do
    server="${servers[$index]}"
    for count in "$HITS" "$((2 * HITS))"; do
      name="callgrind-$server-$count"
      callgrind=("${CALLGRIND[@]}" --callgrind-out-file="$WORK/$name.callgrind" --log-file="$WORK/$name.valgrind")
      if [ "$server" = cacheproxy ]; then
        echo "  \$ ${CALLGRIND[*]} cacheproxy proxy --port 0 --origin $ORIGIN --cache-dir (an empty one)"
        # `start` runs $BIN: valgrind, for this server, with cacheproxy as its argument.
        BIN=valgrind
        start "$name" "${callgrind[@]:1}" "$cacheproxy_bin" proxy --port 0 --origin "$ORIGIN" \
          --cache-dir "$WORK/$name"
        BIN="$cacheproxy_bin"
        url="$URL"
      else
        # The same nginx, as one process (no master: the worker is the
        # process callgrind runs), on its own port, scratch and cache.
        dir="$WORK/nginx-$name"
        mkdir -p "$dir/logs" "$dir/cache"
        url="http://127.0.0.1:$(free_port)"
        { echo "master_process off;"
          sed -e "s#127\.0\.0\.1:$port;#${url#http://};#" -e "s#$WORK/nginx/#$dir/#g" "$WORK/nginx/nginx.conf"
        } >"$dir/nginx.conf"
        echo "  \$ ${CALLGRIND[*]} nginx -c nginx.conf (the config above with master_process off, its own port and cache)"
        "${callgrind[@]}" nginx -p "$dir" -c "$dir/nginx.conf" >"$WORK/$name.log" 2>&1 &
        SERVER_PIDS+=("$!")
        echo "$!" >"$WORK/$name.pid"
      fi
      callgrind_hits "$name" "$url" "$count"
      if [ "$count" = "$HITS" ]; then
        ir_first[index]="$IR"
      else
        ir_second[index]="$IR"
      fi
    done
  done
  echo "| server | Ir, 1 miss + $HITS hits | Ir, 1 miss + $((2 * HITS)) hits | instructions per hit |"
  echo "|---|---|---|---|"
  summary=""
  for index in "${!servers[@]}"; do
    server="${servers[$index]}"
    first="${ir_first[$index]}"
    second="${ir_second[$index]}"
    per_hit="$(awk -v a="$second" -v b="$first" -v n="$HITS" 'BEGIN { printf "%.0f", (a - b) / n }')"
    echo "| $server | $(thousands "$first") | $(thousands "$second") | $(thousands "$per_hit") |"
    summary="${summary:+$summary, }$server $(thousands "$per_hit")"
  done
  echo
  echo "instructions per 1 KiB hit: $summary (target: cacheproxy at most 15,000)"
fi

step "Peak memory (VmHWM) of a fresh proxy serving a 1 GiB file"
peak_kib() {
  awk '/VmHWM/ { print $2 }' "/proc/$1/status"
}
# wait_for_log NAME PATTERN: waits (at most 60 s) for a line matching the
# extended regular expression PATTERN in NAME's log.
# The proxy logs a request after storing its copy, which can be after curl is done.
wait_for_log() {
  for _ in $(seq 600); do
    grep -qE "$2" "$WORK/$1.log" && return 0
    sleep 0.1
  done
  fail "no \"$2\" in the $1 log"
}
# peak_mib NAME CACHE_RESULT: starts a fresh proxy (as NAME) on the 1 GiB
# cache, fetches the file, waits until it is logged as CACHE_RESULT, and sets
# PEAK_MIB to the proxy's peak resident memory in MiB.
peak_mib() {
  start "$1" proxy --port 0 --origin "$ORIGIN" --cache-dir "$WORK/cache-1g"
  curl -s -o /dev/null "$URL/1g.bin"
  wait_for_log "$1" "\"GET /1g.bin HTTP/1.1\" 200 [0-9]+ $2 "
  PEAK_MIB=$(($(peak_kib "$(pid_of "$1")") / 1024))
  stop "$1"
}
if [ -r /proc/self/status ]; then
  truncate -s 1G "$FILES/1g.bin"
  peak_mib memory-miss MISS
  miss_peak="$PEAK_MIB"
  peak_mib memory-hit HIT
  hit_peak="$PEAK_MIB"
  echo "| served | peak resident memory |"
  echo "|---|---|"
  echo "| 1 GiB on a miss (origin to client and disk) | $miss_peak MiB |"
  echo "| 1 GiB on a hit (disk to client) | $hit_peak MiB |"
  rm -rf "$WORK/cache-1g" "$FILES/1g.bin"
else
  echo "no /proc on this system: skipped"
fi

step "One slow client: how long a second client waits"
start slow proxy --port 0 --origin "$ORIGIN" --cache-dir "$WORK/cache" --client-timeout 2000
host_port="${URL#http://}"
curl -s -o /dev/null "$URL/1k.bin"
# The first client sends one byte every half second and never finishes.
(
  exec 3<>"/dev/tcp/${host_port%:*}/${host_port#*:}"
  for byte in G E T ' ' / ' ' H T T P; do printf '%s' "$byte" >&3; sleep 0.5; done
) 2>/dev/null &
trickler=$!
sleep 0.1
waited="$(curl -s -o /dev/null -w '%{time_total}' "$URL/1k.bin")"
kill "$trickler" 2>/dev/null || true
echo "| what | seconds |"
echo "|---|---|"
echo "| the second client's wait for a 1 KiB hit (deadline 2 s) | $waited |"

step "The machine"
echo "$(getconf _NPROCESSORS_ONLN) cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || uname -m), $(uname -sr)"
echo "wrk $(command -v wrk >/dev/null && { wrk -v 2>&1 || true; } | head -n 1 | awk '{ print $2 }' || echo none), nginx $( (nginx -v 2>&1 || echo none) | sed 's/.*nginx\///')"
