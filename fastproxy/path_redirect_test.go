package fastproxy

import (
	"bufio"
	"io"
	"net/http"
	"testing"

	"github.com/spillway-lb/spillway/configs"
)

// TestHTTPSRedirectWithoutHostIsRefused: an HTTP/1.0 request without Host
// to an http_redirect service gets 400, not a 301 to "https:///path";
// with a Host it gets its redirect.
func TestHTTPSRedirectWithoutHostIsRefused(t *testing.T) {
	px := pathStartProxy(t, &configs.Config{Services: []configs.Service{
		{Name: "to-https", HTTPRedirect: true, Locations: []configs.Location{{Path: "/"}}}}}, Options{})
	tests := []struct {
		desc, request string
		status        int
		location      string
	}{
		{"HTTP/1.0 without Host", "GET /a?b=1 HTTP/1.0\r\n\r\n", http.StatusBadRequest, ""},
		{"HTTP/1.0 with Host", "GET /a?b=1 HTTP/1.0\r\nHost: shop.test:8080\r\n\r\n", http.StatusMovedPermanently, "https://shop.test/a?b=1"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			c := edgeDial(t, px.Addr)
			io.WriteString(c, tc.request)
			resp, _ := edgeRead(t, bufio.NewReader(c), "GET")
			if resp.StatusCode != tc.status || resp.Header.Get("Location") != tc.location {
				t.Fatalf("status %d Location %q, want %d %q", resp.StatusCode, resp.Header.Get("Location"), tc.status, tc.location)
			}
		})
	}
}
