package accesslog_test

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/spillway-lb/spillway/fastproxy/accesslog"
)

func Example() {
	dir, _ := os.MkdirTemp("", "accesslog")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "access.log")

	l, err := accesslog.Open(path, accesslog.FormatCombined, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	l.Record(&accesslog.Entry{
		Start:  time.Date(2026, 12, 2, 14, 20, 0, 0, time.UTC),
		Client: netip.MustParseAddr("203.0.113.9"),
		Method: []byte("GET"), URI: []byte("/"), Proto: []byte("HTTP/1.1"),
		Status: 200, Bytes: 12, Host: []byte("example.com"), Backend: "10.0.0.7:9000",
		Duration: 1500 * time.Microsecond,
	})
	l.Close()
	b, _ := os.ReadFile(path)
	fmt.Print(string(b))
	// Output:
	// 203.0.113.9 - - [02/Dec/2026:14:20:00 +0000] "GET / HTTP/1.1" 200 12 "-" "-" host=example.com backend=10.0.0.7:9000 duration=0.002
}
