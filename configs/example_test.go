package configs_test

import (
	"errors"
	"fmt"

	"github.com/spillway-lb/spillway/configs"
)

// Parse reports every problem of a file at once, each as file:line: key:
// what is wrong, and warns about Terraster keys Spillway ignores.
func ExampleParse() {
	src := []byte(`port: 8080
admin_port: 8081
algorithm: least_connection
backends:
  - url: http://127.0.0.1:9001
    wieght: 2
`)
	_, warnings, err := configs.Parse("lb.yaml", src)
	for _, w := range warnings {
		fmt.Println("warning:", w)
	}
	var cerr *configs.Error
	if errors.As(err, &cerr) {
		for _, p := range cerr.Problems {
			fmt.Println(p)
		}
	}
	// Output:
	// warning: lb.yaml:2: admin_port: a Terraster key Spillway does not implement; ignored (Spillway has no admin API; metrics.listen serves Prometheus metrics)
	// lb.yaml:3: algorithm: unknown policy "least_connection"; did you mean "least-connections"? Valid policies: round-robin, weighted-round-robin, least-connections, weighted-least-connections, bounded-least-connections, least-response-time, power-of-two, ip-hash, consistent-hash, sticky-session, adaptive ('_' may stand for '-')
	// lb.yaml:6: backends[0].wieght: unknown key; did you mean "weight"?
}

// After Load or Parse, the top-level backends are a service like any
// other, and every location carries its effective, canonical policy.
func ExampleConfig_Prepare() {
	cfg := &configs.Config{
		Algorithm: "Least_Connections",
		Backends:  []configs.Backend{{URL: "http://127.0.0.1:9001"}, {URL: "http://127.0.0.1:9002", Weight: 3}},
	}
	if err := cfg.Prepare(); err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range cfg.Services {
		for _, l := range s.Locations {
			fmt.Printf("service %q port %d location %s policy %s\n", s.Name, s.Port, l.Path, l.LBPolicy)
			for _, b := range l.Backends {
				fmt.Printf("  %s weight %d\n", b.URL, b.Weight)
			}
		}
	}
	// Output:
	// service "default" port 0 location / policy least-connections
	//   http://127.0.0.1:9001 weight 1
	//   http://127.0.0.1:9002 weight 3
}
