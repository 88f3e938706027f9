#!/usr/bin/env bash
# Every check the project makes, in the order a reviewer would: formatting,
# lints, docs, the unit and integration tests, then the demo end to end.
# Started with `sh`? These scripts need bash (arrays, pipefail); say so plainly.
if [ -z "${BASH_VERSION:-}" ]; then
  echo "run this script with bash: bash $0 (or ./$0)" >&2
  exit 2
fi
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy --all-targets -- -D warnings (and five pedantic lints a learner should not copy)"
echo "(the first run compiles every dependency, about a minute; cargo prints each one)"
cargo clippy --all-targets -- -D warnings -D clippy::format_push_string -D clippy::format_collect \
  -D clippy::cast_possible_wrap -D clippy::items_after_statements -D clippy::needless_pass_by_value
echo "== cargo doc --no-deps (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps
echo "== cargo test"
test_log="$(mktemp)"
trap 'rm -f "$test_log"' EXIT
cargo test 2>&1 | tee "$test_log"
echo "== cargo test --no-default-features (a plain-HTTP build, without TLS)"
cargo test --no-default-features 2>&1 | tee -a "$test_log"
for script in demo expiry purge stale clients; do
  echo "== scripts/$script.sh"
  "scripts/$script.sh"
done
echo "== scripts/tour.sh --no-pause"
tour_log="$(mktemp)"
trap 'rm -f "$test_log" "$tour_log"' EXIT
scripts/tour.sh --no-pause | tee "$tour_log"
# The tour checks each stop itself; this checks that every stop was shown.
for shown in "X-Cache: MISS" "X-Cache: HIT" "X-Cache: REVALIDATED" "purged /" "X-Cache: STALE" \
  "HTTP/1.1 400 Bad Request" "HTTP/1.1 408 Request Timeout" "the reply flowed slower than --min-rate" "1. receive:" "6. done:" "tour complete"; do
  grep -qF "$shown" "$tour_log" || { echo "FAILED: the tour never showed '$shown'" >&2; exit 1; }
done
# One closing line with the totals of every test binary above.
awk '/^test result:/ { passed += $4; failed += $6 }
     END { printf "summary: %d passed, %d failed\n", passed, failed }' "$test_log"
