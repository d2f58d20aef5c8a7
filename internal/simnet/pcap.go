package simnet

import (
	"fmt"
	"io"
	"time"

	"github.com/mptcp-go/mptcp/capture"
)

// PcapEpoch is the wall-clock time a Capture gives the Net's time 0.
var PcapEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Capture writes every packet that leaves a path to a pcap file, as the
// Net delivers it: bare IP packets (LINKTYPE_RAW), nanosecond timestamps
// of PcapEpoch plus the Net's time. Package capture reads it and `mptcp
// analyze` checks it like a capture of real traffic.
type Capture struct {
	w       *capture.PcapWriter
	err     error
	closed  bool
	packets int
}

// Capture starts writing to w from now on; Close flushes and stops.
func (n *Net) Capture(w io.Writer) (*Capture, error) {
	pw, err := capture.NewPcapWriter(w, capture.LinkTypeRaw, capture.PcapWriterOptions{Nanosecond: true})
	if err != nil {
		return nil, fmt.Errorf("simnet: capture: %w", err)
	}
	c := &Capture{w: pw}
	n.Tap(c.packet)
	return c, nil
}

func (c *Capture) packet(at time.Duration, pkt []byte) {
	if c.closed || c.err != nil {
		return
	}
	c.err = c.w.WritePacket(capture.Packet{Timestamp: PcapEpoch.Add(at), LinkType: capture.LinkTypeRaw,
		CaptureLength: len(pkt), Length: len(pkt), Data: pkt})
	c.packets++
}

// Packets returns how many packets were written.
func (c *Capture) Packets() int { return c.packets }

// Close stops recording and flushes; it returns the first write error.
func (c *Capture) Close() error {
	if c.closed {
		return c.err
	}
	c.closed = true
	if err := c.w.Flush(); c.err == nil && err != nil {
		c.err = err
	}
	if c.err != nil {
		return fmt.Errorf("simnet: capture: %w", c.err)
	}
	return nil
}
