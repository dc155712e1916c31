package pluginhost_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
	"github.com/spillway-lb/spillway/fastproxy"
	"github.com/spillway-lb/spillway/fastproxy/accesslog"
	"github.com/spillway-lb/spillway/pluginhost"
	"github.com/spillway-lb/spillway/pluginhost/plugin"
)

// With the access log on, a streamed answer a response plugin read part
// of or put a prefix before is logged once its body ends, with the bytes
// the client got and the time to the last of them, and the backend connection under the plugin's stream is
// still released and reused: two answers on one client connection, one
// backend connection.
func TestAccessLogCountsWhatAPluginsStreamSent(t *testing.T) {
	const size, pause = 1 << 20, 200 * time.Millisecond
	answer := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	for _, tc := range []struct {
		desc string
		resp func(*http.Response)
		want int
	}{
		{"part read, body kept", func(r *http.Response) {
			var p [4096]byte
			io.ReadFull(r.Body, p[:])
		}, size},
		{"prefix", func(r *http.Response) {
			r.Body = io.NopCloser(io.MultiReader(strings.NewReader("R:"), r.Body))
			r.ContentLength += 2
		}, size + 2},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			var conns atomic.Int32
			origin := rawOrigin(t, func(c net.Conn) {
				conns.Add(1)
				br := bufio.NewReader(c)
				for {
					if _, err := http.ReadRequest(br); err != nil {
						return
					}
					fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(answer))
					c.Write(answer[:size/4])
					time.Sleep(pause)
					if _, err := c.Write(answer[size/4:]); err != nil {
						return
					}
				}
			})
			h, err := pluginhost.New([]plugin.Handler{changer{resp: tc.resp}}, nil, quiet)
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close(context.Background())
			logFile := filepath.Join(t.TempDir(), "access.log")
			al, err := accesslog.Open(logFile, "json", func(err error) { t.Error(err) })
			if err != nil {
				t.Fatal(err)
			}
			defer al.Close()
			cfg := &configs.Config{Host: "127.0.0.1", Services: []configs.Service{{
				Name:      "s",
				Locations: []configs.Location{{Path: "/", Backends: []configs.Backend{{URL: "http://" + origin}}}},
			}}}
			srv := startServer(t, cfg, fastproxy.Options{Logger: quiet, Plugins: h, AccessLog: al})
			conn, err := net.Dial("tcp", srv.Addrs()[0].String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(20 * time.Second))
			br := bufio.NewReader(conn)
			for i := range 2 {
				fmt.Fprintf(conn, "GET /%d HTTP/1.1\r\nHost: a\r\n\r\n", i)
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				n, err := io.Copy(io.Discard, resp.Body)
				if err != nil || n != int64(tc.want) {
					t.Fatalf("answer %d: %d bytes (%v), want %d", i, n, err, tc.want)
				}
			}
			var lines []map[string]any
			for deadline := time.Now().Add(5 * time.Second); len(lines) < 2 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				al.Flush()
				data, err := os.ReadFile(logFile)
				if err != nil {
					t.Fatal(err)
				}
				lines = lines[:0]
				for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
					var v map[string]any
					if l != "" && json.Unmarshal([]byte(l), &v) == nil {
						lines = append(lines, v)
					}
				}
			}
			if len(lines) != 2 {
				t.Fatalf("%d access log lines, want 2: %v", len(lines), lines)
			}
			for i, l := range lines {
				if l["bytes"] != float64(tc.want) || l["uri"] != fmt.Sprintf("/%d", i) {
					t.Errorf("line %d: %v; want uri /%d and %d bytes", i, l, i, tc.want)
				}
				if ms, _ := l["duration_ms"].(float64); ms < float64(pause/time.Millisecond) {
					t.Errorf("line %d: %vms, want the time to the last byte, past the origin's %v pause", i, ms, pause)
				}
			}
			if n := conns.Load(); n != 1 {
				t.Errorf("two answers took %d backend connections, want 1", n)
			}
		})
	}
}
