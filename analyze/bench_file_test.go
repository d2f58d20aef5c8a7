package analyze

import (
	"context"
	"os"
	"testing"

	"github.com/mptcp-go/mptcp/capture"
)

func BenchmarkAnalyzeFile(b *testing.B) {
	name := os.Getenv("ANALYZE_BENCH_FILE")
	if name == "" {
		b.Skip("ANALYZE_BENCH_FILE not set")
	}
	for i := 0; i < b.N; i++ {
		f, err := capture.Open(name)
		if err != nil {
			b.Fatal(err)
		}
		a := New(Config{})
		st, _ := ReadSource(context.Background(), a, f, nil)
		a.Finish()
		f.Close()
		b.ReportMetric(float64(st.Records), "packets/op")
	}
}

// BenchmarkReadOnly is BenchmarkAnalyzeFile without the analyzer: the cost
// of reading the capture and stripping the link layer.
func BenchmarkReadOnly(b *testing.B) {
	name := os.Getenv("ANALYZE_BENCH_FILE")
	if name == "" {
		b.Skip("ANALYZE_BENCH_FILE not set")
	}
	for i := 0; i < b.N; i++ {
		f, err := capture.Open(name)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			p, err := f.Next()
			if err != nil {
				break
			}
			if _, err := capture.DecodeLink(p.LinkType, p.Data); err == nil {
				n++
			}
		}
		f.Close()
		b.ReportMetric(float64(n), "packets/op")
	}
}

// BenchmarkAnalyzeFileSequential is BenchmarkAnalyzeFile without the
// read-ahead goroutine.
func BenchmarkAnalyzeFileSequential(b *testing.B) {
	name := os.Getenv("ANALYZE_BENCH_FILE")
	if name == "" {
		b.Skip("ANALYZE_BENCH_FILE not set")
	}
	for i := 0; i < b.N; i++ {
		f, err := capture.Open(name)
		if err != nil {
			b.Fatal(err)
		}
		a := New(Config{})
		st, _ := readSequential(context.Background(), a, f, nil)
		a.Finish()
		f.Close()
		b.ReportMetric(float64(st.Records), "packets/op")
	}
}
