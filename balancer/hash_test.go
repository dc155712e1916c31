package balancer

import (
	"bufio"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// keyOwners maps each of n header keys to the URL of the backend p picks
// for it on an idle pool.
func keyOwners(t *testing.T, p *Pool, n int) []string {
	t.Helper()
	var ctx fasthttp.RequestCtx
	owners := make([]string, n)
	for i := range owners {
		ctx.Request.Header.Set("X-Key", fmt.Sprintf("key-%d", i))
		b, err := p.Pick(&Request{Ctx: &ctx})
		if err != nil {
			t.Fatal(err)
		}
		owners[i] = b.raw
		p.Done(b, Success, time.Millisecond)
	}
	return owners
}

func TestConsistentHashRemovingOneOfTenRemapsAboutATenth(t *testing.T) {
	const keys = 20000
	opts := Options{Policy: "consistent-hash", HashKey: "header:X-Key"}
	all := testBackends(1, 1, 1, 1, 1, 1, 1, 1, 1, 1)
	before := keyOwners(t, mustPool(t, all, opts), keys)
	removed := all[3].URL
	after := keyOwners(t, mustPool(t, append(all[:3:3], all[4:]...), opts), keys)

	moved := 0
	for i := range before {
		switch {
		case before[i] == removed:
			moved++
		case before[i] != after[i]:
			t.Fatalf("key %d moved from %s to %s though its backend stayed", i, before[i], after[i])
		}
	}
	if frac := float64(moved) / keys; math.Abs(frac-0.1) > 0.03 {
		t.Errorf("removing 1 of 10 backends remapped %.3f of keys, want 0.10 ± 0.03", frac)
	}
}

func TestConsistentHashSameKeySameBackend(t *testing.T) {
	for _, key := range []string{"ip", "header:X-Key", "cookie:sid", "path"} {
		t.Run(key, func(t *testing.T) {
			p := mustPool(t, testBackends(1, 1, 1, 1, 1), Options{Policy: "consistent-hash", HashKey: key})
			var ctx fasthttp.RequestCtx
			seen := map[int]bool{}
			for i := range 50 {
				ctx.Request.Reset()
				ctx.Request.SetRequestURI(fmt.Sprintf("/k/%d", i))
				ctx.Request.Header.Set("X-Key", fmt.Sprint(i))
				ctx.Request.Header.SetCookie("sid", fmt.Sprint(i))
				r := &Request{Ctx: &ctx, Client: netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})}
				first, _ := p.Pick(r)
				p.Done(first, Success, time.Millisecond)
				for range 5 {
					b, _ := p.Pick(r)
					p.Done(b, Success, time.Millisecond)
					if b != first {
						t.Fatalf("key %d went to %s then %s", i, first.Addr, b.Addr)
					}
				}
				seen[first.Index] = true
			}
			if len(seen) < 4 {
				t.Errorf("50 keys used only %d of 5 backends", len(seen))
			}
		})
	}
}

// The header a hash_key names is matched whatever case the config and the
// client spell it in, as net/http and fasthttp match header names; the
// request is parsed from the wire, as the server sees it.
func TestConsistentHashHeaderNameIgnoresCase(t *testing.T) {
	want := map[string]int{}
	for _, cfgName := range []string{"X-User-Id", "x-user-id", "X-USER-ID"} {
		p := mustPool(t, testBackends(1, 1, 1, 1, 1, 1, 1, 1), Options{Policy: "consistent-hash", HashKey: "header:" + cfgName})
		for _, sent := range []string{"X-User-Id", "x-user-id", "X-uSeR-iD"} {
			for i := range 40 {
				var ctx fasthttp.RequestCtx
				raw := fmt.Sprintf("GET / HTTP/1.1\r\nHost: a\r\n%s: user-%d\r\n\r\n", sent, i)
				if err := ctx.Request.Header.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
					t.Fatal(err)
				}
				b, err := p.Pick(&Request{Ctx: &ctx, Client: netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})})
				if err != nil {
					t.Fatal(err)
				}
				p.Done(b, Success, time.Millisecond)
				key := fmt.Sprint("user-", i)
				if first, ok := want[key]; !ok {
					want[key] = b.Index
				} else if b.Index != first {
					t.Fatalf("config %q, header sent as %q: %s went to backend %d, before to %d", cfgName, sent, key, b.Index, first)
				}
			}
		}
	}
	// Had the header been missed, each key would hash its client address
	// instead; the same 40 keys from one client must still spread.
	for i := range 40 {
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.Set("x-user-id", fmt.Sprint("user-", i))
		p := mustPool(t, testBackends(1, 1, 1, 1, 1, 1, 1, 1), Options{Policy: "consistent-hash", HashKey: "header:X-User-Id"})
		b, _ := p.Pick(&Request{Ctx: &ctx, Client: netip.AddrFrom4([4]byte{192, 0, 2, 1})})
		if b.Index != want[fmt.Sprint("user-", i)] {
			t.Fatalf("one client: user-%d went to %d, from other clients to %d", i, b.Index, want[fmt.Sprint("user-", i)])
		}
	}
}

func TestConsistentHashBoundsTheLoadOfAHotKey(t *testing.T) {
	for _, weights := range [][]int{{1, 1, 1, 1, 1}, {1, 2, 3, 4}} {
		t.Run(fmt.Sprint(weights), func(t *testing.T) {
			bound := 0.25
			p := mustPool(t, testBackends(weights...), Options{Policy: "consistent-hash", HashBound: &bound})
			total := 0
			for _, w := range weights {
				total += w
			}
			// One client holds ever more requests in flight: without the
			// bound they would all land on its backend.
			r := &Request{Client: netip.MustParseAddr("198.51.100.7")}
			var held []*Backend
			for n := 1; n <= 200; n++ {
				b, err := p.Pick(r)
				if err != nil {
					t.Fatal(err)
				}
				held = append(held, b)
				for _, c := range p.Backends() {
					limit := math.Ceil((1 + bound) * float64(n) * float64(c.Weight) / float64(total))
					if float64(c.InFlight()) > limit {
						t.Fatalf("after %d picks %s carries %d, over its bound %.0f", n, c.Addr, c.InFlight(), limit)
					}
				}
			}
			for _, b := range held {
				p.Done(b, Success, time.Millisecond)
			}
		})
	}
}

func TestIPHashKeepsAClientOnItsBackendUntilItLeaves(t *testing.T) {
	p := mustPool(t, testBackends(1, 1, 1), Options{Policy: "ip-hash"})
	r := &Request{Client: netip.MustParseAddr("2001:db8::42")}
	home, _ := p.Pick(r)
	p.Done(home, Success, 0)
	// ip-hash has no load bound: held requests do not move the client.
	var held []*Backend
	for range 20 {
		b, _ := p.Pick(r)
		if b != home {
			t.Fatalf("client moved from %s to %s", home.Addr, b.Addr)
		}
		held = append(held, b)
	}
	for _, b := range held {
		p.Done(b, Success, 0)
	}
	p.setDown(home, true, nil)
	b, _ := p.Pick(r)
	if b == home {
		t.Fatal("picked a backend marked down")
	}
	p.Done(b, Success, 0)
	p.setDown(home, false, nil)
	if b, _ := p.Pick(r); b != home {
		t.Fatalf("client did not return to %s", home.Addr)
	}
}

func TestRingIndexFindsWhatBinarySearchFinds(t *testing.T) {
	for _, weights := range [][]int{{1}, {1, 2, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}} {
		p := mustPool(t, testBackends(weights...), Options{Policy: "consistent-hash"})
		rg := p.set.Load().ring
		rng := rand.New(rand.NewPCG(3, 4))
		probes := append([]uint64{0, 1, math.MaxUint64, rg.points[0], rg.points[len(rg.points)-1]}, rg.points[len(rg.points)/2]+1)
		for range 10000 {
			probes = append(probes, rng.Uint64())
		}
		for _, h := range probes {
			want, _ := slices.BinarySearch(rg.points, h)
			if got := rg.find(h); got != want {
				t.Fatalf("weights %v: find(%#x) = %d, want %d", weights, h, got, want)
			}
		}
	}
}
