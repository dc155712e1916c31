package main

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

// limiter counts requests per client in fixed windows. A fixed window is
// the simplest limit a reader can check by hand; the map is cleared at
// each window so idle clients cost nothing.
type limiter struct {
	max    int
	window time.Duration

	mu    sync.Mutex
	start time.Time
	count map[string]int
}

func newLimiter(max int, window time.Duration) *limiter {
	return &limiter{max: max, window: window, count: map[string]int{}}
}

// allow counts one request from client and reports whether it is within
// the limit, and when the current window ends.
func (l *limiter) allow(client string) (bool, time.Time) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.start) >= l.window {
		l.start = now
		clear(l.count)
	}
	reset := l.start.Add(l.window)
	if l.max <= 0 {
		return true, reset
	}
	l.count[client]++
	return l.count[client] <= l.max, reset
}

func clientIP(remoteAddr string) string {
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		return host
	}
	return remoteAddr
}

func set(list []string) map[string]bool {
	m := make(map[string]bool, len(list))
	for _, s := range list {
		m[s] = true
	}
	return m
}

func join(list []string) string { return strings.Join(list, ", ") }

func hasPrefix(s, prefix string) bool { return strings.HasPrefix(s, prefix) }

func errorf(format string, args ...any) error { return fmt.Errorf("guide: "+format, args...) }
