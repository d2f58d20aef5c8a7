//go:build linux

package lab

import (
	"encoding/binary"
	"testing"
)

// FuzzMPTCPDiag: the parsers of the kernel's netlink replies (an
// inet_diag_msg with struct mptcp_info, a path manager endpoint) take any
// bytes without panicking.
func FuzzMPTCPDiag(f *testing.F) {
	msg := make([]byte, inetDiagMsgLen)
	msg[0], msg[1] = 2, 1
	info := make([]byte, 80)
	info[0] = 1
	msg = appendAttr(msg, inetDiagInfo, info)
	f.Add(msg)
	var ep []byte
	var id [4]byte
	binary.NativeEndian.PutUint32(id[:], 2)
	nested := appendAttr(appendAttr(appendAttr(nil, mptcpPMAddrID, []byte{2}), mptcpPMAddrAddr4, []byte{198, 18, 2, 1}), mptcpPMAddrFlags, id[:])
	ep = appendAttr(ep, mptcpPMAttrAddr, nested)
	f.Add(ep)
	f.Add([]byte{4, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, ok := parseDiagMsg(b); ok && len(b) < inetDiagMsgLen {
			t.Fatalf("accepted %d bytes: %+v", len(b), s)
		}
		e, _ := parseEndpoint(b)
		if e.Flags == nil {
			t.Fatal("flags nil")
		}
	})
}
