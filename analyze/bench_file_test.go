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
