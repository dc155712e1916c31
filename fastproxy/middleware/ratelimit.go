package middleware

import (
	"hash/maphash"
	"math"
	"net/netip"
	"sync"
	"time"

	"github.com/spillway-lb/spillway/configs"
	"github.com/valyala/fasthttp"
)

// The rate limit's table is fixed at start: limitShards shards, each a
// mutex over limitSets sets of limitWays entries. A client hashes to one
// set; when the set is full, the least recently seen entry is reused (an
// idle client's bucket has refilled, so forgetting it changes nothing). A flood of distinct addresses therefore costs no memory, only the
// forgetting of other flooding addresses first. 64×128×8 = 65,536 clients
// in 2 MiB per chain.
const (
	limitShards = 64
	limitSets   = 128
	limitWays   = 8
)

// limitEntry is one client's token bucket. last is nanoseconds since the
// limiter's epoch, 0 for a free entry.
type limitEntry struct {
	key    [16]byte
	last   int64
	tokens float64
}

type limitShard struct {
	mu   sync.Mutex
	sets [limitSets][limitWays]limitEntry
	_    [64]byte // keep neighbouring shards' mutexes off one cache line
}

// rateLimit is a token bucket per client address: requests_per_second
// tokens a second, up to burst.
type rateLimit struct {
	perNano float64 // tokens per nanosecond
	burst   float64
	epoch   time.Time
	seed    maphash.Seed
	shards  *[limitShards]limitShard
}

func newRateLimit(c *configs.RateLimit) (*rateLimit, error) {
	if err := invalid(c.Check()); err != nil {
		return nil, err
	}
	burst := float64(c.Burst)
	if burst == 0 {
		// Terraster's configurations often omit burst: allow one
		// second's worth, and at least one request.
		burst = math.Max(1, math.Ceil(c.RequestsPerSecond))
	}
	perNano := c.RequestsPerSecond / 1e9
	return &rateLimit{
		perNano: perNano,
		burst:   burst,
		epoch:   time.Now(),
		seed:    maphash.MakeSeed(),
		shards:  new([limitShards]limitShard),
	}, nil
}

// clientKey is the bucket key of a client: its IPv4 address, or the /64 of
// an IPv6 one, since one IPv6 host commonly holds a whole /64 and could
// otherwise take a fresh bucket for every request.
func clientKey(a netip.Addr) [16]byte {
	a = a.Unmap()
	k := a.As16()
	if a.Is6() {
		clear(k[8:])
	}
	return k
}

// refuse takes a token for client, or answers 429 with Retry-After and
// reports true when there is none.
func (r *rateLimit) refuse(ctx *fasthttp.RequestCtx, client netip.Addr) bool {
	wait := r.take(clientKey(client), int64(time.Since(r.epoch))+1)
	if wait == 0 {
		return false
	}
	secs := (wait + int64(time.Second) - 1) / int64(time.Second) // round up
	ctx.Response.Reset()
	ctx.Response.SetStatusCode(fasthttp.StatusTooManyRequests)
	var b [20]byte
	ctx.Response.Header.SetBytesV("Retry-After", fasthttp.AppendUint(b[:0], int(secs)))
	ctx.Response.Header.SetContentType("text/plain; charset=utf-8")
	ctx.Response.SetBodyString("429 Too Many Requests\n")
	return true
}

// take spends one token of key's bucket at now and returns 0, or returns
// how many nanoseconds remain until a token is available.
func (r *rateLimit) take(key [16]byte, now int64) int64 {
	h := maphash.Bytes(r.seed, key[:])
	sh := &r.shards[h%limitShards]
	set := &sh.sets[(h/limitShards)%limitSets]

	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := r.find(set, key)
	if e.last == 0 {
		e.key, e.tokens = key, r.burst
	} else if now > e.last {
		e.tokens = math.Min(r.burst, e.tokens+float64(now-e.last)*r.perNano)
	}
	e.last = now
	if e.tokens >= 1 {
		e.tokens--
		return 0
	}
	return int64(math.Ceil((1 - e.tokens) / r.perNano))
}

// find returns key's entry in set, else the entry to reuse for it with
// last set to 0: a free one, else the least recently seen. An idle client's
// bucket has refilled, which is the same as having none, and idle entries
// are the oldest, so they go first.
func (r *rateLimit) find(set *[limitWays]limitEntry, key [16]byte) *limitEntry {
	victim := &set[0]
	for i := range set {
		e := &set[i]
		switch {
		case e.last != 0 && e.key == key:
			return e
		case victim.last != 0 && e.last < victim.last:
			victim = e // free (0) or older
		}
	}
	victim.last = 0
	return victim
}
