package conformance

import (
	"context"
	"errors"
	"io"
	"syscall"
	"time"

	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/option"
)

// Socket-call scenarios of MPTCP sockets (packetdrill's syscalls,
// regressions, sockopts, fastopen and splice families): calls on
// unconnected sockets, zero-length reads, close before accept, connect
// errors, socket options reaching every subflow, TCP Fast Open with
// MP_CAPABLE, a splice loop.

// Socket returns a raw socket of the DUT, closed when the scenario ends;
// the scenario is not applicable to a DUT without a socket API.
func (t *T) Socket(o SockOpts) Socket {
	api, ok := t.dut.(SocketAPI)
	if !ok {
		t.NotApplicable("no unconnected sockets in this DUT's API: Dial returns connected connections only")
	}
	s, err := api.Socket(o)
	t.must("socket", err)
	t.Cleanup(func() { s.Close() })
	return s
}

func init() {
	register(
		Scenario{
			Name:    "syscalls/unconnected-read",
			Summary: "read on an MPTCP socket that was never connected fails with ENOTCONN and sends nothing",
			MPTCP:   true,
			Run: func(t *T) {
				s := t.Socket(SockOpts{MPTCP: true})
				if _, err := s.Read(1000); !errors.Is(err, syscall.ENOTCONN) {
					t.Errorf("read: got %v, want ENOTCONN", err)
				}
				if g := t.TB().drain(100 * time.Millisecond); len(g) > 0 {
					t.Errorf("segments after a read on an unconnected socket: %s", g[0].describe(nil))
				}
			},
		},
		Scenario{
			Name:    "syscalls/shutdown-while-connecting",
			Summary: "shutdown(SHUT_WR) on an MPTCP socket whose connect is pending succeeds (packetdrill regression: it used to deadlock in mptcp_disconnect)",
			MPTCP:   true,
			Run: func(t *T) {
				s := t.Socket(SockOpts{MPTCP: true})
				t.must("connect", s.Connect(netipPort(t.Topology().TB[0], t.TB().port())))
				_, syn := t.TB().ExpectConnect(Quick)
				syn.MPCIs(MPCFlagH, false, false)
				if err := s.Shutdown(syscall.SHUT_WR); err != nil {
					t.Errorf("shutdown(SHUT_WR): %v", err)
				}
			},
		},
		Scenario{
			Name:    "syscalls/write-before-connected",
			Summary: "a non-blocking write on an MPTCP socket whose connect is pending fails with EAGAIN; once the handshake completes it is accepted and sent with MP_CAPABLE and the data length",
			MPTCP:   true,
			Run: func(t *T) {
				s := t.Socket(SockOpts{MPTCP: true})
				t.must("connect", s.Connect(netipPort(t.Topology().TB[0], t.TB().port())))
				f, _ := t.TB().ExpectConnect(Quick)
				if _, err := s.Write(Pattern(400, 1)); !errors.Is(err, syscall.EAGAIN) {
					t.Errorf("write while connecting: got %v, want EAGAIN", err)
				}
				m := t.NewMPConn()
				m.attach(f, MPSubflow{})
				f.Send(Seg{Flags: SYN | ACK, Ack: 1, Opts: append(StdSYN(), m.MPCSynAck(MPCFlagH))})
				f.AutoTS = true
				ac := f.Expect(Quick).Is(ACK).SeqIs(1).AckIs(1).MPCIs(MPCFlagH, true, true)
				m.SetRemoteKey(ac.SenderKey)
				if n, err := s.Write(Pattern(400, 1)); n != 400 || err != nil {
					t.Errorf("write after the handshake: %d, %v, want 400, nil", n, err)
				}
				f.Expect(Quick).SeqIs(1).Payload(Pattern(400, 1)).MPCIs(MPCFlagH, true, true)
			},
		},
		Scenario{
			Name:    "syscalls/connect-refused",
			Summary: "an MPTCP connect answered by RST|ACK fails with ECONNREFUSED, and a write on the socket then reports the same error",
			Note:    "A DUT without unconnected sockets (ours: Dial returns connected connections only) plays it with Dial, which must fail with ECONNREFUSED; it has no socket left to write on.",
			MPTCP:   true,
			Run: func(t *T) {
				if _, ok := t.dut.(SocketAPI); !ok {
					d := t.Dial(0, t.TB().port(), SockOpts{MPTCP: true})
					f, syn := t.TB().ExpectConnect(Quick)
					syn.MPCIs(MPCFlagH, false, false)
					f.Send(Seg{Flags: RST | ACK, Ack: 1})
					if _, err := d.Wait(Quick); !errors.Is(err, syscall.ECONNREFUSED) {
						t.Errorf("connect: got %v, want ECONNREFUSED", err)
					}
					f.ExpectNone(100 * time.Millisecond)
					return
				}
				s := t.Socket(SockOpts{MPTCP: true})
				t.must("connect", s.Connect(netipPort(t.Topology().TB[0], t.TB().port())))
				f, _ := t.TB().ExpectConnect(Quick)
				f.Send(Seg{Flags: RST | ACK, Ack: 1})
				deadline := time.Now().Add(Quick)
				var err error
				for err = s.Err(); err == nil && time.Now().Before(deadline); err = s.Err() {
					t.PauseUntil(time.Now().Add(10 * time.Millisecond))
				}
				if !errors.Is(err, syscall.ECONNREFUSED) {
					t.Errorf("SO_ERROR: got %v, want ECONNREFUSED", err)
				}
				if _, err := s.Write(Pattern(400, 2)); err == nil || errors.Is(err, syscall.EAGAIN) {
					t.Errorf("write after the refusal: got %v, want an error", err)
				}
			},
		},
		Scenario{
			Name:    "syscalls/zero-length-read",
			Summary: "a zero-length read returns 0 without error, with data pending or not, consumes nothing and sends nothing (packetdrill regression: MPTCP-level ACK scheduling)",
			MPTCP:   true,
			Run: func(t *T) {
				_, f, c, _ := t.MPConnect(MPCFlagH)
				zr, ok := c.(ZeroReader)
				if !ok {
					t.NotApplicable("the connection cannot pass a zero-length read to the stack")
				}
				if n, err := zr.ReadZero(); n != 0 || err != nil {
					t.Errorf("zero-length read without data: %d, %v", n, err)
				}
				d := Pattern(200, 3)
				f.Send(Seg{Flags: ACK | PSH, Seq: 1, Ack: 1, Data: d, Opts: []Opt{Mapping(1, 1, 1, d)}})
				f.ExpectDataAck(201, Quick)
				if n, err := zr.ReadZero(); n != 0 || err != nil {
					t.Errorf("zero-length read with data pending: %d, %v", n, err)
				}
				f.ExpectNone(100 * time.Millisecond)
				if got := t.Read(c, 200, Quick); string(got) != string(d) {
					t.Errorf("read: data differs from what was sent")
				}
			},
		},
		Scenario{
			Name:    "syscalls/close-before-accept",
			Summary: "an MPTCP connection whose only subflow is reset before the application accepts it is still accepted, with the data that came first (packetdrill regression)",
			Note:    "What a write does then is the implementation's choice: older kernels buffered it (the packetdrill script), Linux 6.18 fails it with EPIPE as no subflow is left.",
			MPTCP:   true,
			Run: func(t *T) {
				l := t.Listen(SockOpts{MPTCP: true})
				m := t.NewMPConn()
				f := t.TB().NewFlow(0, l.Addr())
				m.attach(f, MPSubflow{})
				f.Send(Seg{Flags: SYN, Opts: mpSYNOpts(MPCSyn(MPCFlagH))})
				sa := f.Expect(Quick).Is(SYN | ACK)
				m.SetRemoteKey(sa.MPCIs(MPCFlagH, true, false).SenderKey)
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{m.MPCAck(MPCFlagH)}})
				d := Pattern(2, 4)
				f.Send(Seg{Flags: ACK | PSH, Seq: 1, Ack: 1, Data: d, Opts: []Opt{m.MPCData(MPCFlagH, d)}})
				f.ExpectDataAck(3, Quick)
				f.Send(Seg{Flags: RST | ACK, Seq: 3, Ack: 1, Opts: []Opt{DataAck(1)}})
				c := t.Accept(l).Result(Quick)
				if got := t.Read(c, 2, Quick); string(got) != string(d) {
					t.Errorf("read: data differs from what was sent")
				}
				c.SetWriteDeadline(time.Now().Add(Quick))
				switch n, err := c.Write(Pattern(100, 5)); {
				case n == 100 && err == nil:
					t.Variant("write accepted")
				case errors.Is(err, syscall.EPIPE):
					t.Variant("write fails with EPIPE (no subflow left)")
				default:
					t.Errorf("write on the accepted connection: %d, %v, want 100 bytes or EPIPE", n, err)
				}
			},
		},
		Scenario{
			Name:    "syscalls/close-right-after-connect",
			Summary: "closing an MPTCP connection before any DSS arrived sends a DATA_FIN (DSN 1, subflow sequence 0, length 1) with DATA_ACK 1; the peer's DATA_ACK 2 is accepted (packetdrill connect_close)",
			MPTCP:   true,
			Run: func(t *T) {
				_, f, c, _ := t.MPConnect(MPCFlagH)
				t.Close(c)
				f.Expect(Quick).Is(ACK).SeqIs(1).MappingIs(1, 0, 1).DataFINIs(true).DataAckIs(1)
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{DataAck(2)}})
				f.ExpectNone(100 * time.Millisecond)
			},
		},
		Scenario{
			Name:    "regressions/all-subflows-reset-then-close-timeout",
			Summary: "when every subflow is reset, the MPTCP connection is closed after the close timeout and a write fails with EPIPE (packetdrill regression close_mpj_timeout)",
			Note:    "Linux's net.mptcp.close_timeout (60 s by default) is set to 1 s here.",
			MPTCP:   true,
			Setup:   Setup{KernelSysctls: []string{"net.mptcp.close_timeout=1"}},
			Timeout: 30 * time.Second,
			Run: func(t *T) {
				m, f, c, _ := t.MPAccept(MPCFlagH)
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{DataAck(1)}})
				j, _ := m.JoinToDUT(1, f.Remote, 1, true)
				f.Send(Seg{Flags: RST, Seq: 1, NoTS: true})
				j.Send(Seg{Flags: RST, Seq: 1, NoTS: true})
				deadline := time.Now().Add(10 * time.Second)
				var err error
				for err == nil && time.Now().Before(deadline) {
					t.PauseUntil(time.Now().Add(100 * time.Millisecond))
					c.SetWriteDeadline(time.Now().Add(time.Second))
					_, err = c.Write([]byte{1})
				}
				if !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
					t.Errorf("write after every subflow was reset: got %v, want EPIPE (or ECONNRESET)", err)
				}
			},
		},
		Scenario{
			Name:    "sockopts/nagle",
			Summary: "TCP_NODELAY on an MPTCP socket reaches its subflow: with Nagle's algorithm on, a second small write waits for the first one's ACK; with TCP_NODELAY both leave at once (RFC 9293 §3.7.4; packetdrill sockopt_cork_nodelay)",
			MPTCP:   true,
			Run: func(t *T) {
				_, f, c, _ := t.MPAccept(MPCFlagH)
				nd, ok := c.(interface{ SetNoDelay(bool) error })
				if !ok {
					t.notYet(errors.New("no TCP_NODELAY control on this DUT's connections: " + ErrNotSupported.Error()))
				}
				t.must("TCP_NODELAY off", nd.SetNoDelay(false))
				t.Write(c, []byte{1})
				f.Expect(Quick).SeqIs(1).DataLen(1).MappingIs(1, 1, 1)
				t.Write(c, []byte{2})
				f.ExpectNone(150 * time.Millisecond)
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 2, Opts: []Opt{DataAck(2)}})
				f.Expect(Quick).SeqIs(2).DataLen(1).MappingIs(2, 2, 1)
				t.must("TCP_NODELAY on", nd.SetNoDelay(true))
				t.Write(c, []byte{3})
				t.Write(c, []byte{4})
				f.Expect(Quick).SeqIs(3).DataLen(1)
				f.Expect(Quick).SeqIs(4).DataLen(1)
			},
		},
		Scenario{
			Name:    "sockopts/tos",
			Summary: "a TOS (IPv6: traffic class) set on an MPTCP socket applies to its subflows' packets (packetdrill sockopt_set_ip_tos_valid_v4)",
			Note:    "Linux 6.18 refuses IPV6_TCLASS (and IP_TTL, IPV6_UNICAST_HOPS) on MPTCP sockets with EOPNOTSUPP, so the IPv6 row waits for a kernel that has it.",
			MPTCP:   true,
			Run: func(t *T) {
				d := t.Dial(0, t.TB().port(), SockOpts{MPTCP: true, TOS: 0x20})
				f, syn := t.TB().ExpectConnect(Quick)
				checkTOS(syn, 0x20)
				m := t.NewMPConn()
				m.attach(f, MPSubflow{})
				f.Send(Seg{Flags: SYN | ACK, Ack: 1, Opts: append(StdSYN(), m.MPCSynAck(MPCFlagH))})
				f.AutoTS = true
				f.Expect(Quick).Is(ACK)
				c := d.Result(Quick)
				t.Write(c, Pattern(10, 7))
				checkTOS(f.Expect(Quick).DataLen(10), 0x20)
			},
		},
		Scenario{
			Name:    "fastopen/server-cookie-request",
			Summary: "a SYN with MP_CAPABLE and a Fast Open cookie request to a Fast Open listener gets a SYN-ACK with both MP_CAPABLE and a cookie (RFC 7413 §4.1, RFC 8684 §3.1)",
			MPTCP:   true,
			Setup:   Setup{KernelSysctls: []string{"net.ipv4.tcp_fastopen=3"}},
			Run: func(t *T) {
				l := t.Listen(SockOpts{MPTCP: true, FastOpen: 8})
				f := t.TB().NewFlow(0, l.Addr())
				f.Send(Seg{Flags: SYN, Opts: mpSYNOpts(RawOpt(tfoKind, 2), MPCSyn(MPCFlagH))})
				sa := f.Expect(Quick).Is(SYN | ACK).AckIs(1)
				sa.MPCIs(MPCFlagH, true, false)
				if c := tfoCookie(sa); len(c) < 4 || len(c) > 16 {
					sa.errorf("Fast Open option", "cookie %x, want 4 to 16 bytes", c)
				}
			},
		},
		Scenario{
			Name:    "fastopen/server-data-in-syn",
			Summary: "with a valid cookie, data in an MP_CAPABLE SYN is accepted at once: the SYN-ACK acknowledges it and the application reads it, then the data mapped from DSN 1 and subflow sequence 1, the byte after the SYN's (RFC 7413 §4.2, RFC 8684 §3.1 and Appendix B)",
			MPTCP:   true,
			Setup:   Setup{KernelSysctls: []string{"net.ipv4.tcp_fastopen=3"}},
			Run: func(t *T) {
				l := t.Listen(SockOpts{MPTCP: true, FastOpen: 8})
				f := t.TB().NewFlow(0, l.Addr())
				f.Send(Seg{Flags: SYN, Opts: mpSYNOpts(RawOpt(tfoKind, 2), MPCSyn(MPCFlagH))})
				cookie := tfoCookie(f.Expect(Quick).Is(SYN | ACK))
				f.Send(Seg{Flags: RST, Seq: 1})
				acc := t.Accept(l)
				g := t.TB().NewFlow(0, l.Addr())
				d := Pattern(10, 8)
				g.Send(Seg{Flags: SYN, Data: d, Opts: mpSYNOpts(RawOpt(append([]byte{tfoKind, byte(2 + len(cookie))}, cookie...)...), MPCSyn(MPCFlagH))})
				sa := g.Expect(Quick).Is(SYN | ACK).AckIs(11)
				m := t.NewMPConn()
				m.attach(g, MPSubflow{})
				m.SetRemoteKey(sa.MPCIs(MPCFlagH, true, false).SenderKey)
				g.Send(Seg{Flags: ACK, Seq: 11, Ack: 1, Opts: []Opt{m.MPCAck(MPCFlagH)}})
				c := acc.Result(Quick)
				if got := t.Read(c, 10, Quick); string(got) != string(d) {
					t.Errorf("read: data differs from what was sent")
				}
				// The SYN's data is outside the data sequence space: the
				// first mapped byte is DSN 1, and subflow sequence 1 is the
				// byte after the SYN's data (Linux's ssn_offset).
				d2 := Pattern(20, 9)
				g.Send(Seg{Flags: ACK | PSH, Seq: 11, Ack: 1, Data: d2, Opts: []Opt{Mapping(1, 1, 1, d2)}})
				g.ExpectDataAck(21, Quick)
				if got := t.Read(c, 20, Quick); string(got) != string(d2) {
					t.Errorf("read after the SYN's data: data differs from what was sent")
				}
			},
		},
		Scenario{
			Name:    "splice/echo-loop",
			Summary: "an application that copies the connection's input to its output (splice(2) on Linux, io.Copy) sends the data back mapped like any other, and ends with a DATA_FIN after the peer's (packetdrill mptcp_splice_loop_test)",
			MPTCP:   true,
			Run: func(t *T) {
				_, f, c, _ := t.MPAccept(MPCFlagH)
				echo := Start(t, "copy the connection to itself", func(context.Context) (int64, error) {
					n, err := io.Copy(c, c)
					if err == nil {
						err = c.CloseWrite()
					}
					return n, err
				})
				d := Pattern(1000, 9)
				f.Send(Seg{Flags: ACK | PSH, Seq: 1, Ack: 1, Data: d, Opts: []Opt{Mapping(1, 1, 1, d)}})
				back := f.ExpectUntil(Quick, func(g *Got) bool { return len(g.Data) > 0 })
				got := back[len(back)-1]
				for got.RelSeq()+uint32(len(got.Data)) < 1001 {
					g := f.Expect(Quick)
					got.Data = append(got.Data, g.Data...)
				}
				if string(got.Data) != string(d) {
					t.Errorf("echo: %d bytes differ from the 1000 sent", len(got.Data))
				}
				back[len(back)-1].MappingIs(1, 1, back[len(back)-1].DSS().DataLen)
				f.Send(Seg{Flags: ACK, Seq: 1001, Ack: 1001, Opts: []Opt{DataFIN(1001, 1001)}})
				if n, err := echo.Wait(Quick); n != 1000 || err != nil {
					t.Errorf("copy: %d bytes, %v, want 1000 and EOF", n, err)
				}
				f.ExpectUntil(Quick, func(g *Got) bool { return g.DSS().DataFIN() })
			},
		},
	)
}

// tfoKind is the TCP Fast Open option kind (RFC 7413 §4.1.1).
const tfoKind = 34

// tfoCookie returns the Fast Open cookie of a segment, or nil.
func tfoCookie(g *Got) []byte {
	it := header.NewTCPOptionIterator(g.RawOpts)
	for it.Next() {
		if it.Kind() == tfoKind {
			return append([]byte(nil), it.Data()...)
		}
	}
	return nil
}

func checkTTL(g *Got, ttl uint8) {
	if g.TTL != ttl {
		g.errorf("TTL", "got %d, want %d", g.TTL, ttl)
	}
}

func checkTOS(g *Got, tos uint8) {
	if g.TOS&^0x03 != tos {
		g.errorf("TOS", "got 0x%02x (ECN bits aside), want 0x%02x", g.TOS, tos)
	}
}

var _ = option.SubtypeDSS
