package conformance

import (
	"testing"
	"time"
)

// FuzzParse feeds arbitrary bytes to the testbench's decoder of the DUT's
// packets and to its trace formatter: whatever a DUT sends, the harness
// reports it and never panics.
func FuzzParse(f *testing.F) {
	f.Add([]byte{0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2,
		0, 80, 0x9c, 0x40, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0})
	f.Add([]byte{0x60, 0, 0, 0, 0, 24, 6, 64, 0x20, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
		0x20, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2,
		0, 80, 0x9c, 0x40, 0, 0, 0, 1, 0, 0, 0, 0, 0x60, 0x12, 0xff, 0xff, 0, 0, 0, 0, 30, 4, 0x20, 0x81})
	tb := &Testbench{t: &T{}}
	f.Fuzz(func(t *testing.T, b []byte) {
		if g := tb.parse(b, time.Now()); g != nil {
			_ = g.describe(nil)
			_ = g.Len()
		}
		_ = optString(b)
	})
}
