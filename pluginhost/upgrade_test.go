package pluginhost_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
)

// echoUpgrade is an origin that switches any upgrade request to "echo"
// and then sends back what it reads.
func echoUpgrade(t *testing.T) string {
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" {
			http.Error(w, "upgrade to echo only", http.StatusUpgradeRequired)
			return
		}
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n" +
			"X-Seen-Guide: " + r.Header.Get("X-Guide-Plugin") + "\r\n\r\n")
		brw.Flush()
		io.Copy(c, brw)
	}))
	t.Cleanup(o.Close)
	return o.URL
}

// The guide's example plugin, loaded from its .so, guards an upgrade as
// any request: without the API key the client gets its 401 and no tunnel;
// with it, the request carries the plugin's header, the 101 its security
// headers, and the tunnel carries bytes both ways.
func TestGuidePluginGuardsUpgrades(t *testing.T) {
	t.Parallel()
	h := load(t, pluginDir(t, "guide"), settings("guide", 0, map[string]any{
		"auth": map[string]any{"keys": []any{"k1"}},
	}), nil)
	cfg := &configs.Config{Host: "127.0.0.1", Services: []configs.Service{{
		Name:      "ws",
		Locations: []configs.Location{{Path: "/", Backends: []configs.Backend{{URL: echoUpgrade(t)}}}},
	}}}
	addr := strings.TrimPrefix(startProxy(t, cfg, h), "http://")
	for _, key := range []string{"", "k1"} {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "GET /private/ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: echo\r\nX-API-Key: "+key+"\r\n\r\n")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if key == "" {
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "API key") {
				t.Fatalf("upgrade without a key: %d %q", resp.StatusCode, body)
			}
			continue
		}
		if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Upgrade") != "echo" ||
			resp.Header.Get("X-Seen-Guide") != "guide" || resp.Header.Get("X-Frame-Options") != "DENY" {
			t.Fatalf("upgrade with the key: %d %v", resp.StatusCode, resp.Header)
		}
		for _, msg := range []string{"ping\n", strings.Repeat("x", 100<<10) + "\n"} {
			io.WriteString(c, msg)
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(br, got); err != nil || string(got) != msg {
				t.Fatalf("echo of %d bytes: %v (%d bytes back)", len(msg), err, len(got))
			}
		}
	}
}
