package link

import (
	"bytes"
	"errors"
	"sync"
	"testing"
)

var _ Endpoint = (*Pipe)(nil)

func TestPipeOrderAndBatch(t *testing.T) {
	a, b := NewPipe(PipeOptions{})
	defer a.Close()
	defer b.Close()
	if a.MTU() != 1500 || a.LinkType() != TypeIP {
		t.Fatalf("defaults: %d %v", a.MTU(), a.LinkType())
	}
	pkts := [][]byte{[]byte("one"), []byte("two"), bytes.Repeat([]byte{7}, 3000)}
	if n, err := a.WritePackets(pkts); n != 3 || err != nil {
		t.Fatalf("write %d %v", n, err)
	}
	pkts[0][0] = 'X' // the caller may reuse its memory
	bufs := [][]byte{make([]byte, 10), make([]byte, 10)}
	sizes := make([]int, 2)
	n, err := b.ReadPackets(bufs, sizes)
	if err != nil || n != 2 || string(bufs[0][:sizes[0]]) != "one" || string(bufs[1][:sizes[1]]) != "two" {
		t.Fatalf("read %d %v %q %q", n, err, bufs[0][:sizes[0]], bufs[1][:sizes[1]])
	}
	n, err = b.ReadPackets(bufs[:1], sizes)
	if err != nil || n != 1 || sizes[0] != 10 {
		t.Fatalf("truncated read %d %v %d", n, err, sizes[0])
	}
}

func TestPipeDropsWhenFull(t *testing.T) {
	a, b := NewPipe(PipeOptions{QueueLen: 2})
	defer b.Close()
	n, _ := a.WritePackets([][]byte{{1}, {2}, {3}})
	if n != 3 || b.Drops() != 1 {
		t.Fatalf("n=%d drops=%d", n, b.Drops())
	}
}

func TestPipeCloseUnblocksReader(t *testing.T) {
	a, b := NewPipe(PipeOptions{})
	var wg sync.WaitGroup
	wg.Add(1)
	var err error
	go func() {
		defer wg.Done()
		_, err = b.ReadPackets([][]byte{make([]byte, 10)}, make([]int, 1))
	}()
	b.Close()
	wg.Wait()
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("err = %v", err)
	}
	if _, err := a.WritePackets([][]byte{{1}}); !errors.Is(err, ErrClosed) {
		t.Fatalf("write to closed peer: %v", err)
	}
	if _, err := b.WritePackets([][]byte{{1}}); !errors.Is(err, ErrClosed) {
		t.Fatalf("write on closed end: %v", err)
	}
}

func TestPipeNoAllocs(t *testing.T) {
	a, b := NewPipe(PipeOptions{})
	defer a.Close()
	defer b.Close()
	pkts := [][]byte{make([]byte, 1500), make([]byte, 60)}
	bufs := [][]byte{make([]byte, 2048), make([]byte, 2048)}
	sizes := make([]int, 2)
	a.WritePackets(pkts)
	b.ReadPackets(bufs, sizes)
	allocs := testing.AllocsPerRun(100, func() {
		a.WritePackets(pkts)
		b.ReadPackets(bufs, sizes)
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per round trip", allocs)
	}
}

func BenchmarkPipe(b *testing.B) {
	x, y := NewPipe(PipeOptions{})
	defer x.Close()
	defer y.Close()
	pkts := [][]byte{make([]byte, 1500)}
	bufs := [][]byte{make([]byte, 2048)}
	sizes := make([]int, 1)
	b.SetBytes(1500)
	b.ReportAllocs()
	for b.Loop() {
		x.WritePackets(pkts)
		y.ReadPackets(bufs, sizes)
	}
}
