package accesslog

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func entry() *Entry {
	return &Entry{
		Start:     time.Date(2026, 12, 2, 14, 20, 0, 123e6, time.UTC),
		Duration:  2345 * time.Microsecond,
		Client:    netip.MustParseAddr("203.0.113.9"),
		Method:    []byte("GET"),
		URI:       []byte("/a?b=1"),
		Proto:     []byte("HTTP/1.1"),
		Status:    200,
		Bytes:     12,
		UserAgent: []byte("curl/8.5.0"),
		Host:      []byte("example.com"),
		Backend:   "10.0.0.7:9000",
	}
}

func TestCombinedLine(t *testing.T) {
	got := string(appendCombined(nil, entry()))
	want := `203.0.113.9 - - [02/Dec/2026:14:20:00 +0000] "GET /a?b=1 HTTP/1.1" 200 12 "-" "curl/8.5.0" host=example.com backend=10.0.0.7:9000 duration=0.002` + "\n"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	e := entry()
	e.Client, e.Bytes, e.Backend, e.Host = netip.Addr{}, -1, "", nil
	e.UserAgent = []byte("evil\" \\ \r\n\x00é")
	got = string(appendCombined(nil, e))
	want = `- - - [02/Dec/2026:14:20:00 +0000] "GET /a?b=1 HTTP/1.1" 200 - "-" "evil\x22 \x5C \x0D\x0A\x00\xC3\xA9" host=- backend=- duration=0.002` + "\n"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestJSONLine(t *testing.T) {
	e := entry()
	e.Referer = []byte("https://r.example/\"q\"\x01\xff")
	e.Client = netip.MustParseAddr("::ffff:192.0.2.1")
	line := appendJSON(nil, e)
	var m map[string]any
	if err := json.Unmarshal(line, &m); err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	want := map[string]any{
		"time": "2026-12-02T14:20:00.123Z", "client": "192.0.2.1", "method": "GET", "uri": "/a?b=1",
		"proto": "HTTP/1.1", "status": 200.0, "bytes": 12.0, "referer": "https://r.example/\"q\"\x01\ufffd",
		"user_agent": "curl/8.5.0", "host": "example.com", "backend": "10.0.0.7:9000", "duration_ms": 2.345,
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %#v, want %#v", k, m[k], v)
		}
	}
	if len(m) != len(want) {
		t.Errorf("fields %v", m)
	}
}

// Lines written from many goroutines all arrive whole, each batch in
// order, and Close writes the last of them.
func TestConcurrentRecordsArriveWhole(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	l, err := Open(path, FormatJSON, nil)
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 8, 2000
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			e := entry()
			for i := range each {
				e.URI = fmt.Appendf(e.URI[:0], "/w%d/%d", w, i)
				l.Record(e)
			}
		})
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != writers*each {
		t.Fatalf("%d lines, want %d", len(lines), writers*each)
	}
	next := make([]int, writers)
	for _, line := range lines {
		var m struct{ URI string }
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		var w, i int
		fmt.Sscanf(m.URI, "/w%d/%d", &w, &i)
		if i != next[w] {
			t.Fatalf("writer %d: line %d after %d", w, i, next[w]-1)
		}
		next[w]++
	}
}

// After the file is renamed (as logrotate does), Reopen makes a new one at
// the path; lines before it stay in the renamed file.
func TestReopenStartsANewFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	l, err := Open(path, FormatCombined, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	e := entry()
	e.URI = []byte("/before")
	l.Record(e)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	e.URI = []byte("/after")
	l.Record(e)
	l.Flush()
	old, _ := os.ReadFile(path + ".1")
	cur, _ := os.ReadFile(path)
	if !strings.Contains(string(old), "/before") || strings.Contains(string(old), "/after") ||
		!strings.Contains(string(cur), "/after") || strings.Contains(string(cur), "/before") {
		t.Errorf("rotated file %q, new file %q", old, cur)
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(filepath.Join(t.TempDir(), "a.log"), "apache", nil); err == nil || !strings.Contains(err.Error(), `"apache"`) {
		t.Errorf("unknown format: %v", err)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "no", "such", "dir", "a.log"), "", nil); err == nil {
		t.Error("a path in a missing directory opened")
	}
}

// A line is on disk within flushEvery without Flush or Close.
func TestBackgroundFlush(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	l, err := Open(path, FormatCombined, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Record(entry())
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if b, _ := os.ReadFile(path); len(b) > 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the line was not written within 5s")
}
