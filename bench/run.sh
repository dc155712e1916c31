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
# With the defaults a run takes about 4-6 minutes on 2 cores.
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

echo "go test -bench '$BENCH' -benchmem -count $COUNT -benchtime $BENCHTIME ./bench > $RAW" >&2
go test -run '^$' -bench "$BENCH" -benchmem -count "$COUNT" -benchtime "$BENCHTIME" \
	-timeout 20m ./bench | tee "$RAW" | grep -E '^(Benchmark|--- |FAIL|ok|PASS)' >&2

echo
echo "== benchstat: each setup and case, baseline (net/http) vs Spillway =="
"$BENCHSTAT" -col '.name@(Baseline Spillway)' -row '/setup,/case' "$RAW"

echo
echo "== req/s, median of $COUNT runs: Spillway / baseline =="
# Lines look like
#   BenchmarkSpillway/setup=plain/case=small-2  5082  76425 ns/op ... 13110 req/s ...
# Emit "setup case proxy value" per run, sort, and take each group's median.
awk '/^Benchmark(Spillway|Baseline)\// {
	split($1, p, "/"); proxy = (p[1] == "BenchmarkSpillway") ? "spillway" : "baseline"
	setup = p[2]; sub(/^setup=/, "", setup)
	c = p[3]; sub(/^case=/, "", c); sub(/-[0-9]+$/, "", c)
	for (i = 2; i <= NF; i++) if ($i == "req/s") print setup, c, proxy, $(i-1)
}' "$RAW" | sort -k1,1 -k2,2 -k3,3 -k4,4g | awk '
function flush() {
	if (n == 0) return
	med = (n % 2) ? v[(n+1)/2] : (v[n/2] + v[n/2+1]) / 2
	if (!(row in seen)) { seen[row] = 1; order[++rows] = row }
	val[row, prev_proxy] = med
	n = 0
}
{
	key = $1 " " $2 " " $3
	if (key != prev_key) { flush(); prev_key = key }
	row = $1 " " $2; prev_proxy = $3; v[++n] = $4
}
END {
	flush()
	printf "%-30s %-8s %12s %12s %8s\n", "setup", "case", "spillway", "baseline", "ratio"
	for (i = 1; i <= rows; i++) {
		split(order[i], k, " ")
		s = val[order[i], "spillway"]; b = val[order[i], "baseline"]
		ratio = (s != "" && b != "" && b > 0) ? sprintf("%.2fx", s / b) : "-"
		printf "%-30s %-8s %12s %12s %8s\n", k[1], k[2], (s == "" ? "-" : sprintf("%.0f", s)), (b == "" ? "-" : sprintf("%.0f", b)), ratio
	}
}'
echo
echo "raw output: $RAW"
