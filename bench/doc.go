// Package bench holds Spillway's load benchmarks and the origin they proxy
// to.
//
// The benchmarks (bench_test.go) run real HTTP over loopback: in-process
// fasthttp origins on 127.0.0.1, a proxy in front of them, and a keep-alive
// fasthttp client with many concurrent connections. BenchmarkSpillway puts
// Spillway's fastproxy in front; BenchmarkBaseline runs the same setups and
// cases through net/http and httputil.ReverseProxy, the way Terraster does.
// Sub-benchmarks are named setup=…/case=… so benchstat can line the two up:
//
//	benchstat -col '.name@(Baseline Spillway)' -row /setup,/case out.txt
//
// bench/run.sh (make bench) and bench/loadtest.sh (make loadtest) drive them;
// bench/origin is the same origin as a program, for loadtest.sh and wrk, and
// bench/rate an open-loop client measuring latency at a fixed rate.
//
// The only non-test code here is Origin, shared by the benchmarks and
// bench/origin so both serve byte-identical answers.
package bench
