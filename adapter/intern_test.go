package adapter

import (
	"bufio"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// Every interned key is spelled as net/http canonicalizes it, is found by
// its spelling, and is recognized by address only when it is the table's
// own string.
func TestInternedKeysAreCanonicalAndRecognized(t *testing.T) {
	if len(commonKeys) > 128 {
		t.Fatalf("%d interned keys; idSet holds 128", len(commonKeys))
	}
	for id := 1; id < len(commonKeys); id++ {
		k := commonKeys[id]
		if c := http.CanonicalHeaderKey(k); c != k {
			t.Errorf("%q is not canonical (%q)", k, c)
		}
		if got := lookupKey(k); got != uint8(id) {
			t.Errorf("lookupKey(%q) = %d, want %d", k, got, id)
		}
		if got := lookupKey([]byte(k)); got != uint8(id) {
			t.Errorf("lookupKey([]byte(%q)) = %d, want %d", k, got, id)
		}
		if got := internedID(internKeys[id]); got != uint8(id) {
			t.Errorf("internedID(internKeys[%d]) = %d", id, got)
		}
		if got := internedID(strings.Clone(k)); got != 0 {
			t.Errorf("internedID of a copy of %q = %d, want 0", k, got)
		}
		if got := internedID(internKeys[id][:len(k)-1]); got != 0 {
			t.Errorf("internedID of a prefix of %q = %d, want 0", k, got)
		}
	}
	for _, k := range []string{"", "X", "accept", "X-Custom-Thing", "Acceptx", "Content-Typ"} {
		if id := lookupKey(k); id != 0 {
			t.Errorf("lookupKey(%q) = %d (%q), want 0", k, id, commonKeys[id])
		}
	}
}

// A fasthttp server that does not normalize header names hands over keys
// in any case; the plugin sees them grouped under net/http's canonical
// keys, interned or not, as net/http would give them.
func TestUnnormalizedKeysGroupUnderCanonicalKeys(t *testing.T) {
	raw := "GET / HTTP/1.1\r\nhost: a\r\naccept: a\r\nX-CUSTOM: 1\r\nACCEPT: b\r\nx-custom: 2\r\n" +
		"content-TYPE: text/plain\r\nsec-fetch-mode: cors\r\n\r\n"
	var req fasthttp.Request
	req.Header.DisableNormalizing()
	if err := req.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		t.Fatal(err)
	}
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 1}, nil)
	x := Acquire(&ctx)
	defer Release(x)
	got := x.Request().Header
	want := http.Header{
		"Accept": {"a", "b"}, "X-Custom": {"1", "2"},
		"Content-Type": {"text/plain"}, "Sec-Fetch-Mode": {"cors"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Header %v, want %v", got, want)
	}
}

// Write-back matches a Header key to what the plugin was given whatever
// string holds the key: the interned one, a slice of the arena, the
// plugin's own equal string, or an arena or interned string that is not a
// key of this request.
func TestWriteBackMatchesKeysWhateverStringHoldsThem(t *testing.T) {
	const raw = "GET / HTTP/1.1\r\nHost: a\r\nAccept: */*\r\nX-Custom: c\r\nX-Name: X-Added\r\n" +
		"Vary: one\r\nVary: two\r\n\r\n"
	cases := []struct {
		desc   string
		plugin func(h http.Header)
		want   string // header lines expected after write-back; "" for unchanged
	}{
		{"interned key re-added with the plugin's string", func(h http.Header) {
			v := h["Accept"]
			delete(h, "Accept")
			h[strings.Clone("Accept")] = v
		}, ""},
		{"arena key re-added with the plugin's string", func(h http.Header) {
			v := h["X-Custom"]
			delete(h, "X-Custom")
			h[strings.Clone("X-Custom")] = v
		}, ""},
		{"repeated key's values copied to a new slice", func(h http.Header) {
			h["Vary"] = append([]string(nil), h["Vary"]...)
		}, ""},
		{"interned key's value changed in place", func(h http.Header) {
			h["Accept"][0] = "text/plain"
		}, "Accept: text/plain"},
		{"repeated key's second value changed in place", func(h http.Header) {
			h["Vary"][1] = "three"
		}, "Vary: one|Vary: three"},
		{"arena key's value changed in place", func(h http.Header) {
			h["X-Custom"][0] = "d"
		}, "X-Custom: d"},
		{"a value used as a key", func(h http.Header) {
			h[h.Get("X-Name")] = []string{"1"}
		}, "X-Added: 1"},
		{"a prefix of an interned key used as a key", func(h http.Header) {
			for k := range h {
				if k == "Accept" {
					h[k[:3]] = []string{"p"}
				}
			}
		}, "Acc: p"},
		{"interned key from another request", func(h http.Header) {
			h[internKeys[lookupKey("Origin")]] = []string{"https://o.example"}
		}, "Origin: https://o.example"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			var req fasthttp.Request
			if err := req.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
				t.Fatal(err)
			}
			var ctx fasthttp.RequestCtx
			ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 1}, nil)
			before := wire(&ctx.Request)
			x := Acquire(&ctx)
			tc.plugin(x.Request().Header)
			x.ApplyRequest()
			Release(x)
			after := wire(&ctx.Request)
			if tc.want == "" {
				if after != before {
					t.Errorf("request changed:\n%q\n%q", before, after)
				}
				return
			}
			var lines []string
			for _, l := range strings.Split(after, "\r\n") {
				if k, _, _ := strings.Cut(tc.want, ":"); strings.HasPrefix(l, k+":") {
					lines = append(lines, l)
				}
			}
			if got := strings.Join(lines, "|"); got != tc.want {
				t.Errorf("lines %q, want %q in\n%q", got, tc.want, after)
			}
		})
	}
}
