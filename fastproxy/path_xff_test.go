package fastproxy

import (
	"net/http"
	"slices"
	"testing"

	"github.com/spillway-lb/spillway/configs"
)

// TestRepeatedXForwardedForLinesBecomeOne: a client may split
// X-Forwarded-For over several lines, which mean one comma-separated list
// (RFC 9110 section 5.3). The backend gets that list on a single line with
// the peer appended, as httputil sends it, so a backend reading the last
// line cannot be handed an address the client chose. With trusted_proxies
// the lines of a trusted peer are joined the same way; an untrusted peer's
// are dropped.
func TestRepeatedXForwardedForLinesBecomeOne(t *testing.T) {
	o := pathEchoOrigin(t, "o")
	tests := []struct {
		desc    string
		trusted []string
		lines   string
		want    []string
	}{
		{"no trusted_proxies, two lines", nil,
			"X-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2\r\n", []string{"1.1.1.1, 2.2.2.2, 127.0.0.1"}},
		{"no trusted_proxies, lists and an empty line", nil,
			"X-Forwarded-For: 1.1.1.1, 3.3.3.3\r\nX-Forwarded-For: \r\nx-forwarded-for: 2.2.2.2\r\n",
			[]string{"1.1.1.1, 3.3.3.3, 2.2.2.2, 127.0.0.1"}},
		{"one line is left as it is", nil,
			"X-Forwarded-For: 1.1.1.1\r\n", []string{"1.1.1.1, 127.0.0.1"}},
		{"trusted peer, two lines", []string{"127.0.0.0/8"},
			"X-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2\r\n", []string{"1.1.1.1, 2.2.2.2, 127.0.0.1"}},
		{"untrusted peer, two lines", []string{"10.0.0.0/8"},
			"X-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2\r\n", []string{"127.0.0.1"}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			px := pathStartProxy(t, &configs.Config{TrustedProxies: tc.trusted,
				Services: []configs.Service{pathService("", pathLoc("/", o.URL))}}, Options{})
			resp := pathRaw(t, px.Addr, "GET / HTTP/1.1\r\nHost: h\r\n"+tc.lines+"\r\n", "GET")[0]
			body, _ := readAllString(resp)
			if got := pathSeenBy(t, body).Header.Values("X-Forwarded-For"); !slices.Equal(got, tc.want) {
				t.Errorf("backend got X-Forwarded-For lines %q, want %q", got, tc.want)
			}
		})
	}
}

// TestTrustedPeerClientIsReadFromEveryForwardedForLine: behind a trusted
// proxy the client is the first untrusted address from the right of the
// whole list, whichever line holds it. A rate limit of one request per
// client shows whom the proxy took for the client: two requests whose
// last address is 2.2.2.2 are one client, whatever their first lines say.
func TestTrustedPeerClientIsReadFromEveryForwardedForLine(t *testing.T) {
	o := pathEchoOrigin(t, "o")
	svc := pathService("", pathLoc("/", o.URL))
	svc.Middleware = []configs.Middleware{{RateLimit: &configs.RateLimit{RequestsPerSecond: 0.001, Burst: 1}}}
	px := pathStartProxy(t, &configs.Config{TrustedProxies: []string{"127.0.0.0/8", "10.0.0.0/8"},
		Services: []configs.Service{svc}}, Options{})
	for _, tc := range []struct {
		lines string
		want  int
	}{
		{"X-Forwarded-For: 9.9.9.9\r\nX-Forwarded-For: 2.2.2.2, 10.0.0.7\r\n", http.StatusOK},
		{"X-Forwarded-For: 8.8.8.8\r\nX-Forwarded-For: 2.2.2.2\r\nX-Forwarded-For: 10.1.1.1\r\n", http.StatusTooManyRequests},
		{"X-Forwarded-For: 2.2.2.2\r\nX-Forwarded-For: 3.3.3.3\r\n", http.StatusOK},
	} {
		resp := pathRaw(t, px.Addr, "GET / HTTP/1.1\r\nHost: h\r\n"+tc.lines+"\r\n", "GET")[0]
		if resp.StatusCode != tc.want {
			t.Errorf("%q: status %d, want %d", tc.lines, resp.StatusCode, tc.want)
		}
	}
}
