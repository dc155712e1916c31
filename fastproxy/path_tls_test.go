package fastproxy

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
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

// lockedLog is a log destination the proxy's goroutines may share.
type lockedLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// records decodes the JSON lines logged so far.
func (l *lockedLog) records(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for line := range bytes.Lines(l.buf.Bytes()) {
		var r map[string]any
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

// TestSkipTLSVerifyWarnsThroughServerLogger: the skip_tls_verify warning
// goes to Options.Logger (here JSON, as log.format: json makes it), naming
// the service and backend, and only for https backends that skip
// verification.
func TestSkipTLSVerifyWarnsThroughServerLogger(t *testing.T) {
	origin := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "tls")
	}))
	t.Cleanup(origin.Close)
	plain := pathEchoOrigin(t, "plain")
	svc := pathService("", configs.Location{Path: "/", Backends: []configs.Backend{
		{URL: origin.URL, SkipTLSVerify: true},
		{URL: plain.URL, SkipTLSVerify: true}, // no TLS, nothing to verify
	}})
	logs := &lockedLog{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	pathStartProxy(t, &configs.Config{Services: []configs.Service{svc}}, Options{Logger: log})

	var warned []string
	for _, r := range logs.records(t) {
		if r["msg"] == "skip_tls_verify: the backend's certificate is not verified" {
			if r["level"] != "WARN" || r["service"] != svc.Name {
				t.Errorf("warning %v, want level WARN and service %q", r, svc.Name)
			}
			warned = append(warned, fmt.Sprint(r["backend"]))
		}
	}
	if len(warned) != 1 || warned[0] != origin.URL {
		t.Fatalf("warned for backends %q, want exactly [%s]", warned, origin.URL)
	}
}
