package balancer_test

import (
	"fmt"
	"time"

	"github.com/spillway-lb/spillway/balancer"
	"github.com/spillway-lb/spillway/configs"
)

// A pool is built once per location; each request picks a backend and
// reports how it went, which feeds passive health and the load-aware
// policies.
func ExamplePool_Pick() {
	pool, err := balancer.New([]configs.Backend{
		{URL: "http://10.0.0.1:8080", Weight: 5},
		{URL: "http://10.0.0.2:8080"},
		{URL: "http://10.0.0.3:8080"},
	}, balancer.Options{Policy: "weighted_round_robin"})
	if err != nil {
		panic(err)
	}
	defer pool.Close()

	for range 7 {
		b, err := pool.Pick(&balancer.Request{})
		if err != nil {
			// ErrNoBackend or ErrBusy: the proxy answers 503.
			panic(err)
		}
		fmt.Print(b.URL.Host, " ")
		// ... forward the request to b.URL ...
		pool.Done(b, balancer.Success, 3*time.Millisecond)
	}
	fmt.Println()
	// Output: 10.0.0.1:8080 10.0.0.1:8080 10.0.0.2:8080 10.0.0.1:8080 10.0.0.3:8080 10.0.0.1:8080 10.0.0.1:8080
}

// OptionsFor reads everything a location's pool needs from the
// configuration, so the proxy passes its result to New unchanged.
func ExampleOptionsFor() {
	bound := 0.5
	cfg := &configs.Config{Algorithm: "consistent_hash", HashKey: "header:X-User", HashBound: &bound}
	svc := &configs.Service{Middleware: []configs.Middleware{
		{CircuitBreaker: &configs.CircuitBreaker{FailureThreshold: 3, ResetTimeout: configs.Duration(30 * time.Second)}},
	}}
	loc := &configs.Location{Path: "/api"}
	o := balancer.OptionsFor(cfg, svc, loc)
	fmt.Println(o.Policy, o.HashKey, *o.HashBound, o.Passive.FailureThreshold, o.Passive.Backoff.D())
	// Output: consistent-hash header:X-User 0.5 3 30s
}
