package fastproxy

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
	"github.com/spillway-lb/spillway/fastproxy/tlsconf/tlstest"
)

func TestTLSListenerSetsForwardedProtoHTTPS(t *testing.T) {
	o := pathEchoOrigin(t, "o")
	cert, key := tlstest.Files(t, "127.0.0.1", "front.example")
	svc := pathService("", pathLoc("/", o.URL))
	svc.TLS = &configs.TLS{CertFile: cert, KeyFile: key}
	px := pathStartProxy(t, &configs.Config{Services: []configs.Service{svc}}, Options{})
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	req, _ := http.NewRequest("GET", "https://"+px.Addr+"/", nil)
	req.Header.Set("X-Forwarded-Proto", "http")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if got := pathSeenBy(t, string(body)).Header.Get("X-Forwarded-Proto"); got != "https" {
		t.Errorf("X-Forwarded-Proto %q, want https", got)
	}
}

func TestHTTPSBackend(t *testing.T) {
	origin := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "tls:"+r.URL.RequestURI())
	}))
	t.Cleanup(origin.Close)
	loc := configs.Location{Path: "/s/", Backends: []configs.Backend{{URL: origin.URL + "/base", SkipTLSVerify: true}}}
	px := pathStartProxy(t, &configs.Config{Services: []configs.Service{pathService("", loc)}}, Options{})
	for i := range 2 { // the second reuses the pooled TLS connection
		resp, body := pathDo(t, px, "GET", "h", "/s/x?y=1", nil, nil)
		if resp.StatusCode != 200 || body != "tls:/base/x?y=1" {
			t.Fatalf("request %d: status %d %q", i, resp.StatusCode, body)
		}
	}
}
