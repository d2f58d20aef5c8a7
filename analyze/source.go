package analyze

import (
	"context"
	"errors"
	"fmt"
	"io"

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
func ReadSource(ctx context.Context, a *Analyzer, src capture.Source, progress func(ReadStats)) (ReadStats, error) {
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
		a.Packet(p.Timestamp, nw.Payload)
		if progress != nil && st.Records&0xffff == 0 {
			progress(st)
		}
	}
}
