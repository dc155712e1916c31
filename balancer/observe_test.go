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
	p.Observe(nil, b, Success, time.Millisecond)
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

// trialPool is a pool of two backends whose first is ejected by one
// failure, with a back-off short enough for its trial to open at once.
func trialPool(t *testing.T) (*Pool, *Backend) {
	t.Helper()
	p := mustPool(t, testBackends(1, 1), Options{Passive: configs.PassiveHealth{FailureThreshold: 1,
		Backoff: configs.Duration(time.Millisecond), MaxBackoff: configs.Duration(time.Minute)}})
	return p, p.Backends()[0]
}

// pickTrial picks with r until r takes bad's trial gate.
func pickTrial(t *testing.T, p *Pool, bad *Backend, r *Request) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		b, err := p.Pick(r)
		if err != nil {
			t.Fatal(err)
		}
		if b == bad {
			if !r.trial {
				t.Fatal("the request admitted to the backend on trial is not marked as its trial")
			}
			return
		}
		p.Observe(r, b, Success, time.Millisecond)
		p.Release(b)
		time.Sleep(time.Millisecond)
	}
	t.Fatal("the trial request never came")
}

// TestFailedTrialAdmitsNobodyThroughTheOldSnapshot: a Pick still holding
// the snapshot of a trial is not admitted to the backend once the trial
// failed and ejected it again.
func TestFailedTrialAdmitsNobodyThroughTheOldSnapshot(t *testing.T) {
	p, bad := trialPool(t)
	hold(t, p, bad)
	p.Done(bad, Failed, time.Millisecond) // ejected
	var trial Request
	pickTrial(t, p, bad, &trial)
	old := p.set.Load()
	p.Observe(&trial, bad, Failed, time.Millisecond)
	p.Release(bad)
	if bad.Healthy() {
		t.Fatal("failed trial did not eject")
	}
	if old.take(bad, &noRequest) {
		bad.inflight.Add(-1)
		t.Fatal("a Pick holding the trial's snapshot was admitted to the backend its failed trial ejected")
	}
}

// TestOnlyTheTrialRequestDecidesTheTrial: a request begun before the
// ejection that ends while the trial runs does not decide the trial.
func TestOnlyTheTrialRequestDecidesTheTrial(t *testing.T) {
	for _, straggler := range []Outcome{Success, Failed} {
		p, bad := trialPool(t)
		var early Request
		if !p.set.Load().take(bad, &early) { // a long request, begun before
			t.Fatal("refused")
		}
		hold(t, p, bad)
		p.Done(bad, Failed, time.Millisecond) // ejected
		var trial Request
		pickTrial(t, p, bad, &trial)
		p.Observe(&early, bad, straggler, time.Millisecond)
		p.Release(bad)
		if bad.trial.Load() != trialTaken {
			t.Fatalf("a request begun before the ejection (outcome %d) ended the trial", straggler)
		}
		p.Observe(&trial, bad, Failed, time.Millisecond)
		p.Release(bad)
		if bad.Healthy() {
			t.Fatal("the failed trial left the backend in rotation")
		}
	}
}

// TestNotSentTrialLeavesTheGateOpen: a trial request that never reached
// the backend decides nothing; the next request is the trial.
func TestNotSentTrialLeavesTheGateOpen(t *testing.T) {
	p, bad := trialPool(t)
	hold(t, p, bad)
	p.Done(bad, Failed, time.Millisecond)
	var first, second Request
	pickTrial(t, p, bad, &first)
	p.Observe(&first, bad, NotSent, 0)
	p.Release(bad)
	if backoff(p, bad) == 0 || bad.trial.Load() != trialOpen {
		t.Fatalf("a trial never sent decided the trial (back-off %v, trial state %d)", backoff(p, bad), bad.trial.Load())
	}
	pickTrial(t, p, bad, &second)
	p.Observe(&second, bad, Success, time.Millisecond)
	p.Release(bad)
	if backoff(p, bad) != 0 || bad.trial.Load() != trialNone {
		t.Fatal("the next request's success did not end the trial")
	}
}

// TestStreamedAnswersAreJudgedWhenTheirBodyEnds: an answer whose head
// arrived (Streaming) says nothing yet; one whose body the backend broke
// off (Finish with Failed) counts as a failure, so a backend that breaks
// every streamed answer is ejected although every head was fine. A
// body that ends whole clears the failures.
func TestStreamedAnswersAreJudgedWhenTheirBodyEnds(t *testing.T) {
	p := mustPool(t, testBackends(1), Options{Passive: configs.PassiveHealth{
		FailureThreshold: 2, Backoff: configs.Duration(time.Minute)}})
	stream := func(end Outcome) {
		t.Helper()
		b, err := p.Pick(nil)
		if err != nil {
			t.Fatalf("Pick before a streamed answer ending %d: %v", end, err)
		}
		p.Observe(nil, b, Streaming, time.Millisecond)
		if b.InFlight() != 1 {
			t.Fatalf("in flight while the body streams: %d, want 1", b.InFlight())
		}
		p.Finish(b, end)
		if b.InFlight() != 0 {
			t.Fatalf("in flight after Finish: %d, want 0", b.InFlight())
		}
	}
	bad := p.Backends()[0]
	stream(Failed)
	stream(Success) // clears the failure
	stream(Failed)
	if !bad.Healthy() {
		t.Fatal("ejected after one failure since the last whole answer; threshold is 2")
	}
	stream(Failed) // the head of this one must not have cleared the one before
	if bad.Healthy() {
		t.Fatal("two streamed answers broken off in a row did not eject the backend")
	}
}

// TestStreamingHeadDecidesTheTrial: a trial request that streams passes
// the trial with its head, so a long body does not keep the gate shut,
// and its end does not decide a later trial.
func TestStreamingHeadDecidesTheTrial(t *testing.T) {
	p, bad := trialPool(t)
	hold(t, p, bad)
	p.Done(bad, Failed, time.Millisecond) // ejected
	var trial Request
	pickTrial(t, p, bad, &trial)
	p.Observe(&trial, bad, Streaming, time.Millisecond)
	if !bad.Healthy() || bad.trial.Load() != trialNone {
		t.Fatalf("after the trial's head: healthy %v, trial state %d; want back in rotation", bad.Healthy(), bad.trial.Load())
	}
	var next Request
	if !p.set.Load().take(bad, &next) {
		t.Fatal("the backend refused a request while the trial's body streams")
	}
	p.Done(bad, Success, time.Millisecond)
	p.Finish(bad, Success)
	if bad.InFlight() != 0 {
		t.Fatalf("in flight at the end: %d, want 0", bad.InFlight())
	}
}
