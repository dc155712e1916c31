package metrics

import (
	"strings"
	"testing"
	"time"
)

func TestRequestsAndTheTextFormat(t *testing.T) {
	var r Requests
	r.Observe(200, 3*time.Millisecond)
	r.Observe(204, 10*time.Millisecond) // on a bound: counted in it
	r.Observe(503, 2*time.Second)
	r.Observe(999, 20*time.Second)
	var b strings.Builder
	w := NewWriter(&b)
	w.Family("x_requests_total", "counter", "Answers.")
	w.Family("x_request_duration_seconds", "histogram", "Durations.")
	w.Requests("x", []Label{{"port", "80"}}, &r)
	w.Family("x_up", "gauge", "Up.")
	w.Sample("x_up", []Label{{"backend", `a"b\c` + "\n"}}, 1)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	want := `# HELP x_requests_total Answers.
# TYPE x_requests_total counter
# HELP x_request_duration_seconds Durations.
# TYPE x_request_duration_seconds histogram
x_requests_total{port="80",code="other"} 1
x_requests_total{port="80",code="1xx"} 0
x_requests_total{port="80",code="2xx"} 2
x_requests_total{port="80",code="3xx"} 0
x_requests_total{port="80",code="4xx"} 0
x_requests_total{port="80",code="5xx"} 1
x_request_duration_seconds_bucket{port="80",le="0.005"} 1
x_request_duration_seconds_bucket{port="80",le="0.01"} 2
x_request_duration_seconds_bucket{port="80",le="0.025"} 2
x_request_duration_seconds_bucket{port="80",le="0.05"} 2
x_request_duration_seconds_bucket{port="80",le="0.1"} 2
x_request_duration_seconds_bucket{port="80",le="0.25"} 2
x_request_duration_seconds_bucket{port="80",le="0.5"} 2
x_request_duration_seconds_bucket{port="80",le="1"} 2
x_request_duration_seconds_bucket{port="80",le="2.5"} 3
x_request_duration_seconds_bucket{port="80",le="5"} 3
x_request_duration_seconds_bucket{port="80",le="10"} 3
x_request_duration_seconds_bucket{port="80",le="+Inf"} 4
x_request_duration_seconds_sum{port="80"} 22.013
x_request_duration_seconds_count{port="80"} 4
# HELP x_up Up.
# TYPE x_up gauge
x_up{backend="a\"b\\c\n"} 1
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestObserveDoesNotAllocate(t *testing.T) {
	var r Requests
	if n := testing.AllocsPerRun(100, func() { r.Observe(200, time.Millisecond) }); n != 0 {
		t.Errorf("Observe allocates %.1f times", n)
	}
}

// BenchmarkObserve is what counting an answer costs, clock read included,
// with both cores counting into one Requests.
func BenchmarkObserve(b *testing.B) {
	var r Requests
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			start := time.Now()
			r.Observe(200, time.Since(start))
		}
	})
}
