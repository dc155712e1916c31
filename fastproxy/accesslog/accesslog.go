// Package accesslog writes Spillway's access log: one line per answered
// request, in nginx's "combined" layout with the host, backend and
// duration appended, or as one JSON object per line.
//
// Lines are formatted on the request's goroutine into a shared buffer and
// written in batches, by a background flush every flushEvery or as soon as
// a batch reaches batchSize, so a request never waits for the disk unless
// the log falls that far behind. Reopen swaps the file for a new one at the
// same path (for logrotate: rename, then SIGUSR1); Close writes what is
// pending.
package accesslog

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/valyala/bytebufferpool"
)

// Entry is one answered request. Byte slices may alias the request; Record
// copies what it needs before it returns.
type Entry struct {
	// Start is when the request's head had arrived; Duration is from then
	// until the answer was ready to send, or until its body was, for a
	// body written as it streams.
	Start    time.Time
	Duration time.Duration
	// Client is the client's address: the peer, or the address the
	// trusted proxies named. The zero Addr is logged as "-".
	Client netip.Addr
	Method []byte
	URI    []byte
	Proto  []byte
	Status int
	// Bytes is the length of the answer's body (what was sent of it, for
	// a body written as it streams), -1 for a tunnel.
	Bytes     int64
	Referer   []byte
	UserAgent []byte
	Host      []byte
	// Backend is the address of the backend that answered or was tried
	// last; empty when none was (the proxy or a plugin answered).
	Backend string
}

// Formats Open accepts.
const (
	FormatCombined = "combined"
	FormatJSON     = "json"
)

// Batching: what a background flush waits for at most, and the batch size
// that is written at once by the request that fills it.
const (
	flushEvery = 200 * time.Millisecond
	batchSize  = 64 << 10
)

// Log is an open access log. Its methods are safe for concurrent use.
type Log struct {
	json bool
	path string // "" for a standard stream

	mu      sync.Mutex // guards pending
	pending []byte
	spare   []byte // the other batch buffer, written while pending fills

	wmu     sync.Mutex // guards out and the writes to it
	out     io.Writer
	file    *os.File // nil for a standard stream
	onError func(error)
	lastErr time.Time

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// Open opens the access log at path ("stdout" and "stderr" name the
// standard streams; any other path is a file, created with mode 0644 and
// appended to) in format (FormatCombined, or "" for it, or FormatJSON).
// onError, if not nil, is told of write failures, at most once every ten
// seconds; the lines of a failed write are lost.
func Open(path, format string, onError func(error)) (*Log, error) {
	l := &Log{onError: onError, stop: make(chan struct{}), done: make(chan struct{})}
	switch format {
	case "", FormatCombined:
	case FormatJSON:
		l.json = true
	default:
		return nil, fmt.Errorf("access log format %q: want %s or %s", format, FormatCombined, FormatJSON)
	}
	switch path {
	case "":
		return nil, errors.New("access log: no path")
	case "stdout":
		l.out = os.Stdout
	case "stderr":
		l.out = os.Stderr
	default:
		f, err := openFile(path)
		if err != nil {
			return nil, err
		}
		l.path, l.file, l.out = path, f, f
	}
	go l.flusher()
	return l, nil
}

func openFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
}

// Record formats e and queues the line. Once warm it does not allocate.
func (l *Log) Record(e *Entry) {
	b := bytebufferpool.Get()
	if l.json {
		b.B = appendJSON(b.B, e)
	} else {
		b.B = appendCombined(b.B, e)
	}
	l.mu.Lock()
	l.pending = append(l.pending, b.B...)
	bytebufferpool.Put(b)
	if len(l.pending) >= batchSize {
		l.flushLocked()
		return
	}
	l.mu.Unlock()
}

// Flush writes what is pending now.
func (l *Log) Flush() {
	l.mu.Lock()
	if len(l.pending) == 0 {
		l.mu.Unlock()
		return
	}
	l.flushLocked()
}

// flushLocked writes the pending batch; it is called with l.mu held and
// returns with it released. The write lock is taken before l.mu is let
// go, so batches reach the file in the order they were taken, while new
// lines go on filling the other buffer during the write.
func (l *Log) flushLocked() {
	batch := l.pending
	l.pending, l.spare = l.spare[:0], nil
	l.wmu.Lock()
	l.mu.Unlock()
	_, err := l.out.Write(batch)
	if err != nil && l.onError != nil && time.Since(l.lastErr) >= 10*time.Second {
		l.lastErr = time.Now()
		l.onError(err)
	}
	l.wmu.Unlock()
	l.mu.Lock()
	if l.spare == nil {
		l.spare = batch[:0]
	}
	l.mu.Unlock()
}

func (l *Log) flusher() {
	defer close(l.done)
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			l.Flush()
		case <-l.stop:
			return
		}
	}
}

// Reopen writes what is pending to the current file, then opens the file
// at the log's path anew, so that after logrotate renamed the old one the
// log goes on in a new file. On a standard stream it only flushes. If the
// path cannot be opened, the log stays on the old file and the error is
// returned.
func (l *Log) Reopen() error {
	l.Flush()
	if l.path == "" {
		return nil
	}
	f, err := openFile(l.path)
	if err != nil {
		return err
	}
	l.wmu.Lock()
	old := l.file
	l.file, l.out = f, f
	l.wmu.Unlock()
	return old.Close()
}

// Close writes what is pending and closes the file. The log must not be
// used after.
func (l *Log) Close() error {
	var err error
	l.once.Do(func() {
		close(l.stop)
		<-l.done
		l.Flush()
		l.wmu.Lock()
		if l.file != nil {
			err = l.file.Close()
		}
		l.wmu.Unlock()
	})
	return err
}
