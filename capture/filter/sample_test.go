package filter

import (
	"io"
	"testing"

	"github.com/mptcp-go/mptcp/capture"
	"golang.org/x/net/bpf"
)

// TestFilterOnSample runs the filter in the BPF VM over a real capture of
// kernel MPTCP and plain TCP traffic (written by
// TestFilterAccuracyRealTraffic -update-accuracy) and compares every packet
// with ground truth from the header package and with Match. No root needed.
func TestFilterOnSample(t *testing.T) {
	f, err := capture.Open("../testdata/mptcp-sample.pcapng.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	vm := vms(t)
	var total, keep, mptcp, joins, plain int
	for {
		p, err := f.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		l, err := ForLinkType(p.LinkType)
		if err != nil {
			t.Fatal(err)
		}
		truth := groundTruth(p.LinkType, p.Data)
		got := run(t, vm[l], l, p.Data) // also checks Match
		if got != truth.keep {
			t.Errorf("packet %d: filter %v, ground truth %+v", total+1, got, truth)
		}
		total++
		if truth.keep {
			keep++
		}
		if truth.mptcp {
			mptcp++
			if truth.subtype == 1 && truth.flags&0x12 == 0x02 {
				joins++
			}
		} else if truth.tcp && truth.flags&0x07 == 0 {
			plain++
		}
	}
	t.Logf("%d packets: %d kept, %d with MPTCP options, %d MP_JOIN SYNs, %d plain TCP non-SYN/FIN/RST", total, keep, mptcp, joins, plain)
	if total < 500 || mptcp < 100 || joins == 0 || plain < 100 {
		t.Errorf("sample too thin: %d packets, %d MPTCP, %d joins, %d plain", total, mptcp, joins, plain)
	}
}

// BenchmarkFilterSample is the VM's speed on the real sample (one op is
// one packet).
func BenchmarkFilterSample(b *testing.B) {
	f, err := capture.Open("../testdata/mptcp-sample.pcapng.gz")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var frames [][]byte
	for {
		p, err := f.Next()
		if err != nil {
			break
		}
		frames = append(frames, append([]byte(nil), p.Data...))
	}
	prog, _ := Program(Ethernet, 0)
	vm, err := bpf.NewVM(prog)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_, _ = vm.Run(frames[i%len(frames)])
		i++
	}
}
