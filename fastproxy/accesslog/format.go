package accesslog

import (
	"strconv"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// appendCombined appends e as nginx's "combined" line with host, backend
// and duration (seconds, millisecond precision as nginx's $request_time)
// after it:
//
//	203.0.113.9 - - [02/Dec/2026:14:20:00 +0000] "GET /a?b=1 HTTP/1.1" 200 12 "-" "curl/8.5.0" host=example.com backend=10.0.0.7:9000 duration=0.002
//
// Strings are quoted and escaped as nginx escapes them (a quote,
// backslash, control or non-ASCII byte becomes \xHH), so a line never
// splits and a field never runs into the next; an empty one is "-".
func appendCombined(b []byte, e *Entry) []byte {
	b = appendAddr(b, e)
	b = append(b, " - - ["...)
	b = append(b, clfTime(e.Start)...)
	b = append(b, "] \""...)
	b = appendEscaped(b, e.Method)
	b = append(b, ' ')
	b = appendEscaped(b, e.URI)
	b = append(b, ' ')
	b = appendEscaped(b, e.Proto)
	b = append(b, "\" "...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	b = append(b, ' ')
	b = appendBytes(b, e.Bytes)
	b = append(b, " \""...)
	b = appendEscapedOrDash(b, e.Referer)
	b = append(b, "\" \""...)
	b = appendEscapedOrDash(b, e.UserAgent)
	b = append(b, "\" host="...)
	b = appendEscapedOrDash(b, e.Host)
	b = append(b, " backend="...)
	if e.Backend == "" {
		b = append(b, '-')
	} else {
		b = append(b, e.Backend...)
	}
	b = append(b, " duration="...)
	b = strconv.AppendFloat(b, e.Duration.Seconds(), 'f', 3, 64)
	return append(b, '\n')
}

// appendJSON appends e as one JSON object and a newline; time is RFC 3339
// in UTC with milliseconds, bytes is -1 when not known, duration_ms has
// microsecond precision.
func appendJSON(b []byte, e *Entry) []byte {
	b = append(b, `{"time":"`...)
	b = append(b, isoSecond(e.Start)...)
	ms := e.Start.Nanosecond() / 1e6
	b = append(b, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z')
	b = append(b, `","client":"`...)
	b = appendAddr(b, e)
	b = append(b, `","method":`...)
	b = appendJSONString(b, e.Method)
	b = append(b, `,"uri":`...)
	b = appendJSONString(b, e.URI)
	b = append(b, `,"proto":`...)
	b = appendJSONString(b, e.Proto)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, max(e.Bytes, -1), 10)
	b = append(b, `,"referer":`...)
	b = appendJSONString(b, e.Referer)
	b = append(b, `,"user_agent":`...)
	b = appendJSONString(b, e.UserAgent)
	b = append(b, `,"host":`...)
	b = appendJSONString(b, e.Host)
	b = append(b, `,"backend":`...)
	b = appendJSONString(b, []byte(e.Backend)) // an address: short, so no allocation
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendFloat(b, float64(e.Duration.Microseconds())/1000, 'f', -1, 64)
	return append(b, "}\n"...)
}

func appendAddr(b []byte, e *Entry) []byte {
	if !e.Client.IsValid() {
		return append(b, '-')
	}
	return e.Client.Unmap().AppendTo(b)
}

func appendBytes(b []byte, n int64) []byte {
	if n < 0 {
		return append(b, '-')
	}
	return strconv.AppendInt(b, n, 10)
}

const hexDigits = "0123456789ABCDEF"

func appendEscapedOrDash(b, s []byte) []byte {
	if len(s) == 0 {
		return append(b, '-')
	}
	return appendEscaped(b, s)
}

// plain marks the bytes written as they are, in both formats: printable
// ASCII but the quote and the backslash.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendEscaped appends s with every byte outside printable ASCII, and
// the quote and backslash, written as \xHH.
func appendEscaped(b, s []byte) []byte {
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && plain[s[j]] {
			j++
		}
		b = append(b, s[i:j]...)
		if j == len(s) {
			break
		}
		c := s[j]
		b = append(b, '\\', 'x', hexDigits[c>>4], hexDigits[c&15])
		i = j + 1
	}
	return b
}

// appendJSONString appends s as a JSON string: valid UTF-8 as it is, the
// rest replaced by U+FFFD, control characters escaped.
func appendJSONString(b, s []byte) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && plain[s[j]] {
			j++
		}
		b = append(b, s[i:j]...)
		if i = j; i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, "\ufffd"...)
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}

// clfTime returns t in the common log format's layout.
func clfTime(t time.Time) string { return clfStamps.of(t) }

// isoSecond returns t's second in UTC as RFC 3339 without the fraction.
func isoSecond(t time.Time) string { return isoStamps.of(t) }

var (
	clfStamps = stampCache{layout: "02/Jan/2006:15:04:05 -0700"}
	isoStamps = stampCache{layout: "2006-01-02T15:04:05"}
)

// stampCache formats times in UTC to a second's precision, once per
// second, shared by every line of that second: formatting a time costs
// more than the rest of a line.
type stampCache struct {
	layout string
	last   atomic.Pointer[stamp]
}

type stamp struct {
	sec  int64
	text string
}

func (c *stampCache) of(t time.Time) string {
	sec := t.Unix()
	if s := c.last.Load(); s != nil && s.sec == sec {
		return s.text
	}
	s := &stamp{sec: sec, text: t.UTC().Format(c.layout)}
	c.last.Store(s)
	return s.text
}
