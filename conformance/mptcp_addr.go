package conformance

import (
	"time"

	"github.com/mptcp-go/mptcp/option"
)

// ADD_ADDR and REMOVE_ADDR scenarios (RFC 8684 §3.4): announcements sent
// with their HMAC and echoed, retransmitted until echoed, received with or
// without a port or a valid HMAC, and withdrawn.

// signalEndpoint is a DUT whose second address is announced.
var signalEndpoint = Setup{Endpoints: []Endpoint{{Addr: 1, ID: 10, Signal: true}}}

func init() {
	register(
		Scenario{
			Name:    "add_addr/dut-announces",
			Summary: "a DUT with a second address to announce sends ADD_ADDR (its id, the address, the HMAC of both keys over id, address and port) once the connection is fully established; the echo ends the announcement: no retransmission (RFC 8684 §3.4.1)",
			MPTCP:   true,
			Setup:   signalEndpoint,
			Run: func(t *T) {
				_, f, _, _ := t.MPAccept(MPCFlagH)
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{DataAck(1)}})
				dut1 := t.Topology().DUT[1]
				a := f.Expect(Quick).Is(ACK).SeqIs(1).DataLen(0).AddAddrIs(10, dut1, 0)
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{AddAddrEcho(a.AddrID, dut1, 0), DataAck(1)}})
				f.ExpectNone(1500 * time.Millisecond)
			},
		},
		Scenario{
			Name:    "add_addr/dut-retransmits-until-echoed",
			Summary: "an ADD_ADDR that is not echoed is sent again after the retransmission timeout, with the same id, address and HMAC (RFC 8684 §3.4.1: the echo acknowledges it)",
			Note:    "The timeout is the implementation's: Linux's net.mptcp.add_addr_timeout (120 s by default, 1 s in this scenario), which recent kernels shorten to the subflow's RTO. The scenario accepts 100 ms to 3 s.",
			MPTCP:   true,
			Setup:   Setup{Endpoints: signalEndpoint.Endpoints, AddAddrTimeout: 1},
			Timeout: 30 * time.Second,
			Run: func(t *T) {
				_, f, _, _ := t.MPAccept(MPCFlagH)
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{DataAck(1)}})
				dut1 := t.Topology().DUT[1]
				first := f.Expect(Quick)
				first.AddAddrIs(10, dut1, 0)
				again := f.Expect(5 * time.Second)
				again.AddAddrIs(10, dut1, 0)
				again.After(first, 100*time.Millisecond, 3*time.Second)
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{AddAddrEcho(10, dut1, 0), DataAck(1)}})
				f.ExpectNone(1500 * time.Millisecond)
			},
		},
		Scenario{
			Name:    "add_addr/echo-of-peer-announcement",
			Summary: "the peer's ADD_ADDR with a valid HMAC is echoed: same id and address, E flag, no HMAC (RFC 8684 §3.4.1)",
			MPTCP:   true,
			Setup:   Setup{Limits: &Limits{Subflows: 0, AddAddrAccepted: 2}},
			Run: func(t *T) {
				m, f, _, _ := t.MPAccept(MPCFlagH)
				tb1 := t.Topology().TB[1]
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{m.AddAddr(3, tb1, 0), DataAck(1)}})
				f.Expect(Quick).Is(ACK).SeqIs(1).DataLen(0).AddAddrEchoIs(3, tb1, 0)
			},
		},
		Scenario{
			Name:    "add_addr/echo-with-port",
			Summary: "the peer's ADD_ADDR with a port is echoed with the port, and the DUT's join goes to that address and port (RFC 8684 §3.4.1)",
			MPTCP:   true,
			Setup:   Setup{Limits: &Limits{Subflows: 2, AddAddrAccepted: 2}},
			Run: func(t *T) {
				m, f, _, _ := t.MPConnect(MPCFlagH)
				tb1 := t.Topology().TB[1]
				// IPv6 with port and HMAC leaves no room for timestamps.
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, NoTS: true, Opts: []Opt{m.AddAddr(12, tb1, 4321)}})
				j, syn := m.ExpectJoin(Quick)
				if j.Local.Addr() != tb1 || j.Local.Port() != 4321 {
					syn.errorf("join", "to %v, want %v port 4321", j.Local, tb1)
				}
				f.Expect(Quick).Is(ACK).AddAddrEchoIs(12, tb1, 4321)
			},
		},
		Scenario{
			Name:    "add_addr/bad-hmac-ignored",
			Summary: "an ADD_ADDR whose HMAC does not verify is dropped: no echo and no join to the address (RFC 8684 §3.4.1)",
			MPTCP:   true,
			Setup:   Setup{Limits: &Limits{Subflows: 2, AddAddrAccepted: 2}},
			Run: func(t *T) {
				m, f, _, _ := t.MPConnect(MPCFlagH)
				tb1 := t.Topology().TB[1]
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{MP(&option.AddAddr{Version: option.V1, AddrID: 1, Addr: tb1,
					HasHMAC: true, HMAC: 0x0102030405060708})}})
				for _, g := range t.TB().drain(500 * time.Millisecond) {
					t.Errorf("segment after an ADD_ADDR with a bad HMAC: %s", g.describe(nil))
				}
				_ = m
			},
		},
		Scenario{
			Name:    "remove_addr/dut-withdraws",
			Summary: "withdrawing the DUT's announced address sends REMOVE_ADDR with its id (RFC 8684 §3.4.2)",
			MPTCP:   true,
			Setup:   signalEndpoint,
			Run: func(t *T) {
				_, f, _, _ := t.MPAccept(MPCFlagH)
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{DataAck(1)}})
				dut1 := t.Topology().DUT[1]
				f.Expect(Quick).AddAddrIs(10, dut1, 0)
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{AddAddrEcho(10, dut1, 0), DataAck(1)}})
				t.must("remove endpoint", t.PathManager().RemoveEndpoint(t.Context(), 1))
				g := f.Expect(Quick).Is(ACK).DataLen(0)
				if ids := g.MPTCP(option.SubtypeRemoveAddr).RemoveAddr.IDs(); len(ids) != 1 || ids[0] != 10 {
					g.errorf("REMOVE_ADDR", "ids %v, want [10]", ids)
				}
			},
		},
		Scenario{
			Name:    "remove_addr/peer-removes-joined-address",
			Summary: "the peer's REMOVE_ADDR for the address of a joined subflow makes the DUT close that subflow; the connection goes on over the first (RFC 8684 §3.4.2)",
			Note:    "RFC 8684 §3.4.2 lets the receiver close the subflow with RST or FIN; Linux closes it with FIN.",
			MPTCP:   true,
			Run: func(t *T) {
				m, f, c, _ := t.MPAccept(MPCFlagH)
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{DataAck(1)}})
				j, _ := m.JoinToDUT(1, f.Remote, 5, false)
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{RemoveAddr(5), DataAck(1)}})
				gs := j.ExpectUntil(Quick, func(g *Got) bool { return g.Flags&(RST|FIN) != 0 })
				g := gs[len(gs)-1]
				switch {
				case g.Flags.Has(RST):
					t.Variant("subflow reset")
				case g.Flags.Has(FIN):
					t.Variant("subflow closed with FIN")
				default:
					g.errorf("flags", "got %s, want RST or FIN on the removed subflow", flagString(g.Flags))
				}
				t.Write(c, Pattern(100, 1))
				f.ExpectUntil(Quick, func(g *Got) bool { return len(g.Data) > 0 })[0].SeqIs(1)
			},
		},
		Scenario{
			Name:    "remove_addr/peer-removes-announced-address",
			Summary: "connect: the peer announces an address and withdraws it (REMOVE_ADDR with its id); nothing breaks: the DUT's close sends its DATA_FIN as usual (RFC 8684 §3.4.2)",
			MPTCP:   true,
			Run: func(t *T) {
				m, f, c, _ := t.MPConnect(MPCFlagH)
				tb1 := t.Topology().TB[1]
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{m.AddAddr(1, tb1, 0)}})
				f.Expect(Quick).AddAddrEchoIs(1, tb1, 0)
				f.Send(Seg{Flags: ACK, Seq: 1, Ack: 1, Opts: []Opt{RemoveAddr(1), DataAck(1)}})
				f.ExpectNone(200 * time.Millisecond)
				t.Close(c)
				f.Expect(Quick).MappingIs(1, 0, 1).DataFINIs(true)
			},
		},
	)
}

// drain takes every segment from the DUT for d and returns them.
func (tb *Testbench) drain(d time.Duration) []*Got {
	var out []*Got
	deadline := time.Now().Add(d)
	for {
		g := tb.take(func(*Got) bool { return true }, time.Until(deadline))
		if g == nil {
			return out
		}
		out = append(out, g)
	}
}
