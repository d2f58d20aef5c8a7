package analyze

import (
	"context"
	"os"
	"testing"

	"github.com/mptcp-go/mptcp/capture"
)

// benchFile runs read once per iteration on the capture named by
// ANALYZE_BENCH_FILE and reports how many packets it handled.
func benchFile(b *testing.B, read func(f *capture.File) int) {
	name := os.Getenv("ANALYZE_BENCH_FILE")
	if name == "" {
		b.Skip("ANALYZE_BENCH_FILE not set")
	}
	for i := 0; i < b.N; i++ {
		f, err := capture.Open(name)
		if err != nil {
			b.Fatal(err)
		}
		n := read(f)
		f.Close()
		b.ReportMetric(float64(n), "packets/op")
	}
}

func BenchmarkAnalyzeFile(b *testing.B) {
	benchFile(b, func(f *capture.File) int {
		a := New(Config{})
		st, _ := ReadSource(context.Background(), a, f, nil)
		a.Finish()
		return int(st.Records)
	})
}

// BenchmarkReadOnly is BenchmarkAnalyzeFile without the analyzer: the cost
// of reading the capture and stripping the link layer.
func BenchmarkReadOnly(b *testing.B) {
	benchFile(b, func(f *capture.File) int {
		n := 0
		for {
			p, err := f.Next()
			if err != nil {
				return n
			}
			if _, err := capture.DecodeLink(p.LinkType, p.Data); err == nil {
				n++
			}
		}
	})
}

// BenchmarkAnalyzeFileSequential is BenchmarkAnalyzeFile without the
// read-ahead goroutine.
func BenchmarkAnalyzeFileSequential(b *testing.B) {
	benchFile(b, func(f *capture.File) int {
		a := New(Config{})
		st, _ := readSequential(context.Background(), a, f, nil)
		a.Finish()
		return int(st.Records)
	})
}
