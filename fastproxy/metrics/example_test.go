package metrics_test

import (
	"os"

	"github.com/spillway-lb/spillway/fastproxy/metrics"
)

func Example() {
	w := metrics.NewWriter(os.Stdout)
	w.Family("demo_requests_total", "counter", "Answers sent.")
	w.Sample("demo_requests_total", []metrics.Label{{Name: "code", Value: "2xx"}}, 1)
	w.Flush()
	// Output:
	// # HELP demo_requests_total Answers sent.
	// # TYPE demo_requests_total counter
	// demo_requests_total{code="2xx"} 1
}
