#!/usr/bin/env bash
# bench/loadtest.sh (make loadtest): Spillway under wrk, pinned to one core.
#
# Builds ./cmd/spillway and the origin of bench/origin, starts the origin
# and Spillway (taskset -c 0, GOMAXPROCS=1) with a Terraster-style config,
# and runs wrk on the other core against the small (12 B) and 16 KiB
# paths. When plugins/addheader.so exists (make plugins) it measures
# Spillway again with that plugin loaded. For each run it prints req/s,
# p50 and p99 latency and Spillway's own CPU time per request (user+sys
# from /proc/PID/stat), the steadiest figure on a shared machine. A row
# marked BAD saw non-2xx answers or socket errors. Then bench/rate sends
# a fixed rate (RATE, default half the req/s wrk reached) and prints p50
# and p99 at that moderate load. Everything it starts is stopped when it
# ends.
#
# The same runs are made with bench/baseline, net/http + httputil.ReverseProxy
# (with the same plugin logic as net/http code for baseline+addheader), so
# the per-core ratio Spillway/baseline can be read off the table.
#
# Knobs (environment):
#   DURATION=5      seconds of each measured wrk run (after a 1 s warm-up)
#   CONNS=64        wrk's keep-alive connections
#   RATE=N          req/s of the fixed-rate run (default: half of wrk's req/s)
#   PROXY_PORT=18480 ORIGIN_PORT=18481   loopback ports (the shared rig uses 808x/910x)
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-5}
CONNS=${CONNS:-64}
PROXY_PORT=${PROXY_PORT:-18480}
ORIGIN_PORT=${ORIGIN_PORT:-18481}
export CGO_ENABLED=1

if ! command -v wrk >/dev/null || ! command -v taskset >/dev/null; then
	echo "installing wrk" >&2
	(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk util-linux) >/dev/null
fi
if [ "$(nproc)" -lt 2 ]; then
	echo "loadtest needs 2 CPUs: one for Spillway, one for wrk and the origin" >&2
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/spillway-loadtest.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]:-}"; do
		[ -n "$p" ] && kill "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
	for _ in $(seq 100); do
		port_open "$1" && return 0
		sleep 0.1
	done
	echo "port $1 never opened; log:" >&2
	cat "$2" >&2
	return 1
}
for p in "$PROXY_PORT" "$ORIGIN_PORT"; do
	if port_open "$p"; then
		echo "port $p is already in use; set PROXY_PORT / ORIGIN_PORT" >&2
		exit 1
	fi
done

echo "building spillway, the baseline and the origin" >&2
go build -o "$tmp/spillway" ./cmd/spillway
go build -o "$tmp/baseline" ./bench/baseline
go build -o "$tmp/origin" ./bench/origin
go build -o "$tmp/rate" ./bench/rate

GOMAXPROCS=1 taskset -c 1 "$tmp/origin" -addr "127.0.0.1:$ORIGIN_PORT" >"$tmp/origin.log" 2>&1 &
pids+=($!)
wait_port "$ORIGIN_PORT" "$tmp/origin.log"

# config NAME PLUGIN_DIR writes Spillway's configuration with Terraster's keys.
config() {
	cat >"$tmp/$1.yaml" <<YAML
port: $PROXY_PORT
host: 127.0.0.1
algorithm: round-robin
plugin_directory: "$2"
backends:
  - url: http://127.0.0.1:$ORIGIN_PORT
YAML
}
mkdir -p "$tmp/none" "$tmp/addheader"
config spillway "$tmp/none"
runs=(spillway)
if [ -f plugins/addheader.so ]; then
	ln -s "$PWD/plugins/addheader.so" "$tmp/addheader/addheader.so"
	config spillway+addheader "$tmp/addheader"
	runs+=(spillway+addheader)
else
	echo "plugins/addheader.so not built (make plugins): measuring without plugins only" >&2
fi

runs+=(baseline baseline+addheader)

# start RUN starts the proxy of a run on CPU 0 with one thread and sets pid.
start() {
	case $1 in
	spillway*) GOMAXPROCS=1 taskset -c 0 "$tmp/spillway" -config "$tmp/$1.yaml" >"$tmp/$1.log" 2>&1 & ;;
	baseline) GOMAXPROCS=1 taskset -c 0 "$tmp/baseline" -addr "127.0.0.1:$PROXY_PORT" -backend "http://127.0.0.1:$ORIGIN_PORT" >"$tmp/$1.log" 2>&1 & ;;
	baseline+addheader) GOMAXPROCS=1 taskset -c 0 "$tmp/baseline" -plugin -addr "127.0.0.1:$PROXY_PORT" -backend "http://127.0.0.1:$ORIGIN_PORT" >"$tmp/$1.log" 2>&1 & ;;
	esac
	pid=$!
}
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# ms converts wrk's latency (850.00us, 1.20ms, 1.01s) to milliseconds.
ms() { awk -v v="$1" 'BEGIN {
	if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) }
	else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }
	printf "%.3f", v }'; }

hz=$(getconf CLK_TCK)
fixed=()
printf "%-20s %-7s %10s %9s %9s %11s %s\n" run path req/s p50_ms p99_ms cpu_us/req note
for run in "${runs[@]}"; do
	start "$run"
	pids+=("$pid")
	wait_port "$PROXY_PORT" "$tmp/$run.log"
	for path in /small /16k; do
		url="http://127.0.0.1:$PROXY_PORT$path"
		taskset -c 1 wrk -t1 -c"$CONNS" -d1s "$url" >/dev/null 2>&1 || true # warm-up
		t0=$(ticks "$pid")
		out=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "$url" 2>&1)
		t1=$(ticks "$pid")
		rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
		reqs=$(awk '/requests in/ {print $1}' <<<"$out")
		p50=$(ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
		p99=$(ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
		cpu=$(awk -v t=$((t1 - t0)) -v hz="$hz" -v n="${reqs:-0}" 'BEGIN { if (n > 0) printf "%.2f", t * 1e6 / hz / n; else print "-" }')
		note=""
		grep -qE "Non-2xx|Socket errors" <<<"$out" && note=BAD
		printf "%-20s %-7s %10.0f %9s %9s %11s %s\n" "$run" "$path" "${rps:-0}" "$p50" "$p99" "$cpu" "$note"
		rate=${RATE:-$(awk -v r="${rps:-0}" 'BEGIN { printf "%d", r / 2 }')}
		if [ "$rate" -gt 0 ]; then
			fixed+=("$(printf "%-20s %-7s " "$run" "$path")$(taskset -c 1 "$tmp/rate" -url "$url" -rate "$rate" -d "${DURATION}s" -c "$CONNS" 2>&1 || true)")
		fi
	done
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	# The next run binds the same port.
	for _ in $(seq 50); do port_open "$PROXY_PORT" || break; sleep 0.1; done
done

echo
echo "fixed rate (open loop, latency from when each request was due):"
printf "%s\n" "${fixed[@]:-none}"
