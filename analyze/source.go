package analyze

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/mptcp-go/mptcp/capture"
)

// ReadStats says what ReadSource read.
type ReadStats struct {
	Records   uint64 // packets read from the source
	LinkError uint64 // packets whose link layer could not be decoded
	NotIP     uint64 // packets that are not IPv4 or IPv6
}

// ReadSource feeds every packet of src to a until the source ends or ctx
// is done. Input errors (a truncated file, a corrupt record) are recorded
// as findings and reading goes on when the source can resynchronize, so
// the rest of the capture is still analyzed. progress, if not nil, is
// called every 65536 packets. It returns ctx's error if cancelled, and nil
// at the end of the input (input errors are in the result).
//
// With more than one CPU (GOMAXPROCS > 1) the source is read on its own
// goroutine, a batch of packets ahead of the analysis: reading and
// analyzing then overlap. Finish honours ctx too.
func ReadSource(ctx context.Context, a *Analyzer, src capture.Source, progress func(ReadStats)) (ReadStats, error) {
	a.ctx = ctx
	if runtime.GOMAXPROCS(0) > 1 {
		return readPipelined(ctx, a, src, progress)
	}
	return readSequential(ctx, a, src, progress)
}

// readSequential reads and analyzes on the caller's goroutine.
func readSequential(ctx context.Context, a *Analyzer, src capture.Source, progress func(ReadStats)) (ReadStats, error) {
	var st ReadStats
	var lastErr string
	for {
		if st.Records&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return st, err
			}
		}
		p, err := src.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return st, nil
			}
			if err.Error() == lastErr || errors.Is(err, capture.ErrTruncated) || errors.Is(err, capture.ErrUnknownFormat) ||
				!(errors.Is(err, capture.ErrCorrupt)) {
				if err.Error() != lastErr {
					a.InputError(fmt.Sprintf("after packet %d", st.Records), err)
				}
				return st, nil
			}
			lastErr = err.Error()
			a.InputError(fmt.Sprintf("after packet %d", st.Records), err)
			continue
		}
		lastErr = ""
		st.Records++
		nw, err := capture.DecodeLink(p.LinkType, p.Data)
		if err != nil {
			st.LinkError++
			a.res.Packets++
			a.res.Malformed++
			continue
		}
		if nw.Version != 4 && nw.Version != 6 {
			st.NotIP++
			a.res.Packets++
			a.res.NotTCP++
			continue
		}
		a.PacketFrom(p.Timestamp, p.Source, nw.Payload)
		if progress != nil && st.Records&0xffff == 0 {
			progress(st)
		}
	}
}

// Packet kinds in a batch.
const (
	kindIP = iota
	kindLinkError
	kindNotIP
)

// batch is a run of packets read ahead: their network-layer bytes copied
// into buf, and what ended the run if it was not size.
type batch struct {
	buf  []byte
	ends []int
	ts   []time.Time
	kind []uint8
	src  []int
	// inputErr is an input error after these packets, at record count
	// errAt; last says reading stopped (end of input, a final error or
	// ctx's error in ctxErr).
	inputErr error
	errAt    uint64
	last     bool
	ctxErr   error
}

// Batch limits: big enough to amortize the hand-over, small enough to
// stay in cache.
const (
	batchBytes   = 256 << 10
	batchPackets = 1024
	batchesAhead = 4
)

// readPipelined reads src on a goroutine and analyzes on the caller's.
func readPipelined(ctx context.Context, a *Analyzer, src capture.Source, progress func(ReadStats)) (ReadStats, error) {
	full := make(chan *batch, batchesAhead)
	free := make(chan *batch, batchesAhead+1)
	quit := make(chan struct{})
	defer close(quit)
	for range batchesAhead + 1 {
		free <- &batch{buf: make([]byte, 0, batchBytes+64<<10)}
	}
	go readAhead(ctx, src, full, free, quit)
	var st ReadStats
	for b := range full {
		start := 0
		for i, end := range b.ends {
			st.Records++
			switch b.kind[i] {
			case kindIP:
				a.PacketFrom(b.ts[i], b.src[i], b.buf[start:end])
			case kindLinkError:
				st.LinkError++
				a.res.Packets++
				a.res.Malformed++
			case kindNotIP:
				st.NotIP++
				a.res.Packets++
				a.res.NotTCP++
			}
			start = end
			if progress != nil && st.Records&0xffff == 0 {
				progress(st)
			}
		}
		if b.inputErr != nil {
			a.InputError(fmt.Sprintf("after packet %d", b.errAt), b.inputErr)
		}
		if b.last {
			return st, b.ctxErr
		}
		b.buf, b.ends, b.ts, b.kind, b.src, b.inputErr = b.buf[:0], b.ends[:0], b.ts[:0], b.kind[:0], b.src[:0], nil
		free <- b
	}
	return st, nil
}

// readAhead fills batches from src until the input ends, a final error,
// ctx is done or quit is closed. It applies ReadSource's error rules:
// a corrupt record is reported and reading goes on if the source
// resynchronizes; the same error twice, a truncated input or any other
// error ends the reading.
func readAhead(ctx context.Context, src capture.Source, full, free chan *batch, quit chan struct{}) {
	defer close(full)
	var records uint64
	var lastErr string
	var b *batch
	next := func() bool {
		select {
		case b = <-free:
			return true
		case <-quit:
			return false
		}
	}
	send := func() bool {
		select {
		case full <- b:
			b = nil
			return true
		case <-quit:
			return false
		}
	}
	if !next() {
		return
	}
	for {
		if records&1023 == 0 {
			if err := ctx.Err(); err != nil {
				b.last, b.ctxErr = true, err
				send()
				return
			}
		}
		p, err := src.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				b.last = true
				send()
				return
			}
			final := err.Error() == lastErr || errors.Is(err, capture.ErrTruncated) ||
				errors.Is(err, capture.ErrUnknownFormat) || !errors.Is(err, capture.ErrCorrupt)
			if err.Error() != lastErr {
				b.inputErr, b.errAt = err, records
			}
			lastErr = err.Error()
			b.last = final
			if !send() || final || !next() {
				return
			}
			continue
		}
		lastErr = ""
		records++
		kind := uint8(kindIP)
		nw, lerr := capture.DecodeLink(p.LinkType, p.Data)
		switch {
		case lerr != nil:
			kind = kindLinkError
		case nw.Version != 4 && nw.Version != 6:
			kind = kindNotIP
		default:
			b.buf = append(b.buf, nw.Payload...)
		}
		b.ends = append(b.ends, len(b.buf))
		b.ts = append(b.ts, p.Timestamp)
		b.kind = append(b.kind, kind)
		b.src = append(b.src, p.Source)
		if len(b.buf) >= batchBytes || len(b.ends) >= batchPackets {
			if !send() || !next() {
				return
			}
		}
	}
}
