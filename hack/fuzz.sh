#!/usr/bin/env bash
# Runs every fuzz target of the module, one after another, for FUZZTIME each (default 1m), and
# prints one line per target: executions, new interesting inputs, result. Targets are found by
# reading the test files (`func FuzzXxx(f *testing.F)`), so a new one is picked up without
# touching this script; `go test -list` would compile every package just to list them.
# A failing input is written by Go under the package's testdata/fuzz/<target>/: keep it there
# as a regression seed once the code is fixed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
FUZZTIME=${FUZZTIME:-1m}
GO=${GO:-go}

mapfile -t targets < <(git ls-files -- '*_test.go' | xargs grep -HoE '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' |
	sed -E 's#^(.*)/[^/]+_test\.go:func (Fuzz[A-Za-z0-9_]+).*#\1 \2#' | sort -u)
if [ ${#targets[@]} -eq 0 ]; then
	echo "no fuzz targets found" >&2
	exit 1
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
failed=0
summary=()
start=$SECONDS
for t in "${targets[@]}"; do
	dir=${t% *} name=${t#* }
	echo "== $name (./$dir) for $FUZZTIME"
	if $GO test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "./$dir" >"$log" 2>&1; then
		result=ok
	elif grep -q 'context deadline exceeded' "$log" && ! grep -qE 'Failing input written|failure while testing seed corpus|panic:|_test\.go:[0-9]+:' "$log"; then
		# Go's fuzz coordinator can report its own -fuzztime deadline as a failure when a
		# worker is still busy at the stop (golang/go#75804, fixed in go1.27): no input
		# failed, nothing was written to testdata.
		result="ok (stopped by the go#75804 deadline race)"
	else
		result=FAIL
		failed=1
		grep -v "^fuzz: elapsed" "$log" | tail -40
	fi
	last=$(grep '^fuzz: elapsed' "$log" | tail -1)
	execs=$(sed -nE 's/.*execs: ([0-9]+).*/\1/p' <<<"$last")
	newi=$(sed -nE 's/.*new interesting: ([0-9]+) \(total: ([0-9]+)\).*/\1 (corpus \2)/p' <<<"$last")
	summary+=("$(printf '%-28s %-32s execs %-10s new interesting %-16s %s' "$name" "./$dir" "${execs:-?}" "${newi:-?}" "$result")")
done
echo
printf '%s\n' "${summary[@]}"
echo "fuzzing took $((SECONDS - start))s for ${#targets[@]} targets at $FUZZTIME each"
exit $failed
