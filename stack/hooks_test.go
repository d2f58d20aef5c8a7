package stack

import (
	"context"
	"errors"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/link"
	"github.com/mptcp-go/mptcp/tcp"
)

// kind30Hooks puts an MPTCP-kind option on every segment and counts the
// segments that arrive with one.
type kind30Hooks struct {
	in, inWith atomic.Int64
	events     chan tcp.SubflowEvent
}

func (h *kind30Hooks) OutgoingOptions(seg *tcp.SegmentInfo, b []byte) []byte {
	if seg.Budget < 4 {
		return b
	}
	return append(b, header.TCPOptMPTCP, 4, 0x20, 0)
}

func (h *kind30Hooks) Incoming(seg *tcp.SegmentInfo, opts []byte) error {
	h.in.Add(1)
	it := header.NewTCPOptionIterator(opts)
	for it.Next() {
		if it.Kind() == header.TCPOptMPTCP {
			h.inWith.Add(1)
			break
		}
	}
	return nil
}

func (h *kind30Hooks) Event(ev tcp.SubflowEvent) {
	select {
	case h.events <- ev:
	default:
	}
}

func TestStackHooks(t *testing.T) {
	p := newPair(t, link.TypeIP, false)
	srvHooks := &kind30Hooks{events: make(chan tcp.SubflowEvent, 8)}
	var sawSYNOption atomic.Bool
	l, err := p.b.ListenTCPOptions(netip.AddrPortFrom(p.addrB, 0), ListenOptions{
		Hooks: func(local, remote netip.AddrPort, syn []byte) (tcp.SegmentHooks, error) {
			it := header.NewTCPOptionIterator(syn)
			for it.Next() {
				if it.Kind() == header.TCPOptMPTCP {
					sawSYNOption.Store(true)
					return srvHooks, nil
				}
			}
			return nil, errors.New("no MPTCP option: refuse")
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { buf := make([]byte, 100); c.Read(buf); c.Close() }()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Without hooks the listener refuses (RST): the SYN lacks the option.
	if _, err := p.a.DialTCP(ctx, netip.AddrPort{}, l.AddrPort()); !errors.Is(err, tcp.ErrConnectionRefused) {
		t.Fatalf("dial without option: %v", err)
	}
	cliHooks := &kind30Hooks{events: make(chan tcp.SubflowEvent, 8)}
	c, err := p.a.DialTCPOptions(ctx, netip.AddrPort{}, l.AddrPort(), DialOptions{Hooks: cliHooks})
	if err != nil {
		t.Fatal(err)
	}
	if ev := <-cliHooks.events; ev != tcp.EventEstablished {
		t.Fatalf("first client event %v", ev)
	}
	c.Write([]byte("x"))
	c.SendAck()
	c.Close()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if st := c.Info().State; st == tcp.StateTimeWait || st == tcp.StateClosed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("close did not complete: %v", c.Info().State)
		}
	}
	if !sawSYNOption.Load() || srvHooks.in.Load() == 0 || srvHooks.inWith.Load() != srvHooks.in.Load() {
		t.Fatalf("server hooks saw %d segments, %d with the option", srvHooks.in.Load(), srvHooks.inWith.Load())
	}
}
