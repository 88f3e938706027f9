#!/usr/bin/env bash
# Every check the project makes, in the order a reviewer would: formatting,
# lints, docs, the unit and integration tests, then the demo end to end.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --quiet --all-targets -- -D warnings
echo "== cargo doc --no-deps (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --quiet --no-deps
echo "== cargo test"
test_log="$(mktemp)"
trap 'rm -f "$test_log"' EXIT
cargo test 2>&1 | tee "$test_log"
for script in demo expiry purge stale; do
  echo "== scripts/$script.sh"
  "scripts/$script.sh"
done
# One closing line with the totals of every test binary above.
awk '/^test result:/ { passed += $4; failed += $6 }
     END { printf "summary: %d passed, %d failed\n", passed, failed }' "$test_log"
