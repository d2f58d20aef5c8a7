//go:build linux

package lab

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"syscall"

	"golang.org/x/sys/unix"
)

// MPTCPState is what the kernel of one namespace says about MPTCP, read
// through netlink as structured data: the MPTCP sockets (sock_diag with
// mptcp_diag: one per MPTCP connection or listener, whatever its number of
// subflows), and the in-kernel path manager's endpoints and limits (the
// mptcp_pm generic netlink family, what 'ip mptcp' shows).
type MPTCPState struct {
	Sockets   []MPTCPSocket   `json:"sockets"`
	Endpoints []MPTCPEndpoint `json:"endpoints"`
	Limits    MPTCPLimits     `json:"limits"`
}

// Connections counts the sockets that are connections (not listeners).
func (s *MPTCPState) Connections() int {
	n := 0
	for _, x := range s.Sockets {
		if x.State != "LISTEN" {
			n++
		}
	}
	return n
}

// MPTCPSocket is one MPTCP socket (struct mptcp_info, linux/mptcp.h).
type MPTCPSocket struct {
	Local  netip.AddrPort `json:"local"`
	Remote netip.AddrPort `json:"remote"`
	State  string         `json:"state"`
	Inode  uint32         `json:"inode"`
	// Token is the connection's local token (hex); Subflows the subflows
	// besides the initial one, as the kernel counts them.
	Token           string `json:"token"`
	Subflows        int    `json:"subflows"`
	AddAddrSignal   int    `json:"add_addr_signal"`
	AddAddrAccepted int    `json:"add_addr_accepted"`
	SubflowsMax     int    `json:"subflows_max"`
	Checksums       bool   `json:"checksums"`
	Retransmits     uint32 `json:"retransmits"`
	BytesSent       uint64 `json:"bytes_sent"`
	BytesReceived   uint64 `json:"bytes_received"`
	BytesAcked      uint64 `json:"bytes_acked"`
	BytesRetrans    uint64 `json:"bytes_retrans"`
}

// MPTCPEndpoint is one path manager endpoint ('ip mptcp endpoint').
type MPTCPEndpoint struct {
	ID        uint8      `json:"id"`
	Addr      netip.Addr `json:"addr"`
	Port      uint16     `json:"port,omitempty"`
	Flags     []string   `json:"flags"`
	Interface string     `json:"interface,omitempty"`
}

// MPTCPLimits are the path manager's limits ('ip mptcp limits').
type MPTCPLimits struct {
	Subflows        uint32 `json:"subflows"`
	AddAddrAccepted uint32 `json:"add_addr_accepted"`
}

// MPTCPState reads a side's MPTCP state in its namespace.
func (l *Lab) MPTCPState(side Side) (*MPTCPState, error) {
	var st *MPTCPState
	err := l.Do(side, func() error {
		var err error
		st, err = ReadMPTCPState()
		return err
	})
	return st, err
}

// ReadMPTCPState reads the calling thread's namespace's MPTCP state.
func ReadMPTCPState() (*MPTCPState, error) {
	st := &MPTCPState{Sockets: []MPTCPSocket{}, Endpoints: []MPTCPEndpoint{}}
	for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
		socks, err := mptcpSockets(fam)
		if err != nil {
			return nil, err
		}
		st.Sockets = append(st.Sockets, socks...)
	}
	var err error
	if st.Endpoints, st.Limits, err = pmState(); err != nil {
		return nil, err
	}
	return st, nil
}

// Netlink constants not in x/sys/unix.
const (
	ipprotoMPTCP        = 262 // IPPROTO_MPTCP
	inetDiagReqProtocol = 3   // INET_DIAG_REQ_PROTOCOL: the protocol beyond sdiag_protocol's 8 bits
	inetDiagInfo        = 2   // INET_DIAG_INFO: struct mptcp_info for an MPTCP socket
	inetDiagMsgLen      = 72  // struct inet_diag_msg

	mptcpPMCmdGetAddr   = 3 // MPTCP_PM_CMD_GET_ADDR
	mptcpPMCmdGetLimits = 6 // MPTCP_PM_CMD_GET_LIMITS
	mptcpPMAttrAddr     = 1 // MPTCP_PM_ATTR_ADDR (nested)
	mptcpPMAttrRcvAdd   = 2 // MPTCP_PM_ATTR_RCV_ADD_ADDRS
	mptcpPMAttrSubflows = 3 // MPTCP_PM_ATTR_SUBFLOWS
	mptcpPMAddrID       = 2
	mptcpPMAddrAddr4    = 3
	mptcpPMAddrAddr6    = 4
	mptcpPMAddrPort     = 5
	mptcpPMAddrFlags    = 6
	mptcpPMAddrIfIdx    = 7
)

// tcpStates names the TCP states of inet_diag_msg.idiag_state.
var tcpStates = [...]string{"", "ESTAB", "SYN-SENT", "SYN-RECV", "FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT", "CLOSE",
	"CLOSE-WAIT", "LAST-ACK", "LISTEN", "CLOSING"}

// netlinkDo sends one request on a new socket of the given protocol and
// returns the payloads of the replies (every message of a dump).
func netlinkDo(proto int, typ uint16, flags uint16, body []byte) ([][]byte, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("netlink bind: %w", err)
	}
	msg := make([]byte, unix.NLMSG_HDRLEN, unix.NLMSG_HDRLEN+len(body))
	msg = append(msg, body...)
	binary.NativeEndian.PutUint32(msg[0:], uint32(len(msg)))
	binary.NativeEndian.PutUint16(msg[4:], typ)
	binary.NativeEndian.PutUint16(msg[6:], flags|unix.NLM_F_REQUEST)
	binary.NativeEndian.PutUint32(msg[8:], 1)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("netlink send: %w", err)
	}
	var out [][]byte
	buf := make([]byte, 64<<10)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return nil, fmt.Errorf("netlink receive: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return nil, fmt.Errorf("netlink parse: %w", err)
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				return out, nil
			case unix.NLMSG_ERROR:
				if len(m.Data) >= 4 {
					if e := int32(binary.NativeEndian.Uint32(m.Data)); e != 0 {
						return nil, unix.Errno(-e)
					}
				}
				return out, nil // an ACK
			}
			out = append(out, slices.Clone(m.Data))
			if m.Header.Flags&unix.NLM_F_MULTI == 0 {
				return out, nil
			}
		}
	}
}

// attrs splits netlink attributes.
func attrs(b []byte) map[uint16][]byte {
	out := map[uint16][]byte{}
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b))
		if l < 4 || l > len(b) {
			break
		}
		out[binary.NativeEndian.Uint16(b[2:])&0x3fff] = b[4:l]
		b = b[min(len(b), (l+3)&^3):]
	}
	return out
}

func appendAttr(b []byte, typ uint16, v []byte) []byte {
	l := 4 + len(v)
	b = binary.NativeEndian.AppendUint16(b, uint16(l))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// mptcpSockets dumps the MPTCP sockets of one address family.
func mptcpSockets(fam uint8) ([]MPTCPSocket, error) {
	// struct inet_diag_req_v2: family, protocol (the real one goes in
	// INET_DIAG_REQ_PROTOCOL), ext (the INET_DIAG_INFO bit), pad, states,
	// then an inet_diag_sockid with the "no cookie" marker.
	req := make([]byte, 56)
	req[0], req[1], req[2] = fam, unix.IPPROTO_TCP, 1<<(inetDiagInfo-1)
	binary.NativeEndian.PutUint32(req[4:], 0xffffffff) // every state
	binary.NativeEndian.PutUint32(req[48:], 0xffffffff)
	binary.NativeEndian.PutUint32(req[52:], 0xffffffff)
	var p [4]byte
	binary.NativeEndian.PutUint32(p[:], ipprotoMPTCP)
	req = appendAttr(req, inetDiagReqProtocol, p[:])
	msgs, err := netlinkDo(unix.NETLINK_INET_DIAG, 20 /* SOCK_DIAG_BY_FAMILY */, unix.NLM_F_DUMP, req)
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP) {
			return nil, fmt.Errorf("sock_diag for MPTCP (module mptcp_diag): %w", err)
		}
		return nil, fmt.Errorf("sock_diag: %w", err)
	}
	var out []MPTCPSocket
	for _, m := range msgs {
		if s, ok := parseDiagMsg(m); ok {
			out = append(out, s)
		}
	}
	return out, nil
}

// parseDiagMsg decodes one inet_diag_msg with its INET_DIAG_INFO
// attribute (struct mptcp_info, shorter from older kernels). Safe on any
// input: ok is false when the message is too short.
func parseDiagMsg(m []byte) (s MPTCPSocket, ok bool) {
	if len(m) < inetDiagMsgLen {
		return s, false
	}
	s.Inode = binary.NativeEndian.Uint32(m[68:])
	if int(m[1]) < len(tcpStates) {
		s.State = tcpStates[m[1]]
	}
	sport, dport := binary.BigEndian.Uint16(m[4:]), binary.BigEndian.Uint16(m[6:])
	if m[0] == unix.AF_INET {
		s.Local = netip.AddrPortFrom(netip.AddrFrom4([4]byte(m[8:12])), sport)
		s.Remote = netip.AddrPortFrom(netip.AddrFrom4([4]byte(m[24:28])), dport)
	} else {
		s.Local = netip.AddrPortFrom(netip.AddrFrom16([16]byte(m[8:24])), sport)
		s.Remote = netip.AddrPortFrom(netip.AddrFrom16([16]byte(m[24:40])), dport)
	}
	if info := attrs(m[inetDiagMsgLen:])[inetDiagInfo]; len(info) >= 16 {
		// struct mptcp_info: six u8 counters, flags, token, then the
		// sequence numbers and (newer kernels) byte counters.
		s.Subflows, s.AddAddrSignal, s.AddAddrAccepted, s.SubflowsMax = int(info[0]), int(info[1]), int(info[2]), int(info[3])
		s.Token = fmt.Sprintf("%08x", binary.NativeEndian.Uint32(info[12:]))
		if len(info) >= 48 {
			s.Checksums = info[42] != 0
			s.Retransmits = binary.NativeEndian.Uint32(info[44:])
		}
		if len(info) >= 80 {
			s.BytesRetrans = binary.NativeEndian.Uint64(info[48:])
			s.BytesSent = binary.NativeEndian.Uint64(info[56:])
			s.BytesReceived = binary.NativeEndian.Uint64(info[64:])
			s.BytesAcked = binary.NativeEndian.Uint64(info[72:])
		}
	}
	return s, true
}

// parseEndpoint decodes the attributes of one MPTCP_PM_CMD_GET_ADDR reply
// (after the genetlink header) and returns the interface index apart.
// Safe on any input.
func parseEndpoint(b []byte) (ep MPTCPEndpoint, ifidx int) {
	flagNames := []string{"signal", "subflow", "backup", "fullmesh", "implicit", "laminar"}
	a := attrs(attrs(b)[mptcpPMAttrAddr])
	if v := a[mptcpPMAddrID]; len(v) >= 1 {
		ep.ID = v[0]
	}
	if v := a[mptcpPMAddrAddr4]; len(v) == 4 {
		ep.Addr = netip.AddrFrom4([4]byte(v))
	}
	if v := a[mptcpPMAddrAddr6]; len(v) == 16 {
		ep.Addr = netip.AddrFrom16([16]byte(v))
	}
	if v := a[mptcpPMAddrPort]; len(v) >= 2 {
		ep.Port = binary.NativeEndian.Uint16(v)
	}
	ep.Flags = []string{}
	if v := a[mptcpPMAddrFlags]; len(v) >= 4 {
		f := binary.NativeEndian.Uint32(v)
		for i, n := range flagNames {
			if f&(1<<i) != 0 {
				ep.Flags = append(ep.Flags, n)
			}
		}
	}
	if v := a[mptcpPMAddrIfIdx]; len(v) >= 4 {
		ifidx = int(int32(binary.NativeEndian.Uint32(v)))
	}
	return ep, ifidx
}

// genlFamily resolves a generic netlink family's ID.
func genlFamily(name string) (uint16, error) {
	body := []byte{3 /* CTRL_CMD_GETFAMILY */, 1, 0, 0}
	body = appendAttr(body, 2 /* CTRL_ATTR_FAMILY_NAME */, append([]byte(name), 0))
	msgs, err := netlinkDo(unix.NETLINK_GENERIC, unix.GENL_ID_CTRL, 0, body)
	if err != nil {
		return 0, fmt.Errorf("generic netlink family %s: %w", name, err)
	}
	for _, m := range msgs {
		if len(m) < 4 {
			continue
		}
		if id := attrs(m[4:])[1 /* CTRL_ATTR_FAMILY_ID */]; len(id) >= 2 {
			return binary.NativeEndian.Uint16(id), nil
		}
	}
	return 0, fmt.Errorf("generic netlink family %s: no ID in the reply", name)
}

// pmState reads the in-kernel path manager's endpoints and limits.
func pmState() ([]MPTCPEndpoint, MPTCPLimits, error) {
	var lim MPTCPLimits
	eps := []MPTCPEndpoint{}
	fam, err := genlFamily("mptcp_pm")
	if err != nil {
		return eps, lim, err
	}
	msgs, err := netlinkDo(unix.NETLINK_GENERIC, fam, unix.NLM_F_DUMP, []byte{mptcpPMCmdGetAddr, 1, 0, 0})
	if err != nil {
		return eps, lim, fmt.Errorf("mptcp_pm endpoints: %w", err)
	}
	for _, m := range msgs {
		if len(m) < 4 {
			continue
		}
		ep, ifidx := parseEndpoint(m[4:])
		if ifidx > 0 {
			if ifc, err := net.InterfaceByIndex(ifidx); err == nil {
				ep.Interface = ifc.Name
			}
		}
		eps = append(eps, ep)
	}
	slices.SortFunc(eps, func(x, y MPTCPEndpoint) int { return int(x.ID) - int(y.ID) })
	msgs, err = netlinkDo(unix.NETLINK_GENERIC, fam, 0, []byte{mptcpPMCmdGetLimits, 1, 0, 0})
	if err != nil {
		return eps, lim, fmt.Errorf("mptcp_pm limits: %w", err)
	}
	for _, m := range msgs {
		if len(m) < 4 {
			continue
		}
		a := attrs(m[4:])
		if v := a[mptcpPMAttrSubflows]; len(v) >= 4 {
			lim.Subflows = binary.NativeEndian.Uint32(v)
		}
		if v := a[mptcpPMAttrRcvAdd]; len(v) >= 4 {
			lim.AddAddrAccepted = binary.NativeEndian.Uint32(v)
		}
	}
	return eps, lim, nil
}
