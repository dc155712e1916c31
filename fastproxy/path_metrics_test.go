package fastproxy

import (
	"bufio"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
)

// scrape returns s's metrics as sample (name and labels, as written) to value.
func scrape(t *testing.T, s *Server) map[string]float64 {
	t.Helper()
	var b strings.Builder
	if err := s.WriteMetrics(&b); err != nil {
		t.Fatal(err)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("sample %q: %v", line, err)
		}
		m[line[:i]] = v
	}
	return m
}

// waitMetric polls until sample has value want.
func waitMetric(t *testing.T, s *Server, sample string, want float64) {
	t.Helper()
	var got float64
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if got = scrape(t, s)[sample]; got == want {
			return
		}
	}
	t.Fatalf("%s = %v, want %v", sample, got, want)
}

// The metrics count every answer by class with its duration, and show the
// open connections and tunnels and each backend's state and load.
func TestMetricsCountAnswersAndShowBackends(t *testing.T) {
	o := pathEchoOrigin(t, "o")
	ws := newWSOrigin()
	wsOrigin := pathStartOrigin(t, ws.ServeHTTP)
	down := pathClosedURL(t)
	cfg := &configs.Config{Services: []configs.Service{pathService("h", pathLoc("/", o.URL),
		configs.Location{Path: "/down/", Backends: []configs.Backend{{URL: down}}},
		configs.Location{Path: "/chat", Backends: []configs.Backend{{URL: wsOrigin.URL}}})}}
	px := pathStartProxy(t, cfg, Options{Metrics: true})
	port := px.Addr[strings.LastIndexByte(px.Addr, ':')+1:]
	for range 3 {
		pathDo(t, px, "GET", "h", "/", nil, nil)
	}
	pathDo(t, px, "GET", "nobody", "/", nil, nil) // 404
	for range 6 {                                 // past passive ejection's threshold
		pathDo(t, px, "GET", "h", "/down/", nil, nil)
	}

	c := edgeDial(t, px.Addr)
	resp, br := wsHandshake(t, c, "early")
	if resp.StatusCode != 101 {
		t.Fatalf("upgrade: %d", resp.StatusCode)
	}
	readN(t, br, len("hello\nearly"))
	u, _ := url.Parse(wsOrigin.URL)
	ou, _ := url.Parse(o.URL)
	du, _ := url.Parse(down)
	wsBackend := `{service="svc-h",location="/chat",backend="` + u.Host + `"}`
	waitMetric(t, px.srv, `spillway_tunnels{port="`+port+`"}`, 1)
	m := scrape(t, px.srv)
	for sample, want := range map[string]float64{
		`spillway_requests_total{port="` + port + `",code="1xx"}`:                          1,
		`spillway_requests_total{port="` + port + `",code="2xx"}`:                          3,
		`spillway_requests_total{port="` + port + `",code="4xx"}`:                          1,
		`spillway_requests_total{port="` + port + `",code="5xx"}`:                          6,
		`spillway_request_duration_seconds_count{port="` + port + `"}`:                     11,
		`spillway_request_duration_seconds_bucket{port="` + port + `",le="+Inf"}`:          11,
		`spillway_backend_up{service="svc-h",location="/down/",backend="` + du.Host + `"}`: 0,
		`spillway_backend_in_flight` + wsBackend:                                           1,
		`spillway_backend_up` + wsBackend:                                                  1,
		`spillway_backend_up{service="svc-h",location="/",backend="` + ou.Host + `"}`:      1,
	} {
		if v, ok := m[sample]; !ok || v != want {
			t.Errorf("%s = %v (written: %v), want %v", sample, v, ok, want)
		}
	}
	for sample, want := range map[string]float64{
		// The 404 for a host no service has counts at the port only.
		`spillway_service_requests_total{service="svc-h",code="1xx"}`:                                                      1,
		`spillway_service_requests_total{service="svc-h",code="2xx"}`:                                                      3,
		`spillway_service_requests_total{service="svc-h",code="4xx"}`:                                                      0,
		`spillway_service_requests_total{service="svc-h",code="5xx"}`:                                                      6,
		`spillway_service_request_duration_seconds_count{service="svc-h"}`:                                                 10,
		`spillway_backend_attempts_total{service="svc-h",location="/",backend="` + ou.Host + `",outcome="success"}`:        3,
		`spillway_backend_attempts_total{service="svc-h",location="/",backend="` + ou.Host + `",outcome="connect_failed"}`: 0,
		`spillway_backend_attempts_total{service="svc-h",location="/chat",backend="` + u.Host + `",outcome="success"}`:     1,
		`spillway_backend_attempts_total{service="svc-h",location="/down/",backend="` + du.Host + `",outcome="success"}`:   0,
	} {
		if v, ok := m[sample]; !ok || v != want {
			t.Errorf("%s = %v (written: %v), want %v", sample, v, ok, want)
		}
	}
	// Five failed connects eject the closed backend (the default
	// failure_threshold); the sixth request finds none to try (503).
	if n := m[`spillway_backend_attempts_total{service="svc-h",location="/down/",backend="`+du.Host+`",outcome="connect_failed"}`]; n != 5 {
		t.Errorf("%v failed connects counted for the closed backend, want 5", n)
	}
	if m[`spillway_connections{port="`+port+`"}`] < 1 {
		t.Errorf("no open connection counted while a tunnel is open")
	}
	c.Close()
	waitMetric(t, px.srv, `spillway_tunnels{port="`+port+`"}`, 0)
	waitMetric(t, px.srv, `spillway_backend_in_flight`+wsBackend, 0)
}
