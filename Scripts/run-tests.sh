#!/usr/bin/env bash
# Runs the test command given as arguments and ends with one plain summary line,
# "N passed, M failed", read from Swift Testing's own closing line. XCTest also reports
# (zero tests: the suites are Swift Testing), so its line alone would read as "no tests".
set -uo pipefail
log=$(mktemp)
# Tests write scratch files under the temporary directory; give them one of their own and
# remove it afterwards, so repeated runs leave nothing behind in /tmp.
scratch=$(mktemp -d)
trap 'rm -f "$log"; rm -rf "$scratch"' EXIT
export TMPDIR="$scratch"
"$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
total=$(grep -oE 'Test run with [0-9]+ tests?' "$log" | tail -1 | grep -oE '[0-9]+')
# "✘ Test name() failed …", or "✘ Test name(_:) with N test cases failed …" for parameterised ones.
failed_tests=$(grep -E '^✘ Test [^ ]+ (with [0-9]+ test cases? )?failed' "$log" | wc -l)
if [ -z "$total" ]; then
  echo "tests: no Swift Testing summary found (exit status $status)"
  exit $(( status == 0 ? 1 : status ))
fi
echo "tests: $(( total - failed_tests )) passed, $failed_tests failed"
exit "$status"
