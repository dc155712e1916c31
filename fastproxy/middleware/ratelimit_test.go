package middleware

import (
	"hash/maphash"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
)

func TestRateLimitAnswers429WithRetryAfter(t *testing.T) {
	chain := mustNew(t, []configs.Middleware{{RateLimit: &configs.RateLimit{RequestsPerSecond: 20, Burst: 2}}}, nil)
	r := newRig(t, chain, false)
	for i, want := range []int{200, 200, 429} {
		resp, body := r.do(t, "GET", "/", clientHeader+": 192.0.2.1")
		if resp.StatusCode != want {
			t.Fatalf("request %d: status %d, want %d", i, resp.StatusCode, want)
		}
		if want == 429 {
			if got := resp.Header.Get("Retry-After"); got != "1" {
				t.Errorf("Retry-After %q, want 1 (50ms rounded up)", got)
			}
			if !contains(body, "Too Many Requests") || resp.Header.Get("X-Backend") != "" {
				t.Errorf("429 body %q, backend header %q", body, resp.Header.Get("X-Backend"))
			}
		}
	}
	if got := r.backend.Load(); got != 2 {
		t.Errorf("backend saw %d requests, want 2", got)
	}
	// Another client has its own bucket.
	if resp, _ := r.do(t, "GET", "/", clientHeader+": 192.0.2.2"); resp.StatusCode != 200 {
		t.Errorf("second client: status %d", resp.StatusCode)
	}
	// The first client's bucket refills at 20/s.
	time.Sleep(60 * time.Millisecond)
	if resp, _ := r.do(t, "GET", "/", clientHeader+": 192.0.2.1"); resp.StatusCode != 200 {
		t.Errorf("after refill: status %d", resp.StatusCode)
	}
}

func TestRateLimitKeysIPv6ByPrefix(t *testing.T) {
	rl, err := newRateLimit(&configs.RateLimit{RequestsPerSecond: 0.001, Burst: 1})
	if err != nil {
		t.Fatal(err)
	}
	same := []string{"2001:db8::1", "2001:db8::2:3"}
	if rl.take(clientKey(netip.MustParseAddr(same[0])), 1) != 0 {
		t.Fatal("first request refused")
	}
	if rl.take(clientKey(netip.MustParseAddr(same[1])), 2) == 0 {
		t.Error("another address of the same /64 got a fresh bucket")
	}
	if rl.take(clientKey(netip.MustParseAddr("2001:db8:0:1::1")), 3) != 0 {
		t.Error("another /64 shares the bucket")
	}
	if rl.take(clientKey(netip.MustParseAddr("::ffff:192.0.2.9")), 4) != 0 ||
		rl.take(clientKey(netip.MustParseAddr("192.0.2.9")), 5) == 0 {
		t.Error("an IPv4-mapped address and its IPv4 form should share a bucket")
	}
}

// sameSet returns n distinct IPv4 keys that land in one set of rl's table.
func sameSet(rl *rateLimit, n int) [][16]byte {
	var out [][16]byte
	var want uint64
	for i := uint32(1); len(out) < n; i++ {
		k := clientKey(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
		h := maphash.Bytes(rl.seed, k[:])
		slot := h % (limitShards * limitSets)
		if len(out) == 0 {
			want = slot
		}
		if slot == want {
			out = append(out, k)
		}
	}
	return out
}

func TestRateLimitEvictsLeastRecentlySeen(t *testing.T) {
	rl, err := newRateLimit(&configs.RateLimit{RequestsPerSecond: 0.001, Burst: 1})
	if err != nil {
		t.Fatal(err)
	}
	keys := sameSet(rl, limitWays+1)
	for i, k := range keys[:limitWays] {
		if rl.take(k, int64(i+1)) != 0 {
			t.Fatalf("key %d refused its first request", i)
		}
	}
	rl.take(keys[0], 100) // keys[0] seen again: keys[1] is now the oldest
	if rl.take(keys[limitWays], 101) != 0 {
		t.Fatal("a new client was refused in a full set")
	}
	if rl.take(keys[0], 102) == 0 {
		t.Error("the recently seen client was forgotten")
	}
	if rl.take(keys[1], 103) != 0 {
		t.Error("the least recently seen client was kept")
	}
}

func TestRateLimitFloodOfAddressesKeepsMemoryAndLimits(t *testing.T) {
	rl, err := newRateLimit(&configs.RateLimit{RequestsPerSecond: 0.001, Burst: 1})
	if err != nil {
		t.Fatal(err)
	}
	victim := clientKey(netip.MustParseAddr("198.51.100.7"))
	rl.take(victim, 1)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const flood = 300_000 // over four times the table
	for i := range flood {
		k := clientKey(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
		now := int64(i + 2)
		if rl.take(k, now) != 0 {
			t.Fatalf("flood address %d refused its first request", i)
		}
		// The victim keeps asking now and then and stays limited.
		if i%1000 == 0 && rl.take(victim, now) == 0 {
			t.Fatalf("victim got a fresh bucket after %d flood addresses", i)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 1<<20 {
		t.Errorf("heap grew by %d bytes during the flood", grew)
	}
}

func TestRateLimitConcurrentClients(t *testing.T) {
	rl, err := newRateLimit(&configs.RateLimit{RequestsPerSecond: 1, Burst: 5})
	if err != nil {
		t.Fatal(err)
	}
	k := clientKey(netip.MustParseAddr("192.0.2.1"))
	allowed := make(chan int, 8)
	for range 8 {
		go func() {
			n := 0
			for range 10 {
				if rl.take(k, 1) == 0 {
					n++
				}
			}
			allowed <- n
		}()
	}
	total := 0
	for range 8 {
		total += <-allowed
	}
	if total != 5 {
		t.Errorf("%d requests allowed at one instant, want the burst of 5", total)
	}
}
