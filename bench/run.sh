#!/usr/bin/env bash
# bench/run.sh (make bench): runs the load benchmarks of package bench,
# Spillway and the net/http baseline in the same run, then prints a
# benchstat table (baseline column first, Spillway's change against it)
# and the req/s ratio Spillway/baseline per setup and case.
#
# Knobs (environment):
#   COUNT=6          runs of each benchmark (benchstat wants at least 6)
#   BENCHTIME=250ms  -benchtime of each run
#   BENCH=regexp     -bench selection (default: both proxies, every setup)
#   BENCH_OUT=dir    where the raw output is kept (default: a new temp dir)
#
# With the defaults a run takes about 6 minutes on 2 cores (each run of the
# test binary about 55 s, whatever the load: -benchtime bounds wall time).
set -euo pipefail
cd "$(dirname "$0")/.."

COUNT=${COUNT:-6}
BENCHTIME=${BENCHTIME:-250ms}
BENCH=${BENCH:-'^Benchmark(Spillway|Baseline)$'}
OUT=${BENCH_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/spillway-bench.XXXXXX")}
mkdir -p "$OUT"
RAW=$OUT/bench.txt
export CGO_ENABLED=1

# benchstat is a Go program; install it into GOBIN (or GOPATH/bin) once.
BENCHSTAT=$(command -v benchstat || true)
if [ -z "$BENCHSTAT" ]; then
	gobin=$(go env GOBIN)
	gobin=${gobin:-$(go env GOPATH)/bin}
	if [ ! -x "$gobin/benchstat" ]; then
		echo "installing benchstat into $gobin" >&2
		go install golang.org/x/perf/cmd/benchstat@latest
	fi
	BENCHSTAT=$gobin/benchstat
fi

# The plugin-so setup needs the example plugin built like the test binary;
# make bench builds it first, a bare run.sh builds it here.
if [ ! -f plugins/addheader.so ]; then
	echo "building plugins/addheader.so" >&2
	mkdir -p plugins
	go build -buildmode=plugin -o plugins/addheader.so ./pluginhost/examples/addheader
fi

# The test binary is built once and run COUNT times, so Spillway and the
# baseline alternate: a slow spell on a shared machine then lands on both
# instead of on whichever ran during it. It runs in bench/, where go test
# would, because the plugin-so setup finds ../plugins from there.
go test -c -o "$OUT/bench.test" ./bench
: >"$RAW"
for i in $(seq "$COUNT"); do
	echo "run $i/$COUNT: -bench '$BENCH' -benchmem -benchtime $BENCHTIME" >&2
	(cd bench && "$OUT/bench.test" -test.run '^$' -test.bench "$BENCH" -test.benchmem \
		-test.count 1 -test.benchtime "$BENCHTIME" -test.timeout 10m) |
		tee -a "$RAW" | grep -E '^(--- |FAIL|panic)' >&2 || true
done
if grep -q '^FAIL' "$RAW"; then
	echo "benchmarks failed; see $RAW" >&2
	exit 1
fi

echo
echo "== benchstat: each setup and case, baseline (net/http) vs Spillway =="
"$BENCHSTAT" -filter '-/setup:/^lb-/ OR /setup:lb-round-robin' \
	-col '.name@(Baseline Spillway)' -row '/setup,/case' "$RAW"
echo
echo "== benchstat: Spillway's balancer policies (no baseline counterpart) =="
"$BENCHSTAT" -filter '.name:Spillway /setup:/^lb-/' -row '/setup,/case' "Spillway=$RAW"

echo
echo "== req/s, median of $COUNT runs: Spillway / baseline =="
# Lines look like
#   BenchmarkSpillway/setup=plain/case=small-2  5082  76425 ns/op ... 13110 req/s ...
# Emit "order setup case proxy value" per run (order: where the setup and
# case first appear), sort, and take each group's median.
awk '/^Benchmark(Spillway|Baseline)\// {
	split($1, p, "/"); proxy = (p[1] == "BenchmarkSpillway") ? "spillway" : "baseline"
	setup = p[2]; sub(/^setup=/, "", setup)
	c = p[3]; sub(/^case=/, "", c); sub(/-[0-9]+$/, "", c)
	if (!((setup, c) in order)) order[setup, c] = ++rows
	for (i = 2; i <= NF; i++) if ($i == "req/s") print order[setup, c], setup, c, proxy, $(i-1)
}' "$RAW" | sort -k1,1n -k4,4 -k5,5g | awk '
function flush() {
	if (n == 0) return
	val[row, proxy] = (n % 2) ? v[(n+1)/2] : (v[n/2] + v[n/2+1]) / 2
	n = 0
}
function fmt(x) { return x == "" ? "-" : sprintf("%.0f", x) }
{
	if ($1 != row || $4 != proxy) { flush() }
	name[$1] = $2 " " $3; if ($1 > rows) rows = $1
	row = $1; proxy = $4; v[++n] = $5
}
END {
	flush()
	printf "%-30s %-8s %12s %12s %8s\n", "setup", "case", "spillway", "baseline", "ratio"
	for (i = 1; i <= rows; i++) {
		split(name[i], k, " ")
		s = val[i, "spillway"]; b = val[i, "baseline"]
		ratio = (s != "" && b != "" && b > 0) ? sprintf("%.2fx", s / b) : "-"
		printf "%-30s %-8s %12s %12s %8s\n", k[1], k[2], fmt(s), fmt(b), ratio
	}
}'
echo
echo "raw output: $RAW"
