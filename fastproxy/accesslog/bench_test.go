package accesslog

import (
	"path/filepath"
	"testing"
)

// BenchmarkRecord is the cost per request of an access log line, written
// to a file in batches.
func BenchmarkRecord(b *testing.B) {
	for _, format := range []string{FormatCombined, FormatJSON} {
		b.Run(format, func(b *testing.B) {
			l, err := Open(filepath.Join(b.TempDir(), "a.log"), format, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			e := entry()
			e.Referer = []byte("https://www.example.com/some/page?x=1")
			e.UserAgent = []byte("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36")
			b.ReportAllocs()
			for b.Loop() {
				l.Record(e)
			}
		})
	}
}
