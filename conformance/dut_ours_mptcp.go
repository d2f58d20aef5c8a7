package conformance

import (
	"context"
	"net/netip"

	"github.com/mptcp-go/mptcp/stack"
)

// mptcpLayer is what the MPTCP rows need from our MPTCP layer on the DUT's
// stack: MPTCP listeners and connections. The DUT adapter may also
// implement PathManager (Setup.Endpoints withdrawn or marked backup at run
// time).
type mptcpLayer interface {
	Listen(ctx context.Context, laddr netip.AddrPort) (Listener, error)
	Dial(ctx context.Context, raddr netip.AddrPort) (Conn, error)
}

// oursMPTCP returns our MPTCP layer on st configured for the run, or nil
// while there is none: our stack's MPTCP rows are then "not yet".
//
// When the root package lands, this function is the whole change:
//
//	h := mptcp.NewHost(st, mptcp.Config{Checksum: cfg.Setup.MPTCPChecksum,
//		// Setup.Limits, Setup.Endpoints (with cfg.Topology.DUT addresses)
//		// and Setup.AddAddrTimeout map to the host's path manager.
//	})
//	return hostAdapter{h} // Listen: h.Listen; Dial: h.Dial; Conn: *mptcp.Conn
//
// with a small adapter giving *mptcp.Conn the Conn interface (Abort may
// return ErrNotSupported until the layer has an abortive close).
func oursMPTCP(st *stack.Stack, cfg DUTConfig) mptcpLayer { return nil }
