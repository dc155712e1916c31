package balancer

import (
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
)

// TestObservedRequestStaysInFlightUntilReleased: Observe gives a request's
// outcome while its answer still streams; the backend counts it (and its
// max_connections slot stays taken) until Release.
func TestObservedRequestStaysInFlightUntilReleased(t *testing.T) {
	bs := testBackends(1)
	bs[0].MaxConnections = 1
	p := mustPool(t, bs, Options{Policy: "least-connections"})
	b, err := p.Pick(nil)
	if err != nil {
		t.Fatal(err)
	}
	p.Observe(b, Success, time.Millisecond)
	if n := b.InFlight(); n != 1 {
		t.Fatalf("in flight after Observe: %d, want 1", n)
	}
	if _, err := p.Pick(nil); err != ErrBusy {
		t.Fatalf("Pick while the only slot is observed but not released: %v, want ErrBusy", err)
	}
	p.Release(b)
	if n := b.InFlight(); n != 0 {
		t.Fatalf("in flight after Release: %d, want 0", n)
	}
	if _, err := p.Pick(nil); err != nil {
		t.Fatalf("Pick after Release: %v", err)
	}
}

// TestNotSentIsNoVerdictOnTheBackend: a request that never left the proxy
// (its connection pool full) neither counts as a failure nor clears the
// failures counted before it.
func TestNotSentIsNoVerdictOnTheBackend(t *testing.T) {
	p := mustPool(t, testBackends(1), Options{Passive: configs.PassiveHealth{
		FailureThreshold: 2, Backoff: configs.Duration(time.Minute)}})
	do := func(o Outcome) {
		t.Helper()
		b, err := p.Pick(nil)
		if err != nil {
			t.Fatalf("Pick before outcome %d: %v", o, err)
		}
		p.Done(b, o, 0)
	}
	for range 5 {
		do(NotSent)
	}
	do(Failed)
	do(NotSent) // must not reset the one failure
	do(Failed)
	if b := p.Backends()[0]; b.Healthy() {
		t.Fatal("two failures around a NotSent did not eject the backend")
	}
}
