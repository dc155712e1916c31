//go:build !race

// The race detector enlarges allocations, so sizes are measured without it.

package fastproxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/spillway-lb/spillway/configs"
)

// TestIdleConnectionsHoldLittleMemory keeps many client connections open
// and idle after each fetched a 16 KiB answer, as browsers keep theirs, and
// bounds what each costs the process (heap and stacks, the clients' own
// share included). fasthttp by default keeps every connection's read and
// write buffers (16 + 32 KiB here) and request context for as long as the
// connection lives; the edge has it give the writer and the context back
// while a connection waits (ReduceMemoryUsage), which took this from about
// 61 KiB a connection to about 29: the goroutine's stack (8 KiB) and the
// read buffer, which fasthttp keeps when request bodies stream.
func TestIdleConnectionsHoldLittleMemory(t *testing.T) {
	const conns, size = 400, 16 << 10
	body := strings.Repeat("x", size)
	o := pathStartOrigin(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) })
	px := pathStartProxy(t, &configs.Config{
		Services: []configs.Service{pathService("", pathLoc("/", o.URL))},
	}, Options{Logger: edgeTestLogger()})

	fetch := func(c net.Conn, br *bufio.Reader) {
		t.Helper()
		fmt.Fprint(c, "GET /big HTTP/1.1\r\nHost: front.example\r\n\r\n")
		resp, got := edgeRead(t, br, "GET")
		if resp.StatusCode != 200 || len(got) != size {
			t.Fatalf("status %d, %d body bytes", resp.StatusCode, len(got))
		}
	}
	// Warm up, so the pools and the backend connection exist before the
	// count starts.
	warm := edgeDial(t, px.Addr)
	fetch(warm, bufio.NewReader(warm))

	inUse := func() uint64 {
		runtime.GC()
		runtime.GC() // the second drops what sync.Pools held over the first
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse + m.StackInuse
	}
	before := inUse()
	held := make([]net.Conn, 0, conns)
	for range conns {
		c := edgeDial(t, px.Addr)
		c.SetDeadline(time.Now().Add(time.Minute))
		fetch(c, bufio.NewReaderSize(c, 16)) // the client keeps no large buffer
		held = append(held, c)
	}
	time.Sleep(50 * time.Millisecond) // every connection back to its idle wait
	per := (int64(inUse()) - int64(before)) / conns
	t.Logf("%d idle connections: %d bytes each", conns, per)
	if per > 40<<10 {
		t.Errorf("an idle connection holds %d KiB, want at most 40 KiB", per>>10)
	}
	for _, c := range held {
		fetch(c, bufio.NewReader(c)) // each still serves
	}
}
