#!/usr/bin/env bash
# bench/tlscompare.sh: Spillway terminating TLS next to nginx terminating TLS
# with the same certificate, each on one core (issue 7, "Speed").
#
# Run from anywhere in the checkout:   bench/tlscompare.sh [options]
#   -d SECONDS   length of each measured wrk run, after a 1 s warm-up (default 6)
#   -c CONNS     wrk's keep-alive connections (default 64)
#   -r ROUNDS    rounds; each proxy runs once per round, in turn; medians are kept (default 3)
#   -k KEY       certificate key: ec (P-256, default) or rsa (2048 bits)
#   -a           also measure plain HTTP through the same processes (the cost of TLS)
#   -x NAME      skip a proxy: nginx or spillway
#   -o FILE      also write the table as TSV to FILE
#   -p DIR       run Spillway with -cpuprofile, one DIR/spillway-rN.pprof per round
#                (profiling costs CPU: figures of such a run are not for comparison)
#   -R RATE      also send RATE req/s over TLS with bench/rate (open loop) to each
#                proxy and path, and print p50/p99 below saturation
#
# Layout, as in the shared rig (../shared/rig/compare.sh): the proxy under
# test is pinned to CPU 0 (nginx: one worker; Spillway: GOMAXPROCS=1); wrk
# and the two nginx origins share CPU 1. Both proxies use one self-signed
# certificate made here with openssl, TLS 1.2 and 1.3 enabled; the version
# and cipher each one negotiates with an OpenSSL client (wrk's library) are
# printed, so a difference in cipher cannot hide in the figures.
#
# For each proxy and path (/ answers 12 bytes, /big 16 KiB) it prints the
# medians over rounds of req/s, p99 latency, and the proxy's own CPU time
# per request (user+sys from /proc/PID/stat over the measured run, divided
# by the requests wrk counted), with the ratios to nginx. cpu_us/req is the
# steadiest figure on a shared machine; its min-max over rounds is shown.
# busy is the share of its core the proxy used during the run: well under
# 1, the proxy was waiting (on wrk, the origins or other load), not full.
# A row marked BAD saw non-2xx answers or socket errors.
#
# Ports (environment): ORIGIN_PORTS="19301 19302" NGINX_PORT=19343
# SPILLWAY_PORT=19344, and with -a NGINX_PLAIN_PORT=19381 SPILLWAY_PLAIN_PORT=19382;
# not the rig's, so both can run at once (though not usefully).
# Everything it starts is stopped when it ends.
set -euo pipefail

dur=6 conns=64 rounds=3 keytype=ec plain=0 skip="" tsv="" profdir="" rate=0
while getopts "d:c:r:k:ax:o:p:R:" o; do
	case $o in
	d) dur=$OPTARG ;; c) conns=$OPTARG ;; r) rounds=$OPTARG ;; k) keytype=$OPTARG ;;
	a) plain=1 ;; x) skip=$OPTARG ;; o) tsv=$OPTARG ;;
	p) mkdir -p "$OPTARG" && profdir=$(realpath "$OPTARG") ;;
	R) rate=$OPTARG ;;
	*) sed -n '4,16p' "$0"; exit 2 ;;
	esac
done
[[ $keytype == ec || $keytype == rsa ]] || { echo "-k: ec or rsa" >&2; exit 2; }
[[ -z $skip || $skip == nginx || $skip == spillway ]] || { echo "-x: nginx or spillway" >&2; exit 2; }

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
read -r origin1 origin2 <<<"${ORIGIN_PORTS:-19301 19302}"
nginx_port=${NGINX_PORT:-19343} spill_port=${SPILLWAY_PORT:-19344}
nginx_plain=${NGINX_PLAIN_PORT:-19381} spill_plain=${SPILLWAY_PLAIN_PORT:-19382}
hz=$(getconf CLK_TCK)

need=()
for t in wrk nginx openssl taskset curl; do command -v "$t" >/dev/null || need+=("$t"); done
if ((${#need[@]})); then
	echo "installing: ${need[*]}" >&2
	need=("${need[@]/taskset/util-linux}")
	(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}") >/dev/null
fi
if (($(nproc) < 2)); then
	echo "tlscompare needs 2 CPUs: one for the proxy, one for wrk and the origins" >&2
	exit 1
fi

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$origin1" "$origin2" "$nginx_port" "$spill_port" "$nginx_plain" "$spill_plain"; do
	if port_open "$p"; then
		echo "port $p is in use; see the port variables in $0" >&2
		exit 1
	fi
done

dir=$(mktemp -d /tmp/tlscompare.XXXXXX)
pids=()
# descendants PID: every process under PID, each before its own children.
descendants() {
	local c
	for c in $(pgrep -P "$1"); do
		echo "$c"
		descendants "$c"
	done
}
cleanup() {
	trap - EXIT
	for p in "${pids[@]:-}"; do [[ -n $p ]] && kill "$p" 2>/dev/null || true; done
	# Interrupted mid-run, a wrk (under a command substitution) may remain.
	local left
	left=$(descendants $$)
	# (The list also names the finished subshell that made it: ignore failures.)
	if [[ -n $left ]]; then kill $left 2>/dev/null || true; fi
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
# nginx's worker may run as another user: it must reach the body file.
chmod 755 "$dir"
mkdir -p "$dir/body" "$dir/pbody"
head -c 16384 /dev/urandom >"$dir/16k.bin" && chmod 644 "$dir/16k.bin"

# One certificate for both proxies. wrk does not verify it; bench/rate (-R)
# does, which is what the names are for.
case $keytype in
ec) newkey=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1) ;;
rsa) newkey=(-newkey rsa:2048) ;;
esac
openssl req -x509 "${newkey[@]}" -nodes -days 2 -subj /CN=localhost \
	-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
	-keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null

fill() { # TEMPLATE -> stdout with the placeholders replaced
	sed -e "s#DIR#$dir#g" -e "s#ORIGIN1#$origin1#g" -e "s#ORIGIN2#$origin2#g" \
		-e "s#NGINX_TLS#$nginx_port#g" -e "s#NGINX_PLAIN#$nginx_plain#g" "$1"
}
fill "$here/tls/origin-nginx.conf" >"$dir/origin-nginx.conf"
fill "$here/tls/nginx-tls.conf" >"$dir/nginx-tls.conf"
((plain)) && sed -i 's/#PLAIN //' "$dir/nginx-tls.conf"

# Spillway: one TLS service in front of the same two origins, certificate
# paths relative to the configuration file; with -a a plain service too.
spill_service() { # NAME PORT [TLS]
	cat <<EOF
  - name: $1
    port: $2
EOF
	if [[ ${3:-} == tls ]]; then
		echo "    tls: {enabled: true, cert_file: cert.pem, key_file: key.pem}"
	fi
	cat <<EOF
    locations:
      - path: /
        lb_policy: round-robin
        backends:
          - url: http://127.0.0.1:$origin1
          - url: http://127.0.0.1:$origin2
EOF
}
{
	echo "plugin_directory: \"$dir/noplugins\""
	echo "services:"
	spill_service tls "$spill_port" tls
	if ((plain)); then spill_service plain "$spill_plain"; fi
} >"$dir/spillway.yaml"
mkdir -p "$dir/noplugins"

wait_port() { # PORT LOG
	for _ in $(seq 100); do port_open "$1" && return 0; sleep 0.1; done
	echo "port $1 never opened; log:" >&2
	cat "$2" >&2 || true
	return 1
}
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

taskset -c 1 nginx -c "$dir/origin-nginx.conf" &
pids+=($!)
wait_port "$origin1" "$dir/origin.err"

if [[ $skip != spillway ]]; then
	echo "building spillway" >&2
	(cd "$root" && CGO_ENABLED=1 go build -o "$dir/spillway" ./cmd/spillway)
	"$dir/spillway" -check -config "$dir/spillway.yaml" >/dev/null
fi
if ((rate > 0)); then
	(cd "$root" && go build -o "$dir/rate" ./bench/rate)
fi

# start NAME ROUND -> sets cur (the process started), worker (the one whose
# CPU is counted), tls_port and plain_port.
start() {
	case $1 in
	nginx)
		taskset -c 0 nginx -c "$dir/nginx-tls.conf" &
		cur=$!
		pids+=("$cur")
		tls_port=$nginx_port plain_port=$nginx_plain
		wait_port "$tls_port" "$dir/nginx-tls.err"
		worker=$(pgrep -P "$cur" | head -1) ;;
	spillway)
		local prof=()
		[[ -n $profdir ]] && prof=(-cpuprofile "$profdir/spillway-r$2.pprof")
		(cd "$dir" && GOMAXPROCS=1 exec taskset -c 0 ./spillway -config spillway.yaml "${prof[@]}") \
			>>"$dir/spillway.log" 2>&1 &
		cur=$!
		pids+=("$cur")
		tls_port=$spill_port plain_port=$spill_plain
		wait_port "$tls_port" "$dir/spillway.log"
		worker=$cur ;;
	esac
}
stop() {
	kill "$cur" 2>/dev/null || true
	wait "$cur" 2>/dev/null || true
	# Forget it, so that the exit trap never signals a recycled PID.
	local keep=() p
	for p in "${pids[@]}"; do [[ $p != "$cur" ]] && keep+=("$p"); done
	pids=("${keep[@]}")
	sleep 0.3
}

# check URL: the bodies must be the origins' before anything is measured.
check() {
	local n
	n=$(curl -sk --max-time 5 -o /dev/null -w '%{http_code} %{size_download}' "$1/") || true
	[[ $n == "200 12" ]] || { echo "$1/ answered '$n', want '200 12'" >&2; return 1; }
	n=$(curl -sk --max-time 5 -o /dev/null -w '%{http_code} %{size_download}' "$1/big") || true
	[[ $n == "200 16384" ]] || { echo "$1/big answered '$n', want '200 16384'" >&2; return 1; }
}

# negotiated PORT -> "TLSv1.3 TLS_AES_128_GCM_SHA256", as an OpenSSL client sees it.
negotiated() {
	openssl s_client -connect "127.0.0.1:$1" -servername localhost </dev/null 2>/dev/null |
		awk '/^New, /{gsub(",", ""); print $2, $5; exit}'
}

# measure URL -> "rps p99ms us_per_req busy note". busy is the share of
# its core the proxy used: well under 1 means it waited on something else
# (wrk, the origins, other load on the machine), so req/s says little.
measure() {
	taskset -c 1 wrk -t1 -c"$conns" -d1s "$1" >/dev/null 2>&1 || true # warm-up
	local t0 t1 w0 w1 out rps reqs p99 note=ok
	t0=$(ticks "$worker") w0=$(date +%s%N)
	out=$(taskset -c 1 wrk -t1 -c"$conns" -d"${dur}s" --latency "$1" 2>&1)
	t1=$(ticks "$worker") w1=$(date +%s%N)
	rps=$(awk '/^Requests\/sec/{print $2}' <<<"$out")
	reqs=$(awk '/requests in/{print $1}' <<<"$out")
	p99=$(awk '$1=="99%"{v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; printf "%.2f", v}' <<<"$out")
	# An answer other than 2xx, a socket error, or no run at all (wrk could not connect).
	if [[ -z $rps ]] || grep -qE "Non-2xx|Socket errors" <<<"$out"; then note=BAD; fi
	echo "${rps:-0} ${p99:-0} $(awk -v t=$((t1 - t0)) -v hz="$hz" -v n="${reqs:-0}" -v ns=$((w1 - w0)) \
		'BEGIN{if (n > 0) printf "%.2f %.2f", t * 1e6 / hz / n, t / hz / (ns / 1e9); else print "0 0"}') $note"
}

# fixed URL -> "p50ms p99ms achieved note" at $rate req/s. bench/rate checks
# the certificate (its names include 127.0.0.1), trusted via SSL_CERT_FILE.
fixed() {
	local out
	out=$(SSL_CERT_FILE="$dir/cert.pem" taskset -c 1 "$dir/rate" -url "$1" -rate "$rate" -d "${dur}s" -c "$conns" 2>&1) || true
	awk '/^target/{print $8, $14, $5, ($20 == 0 ? "ok" : "BAD"); f=1} END{if (!f) print "0 0 0 BAD"}' <<<"$out"
}

names=()
for n in nginx spillway; do [[ $n != "$skip" ]] && names+=("$n"); done
declare -A res proto fix
for r in $(seq "$rounds"); do
	for n in "${names[@]}"; do
		start "$n" "$r"
		check "https://127.0.0.1:$tls_port"
		[[ -z ${proto[$n]:-} ]] && proto[$n]=$(negotiated "$tls_port")
		for path in / /big; do
			res[$n-tls,$path]+="$(measure "https://127.0.0.1:$tls_port$path");"
			if ((rate > 0)); then
				fix[$n,$path]+="$(fixed "https://127.0.0.1:$tls_port$path");"
			fi
		done
		if ((plain)); then
			check "http://127.0.0.1:$plain_port"
			for path in / /big; do
				res[$n-http,$path]+="$(measure "http://127.0.0.1:$plain_port$path");"
			done
		fi
		stop
	done
done

# col FIELD: the median of one whitespace-separated field over the rounds.
col() { tr ';' '\n' | sed '/^$/d' | awk -v f="$1" '{print $f}' | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
span() { tr ';' '\n' | sed '/^$/d' | awk -v f="$1" 'NR==1||$f<lo{lo=$f} NR==1||$f>hi{hi=$f} END{printf "%s-%s", lo, hi}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{if (b > 0) printf "%.2f", a / b; else print "-"}'; }

echo "# $(date -u '+%Y-%m-%d %H:%M UTC')  commit $(git -C "$root" describe --always --dirty 2>/dev/null || echo "?")  $(nproc) CPUs, $(uname -r), $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)"
echo "# ${rounds} rounds x ${dur}s, wrk -t1 -c$conns, key $keytype; negotiated:$(for n in "${names[@]}"; do printf ' %s %s;' "$n" "${proto[$n]:-?}"; done)"
fmt="%-14s %-5s %9s %8s %10s %12s %5s %8s %8s %s\n"
printf "$fmt" proxy path req/s p99_ms cpu_us/req cpu_range busy rps/ngx cpu/ngx note
[[ -n $tsv ]] && printf "proxy\tpath\treq_s\tp99_ms\tcpu_us_per_req\tcpu_range\tbusy\trps_vs_nginx\tcpu_vs_nginx\tnote\n" >"$tsv"
kinds=(tls)
((plain)) && kinds+=(http)
for kind in "${kinds[@]}"; do
	for path in / /big; do
		base_rps=$(col 1 <<<"${res[nginx-$kind,$path]:-}")
		base_cpu=$(col 3 <<<"${res[nginx-$kind,$path]:-}")
		for n in "${names[@]}"; do
			k=$n-$kind,$path
			[[ -z ${res[$k]:-} ]] && continue
			rps=$(col 1 <<<"${res[$k]}") p99=$(col 2 <<<"${res[$k]}") cpu=$(col 3 <<<"${res[$k]}")
			note=ok
			grep -q BAD <<<"${res[$k]}" && note=BAD
			row=("$n-$kind" "$path" "$(printf %.0f "$rps")" "$p99" "$cpu" "$(span 3 <<<"${res[$k]}")" \
				"$(col 4 <<<"${res[$k]}")" "$(ratio "$rps" "${base_rps:-0}")" "$(ratio "$cpu" "${base_cpu:-0}")" "$note")
			# shellcheck disable=SC2059 # fmt is this script's own format
			printf "$fmt" "${row[@]}"
			if [[ -n $tsv ]]; then (IFS=$'\t'; echo "${row[*]}") >>"$tsv"; fi
		done
	done
done

if ((rate > 0)); then
	echo
	echo "# fixed rate over TLS: $rate req/s for ${dur}s, $conns connections (bench/rate, latency from when each request was due)"
	printf "%-14s %-5s %9s %8s %8s %8s %s\n" proxy path achieved p50_ms p99_ms p99/ngx note
	for path in / /big; do
		base=$(col 2 <<<"${fix[nginx,$path]:-}")
		for n in "${names[@]}"; do
			[[ -z ${fix[$n,$path]:-} ]] && continue
			note=ok
			grep -q BAD <<<"${fix[$n,$path]}" && note=BAD
			p99=$(col 2 <<<"${fix[$n,$path]}")
			printf "%-14s %-5s %9s %8s %8s %8s %s\n" "$n-tls" "$path" "$(col 3 <<<"${fix[$n,$path]}")" \
				"$(col 1 <<<"${fix[$n,$path]}")" "$p99" "$(ratio "$p99" "${base:-0}")" "$note"
		done
	done
fi
