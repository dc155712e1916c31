// Package metrics holds the counters Spillway's hot path increments and
// writes them in Prometheus' text exposition format (version 0.0.4).
//
// Counting is a few atomic additions per request and allocates nothing;
// everything else (walking the counters, formatting) happens when the
// metrics are scraped.
package metrics

import (
	"bufio"
	"io"
	"math"
	"strconv"
	"sync/atomic"
	"time"
)

// Requests counts a listener's answers by status class and their
// durations. The zero value is ready to use; it must not be copied.
type Requests struct {
	byClass [6]atomic.Uint64 // index status/100; 0 for anything out of 100-599
	// buckets[i] counts durations up to Buckets[i]; the last one is +Inf.
	buckets [len(Buckets) + 1]atomic.Uint64
	sumNs   atomic.Uint64
}

// Buckets are the upper bounds of the request duration histogram, in
// seconds, as Prometheus' client libraries choose them by default.
var Buckets = [...]float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

var bucketNs = func() (b [len(Buckets)]int64) {
	for i, s := range Buckets {
		b[i] = int64(s * 1e9)
	}
	return b
}()

// Observe counts one answer with status that took d.
func (r *Requests) Observe(status int, d time.Duration) {
	c := status / 100
	if c < 1 || c > 5 {
		c = 0
	}
	r.byClass[c].Add(1)
	i := 0
	for i < len(bucketNs) && int64(d) > bucketNs[i] {
		i++
	}
	r.buckets[i].Add(1)
	r.sumNs.Add(uint64(max(d, 0)))
}

// Label is one name="value" pair of a sample.
type Label struct{ Name, Value string }

// Writer writes metric families in the text format. Each family is
// introduced once by Family, then its samples follow.
type Writer struct {
	w   *bufio.Writer
	err error
}

// NewWriter writes to w; Flush must be called at the end.
func NewWriter(w io.Writer) *Writer { return &Writer{w: bufio.NewWriter(w)} }

// Family writes the HELP and TYPE lines of a metric ("counter", "gauge"
// or "histogram").
func (w *Writer) Family(name, kind, help string) {
	w.str("# HELP " + name + " " + help + "\n# TYPE " + name + " " + kind + "\n")
}

// Sample writes one sample of name with labels.
func (w *Writer) Sample(name string, labels []Label, v float64) {
	w.str(name)
	if len(labels) > 0 {
		w.str("{")
		for i, l := range labels {
			if i > 0 {
				w.str(",")
			}
			w.str(l.Name + `="`)
			w.str(escapeLabel(l.Value))
			w.str(`"`)
		}
		w.str("}")
	}
	w.str(" ")
	w.str(formatValue(v))
	w.str("\n")
}

// Requests writes r as the samples of two families under prefix:
// prefix_requests_total by class (code="2xx"; "other" for a status out of
// range) and the prefix_request_duration_seconds histogram. The families
// must have been introduced; labels are added to every sample.
func (w *Writer) Requests(prefix string, labels []Label, r *Requests) {
	classes := [...]string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"}
	for c, name := range classes {
		w.Sample(prefix+"_requests_total", append(labels[:len(labels):len(labels)], Label{"code", name}), float64(r.byClass[c].Load()))
	}
	var cum uint64
	for i := range r.buckets {
		cum += r.buckets[i].Load()
		le := "+Inf"
		if i < len(Buckets) {
			le = formatValue(Buckets[i])
		}
		w.Sample(prefix+"_request_duration_seconds_bucket", append(labels[:len(labels):len(labels)], Label{"le", le}), float64(cum))
	}
	w.Sample(prefix+"_request_duration_seconds_sum", labels, float64(r.sumNs.Load())/1e9)
	w.Sample(prefix+"_request_duration_seconds_count", labels, float64(cum))
}

// Flush writes what is buffered and returns the first error.
func (w *Writer) Flush() error {
	if w.err == nil {
		w.err = w.w.Flush()
	}
	return w.err
}

func (w *Writer) str(s string) {
	if w.err == nil {
		_, w.err = w.w.WriteString(s)
	}
}

func formatValue(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// escapeLabel escapes a label value as the text format requires.
func escapeLabel(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\\' || c == '"' || c == '\n' {
			b := make([]byte, 0, len(s)+4)
			for j := 0; j < len(s); j++ {
				switch s[j] {
				case '\\':
					b = append(b, '\\', '\\')
				case '"':
					b = append(b, '\\', '"')
				case '\n':
					b = append(b, '\\', 'n')
				default:
					b = append(b, s[j])
				}
			}
			return string(b)
		}
	}
	return s
}
