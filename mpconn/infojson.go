package mpconn

import (
	"encoding/json"
	"fmt"

	"github.com/mptcp-go/mptcp/tcp"
)

// ConnInfoJSON is the JSON form of ConnInfo, in the manner of `ss -Mi`
// for scripts: snake_case names, 64-bit keys and data sequence numbers as
// hex strings (JSON numbers lose precision past 2^53), tokens as 8 hex
// digits, addresses as "ADDR:PORT". ConnInfo marshals to it; decode into
// ConnInfoJSON to read it back.
type ConnInfoJSON struct {
	State             string            `json:"state"`
	Fallback          bool              `json:"fallback"`
	Checksum          bool              `json:"checksum"`
	LocalKey          string            `json:"local_key"`
	RemoteKey         string            `json:"remote_key"`
	LocalToken        string            `json:"local_token"`
	RemoteToken       string            `json:"remote_token"`
	SndUna            string            `json:"snd_una"`
	SndNxt            string            `json:"snd_nxt"`
	RcvNxt            string            `json:"rcv_nxt"`
	BytesSent         uint64            `json:"bytes_sent"`
	BytesAcked        uint64            `json:"bytes_acked"`
	BytesReceived     uint64            `json:"bytes_received"`
	BytesRetrans      uint64            `json:"bytes_retrans"`
	SubflowsClosed    int               `json:"subflows_closed"`
	AddAddrSent       int               `json:"add_addr_sent"`
	AddAddrReceived   int               `json:"add_addr_received"`
	SendBuffered      int               `json:"send_buffered"`
	ReceiveBuffered   int               `json:"receive_buffered"`
	ReceiveWindowEdge string            `json:"receive_window_edge"`
	Mode              string            `json:"mode"`
	BytesRedundant    uint64            `json:"bytes_redundant"`
	BytesOpportunist  uint64            `json:"bytes_opportunistic"`
	Penalized         int               `json:"penalized"`
	Subflows          []SubflowInfoJSON `json:"subflows"`
	Closed            []SubflowInfoJSON `json:"closed_subflows"`
}

// SubflowInfoJSON is the JSON form of SubflowInfo.
type SubflowInfoJSON struct {
	ID         int          `json:"id"`
	Local      string       `json:"local"`
	Remote     string       `json:"remote"`
	Join       bool         `json:"join"`
	Backup     bool         `json:"backup"`
	PeerBackup bool         `json:"peer_backup"`
	LocalID    uint8        `json:"local_id"`
	RemoteID   uint8        `json:"remote_id"`
	Fully      bool         `json:"fully_established"`
	Stale      bool         `json:"stale"`
	DataSent   uint64       `json:"data_sent"`
	DataRecv   uint64       `json:"data_received"`
	TCP        tcp.InfoJSON `json:"tcp"`
}

func hex64(v uint64) string { return fmt.Sprintf("%016x", v) }

// JSON returns the JSON form of the snapshot.
func (in *ConnInfo) JSON() ConnInfoJSON {
	j := ConnInfoJSON{State: in.State, Fallback: in.Fallback, Checksum: in.Checksum,
		LocalKey: hex64(in.LocalKey), RemoteKey: hex64(in.RemoteKey),
		LocalToken: fmt.Sprintf("%08x", in.LocalToken), RemoteToken: fmt.Sprintf("%08x", in.RemoteToken),
		SndUna: hex64(in.SndUna), SndNxt: hex64(in.SndNxt), RcvNxt: hex64(in.RcvNxt),
		BytesSent: in.BytesSent, BytesAcked: in.BytesAcked, BytesReceived: in.BytesReceived,
		BytesRetrans: in.BytesRetrans, SubflowsClosed: in.SubflowsClosed, AddAddrSent: in.AddAddrSent,
		AddAddrReceived: in.AddAddrReceived, SendBuffered: in.SendBuffered, ReceiveBuffered: in.ReceiveBuffered,
		ReceiveWindowEdge: hex64(in.ReceiveWindowEdge), Mode: in.Mode, BytesRedundant: in.BytesRedundant,
		BytesOpportunist: in.BytesOpportunistic, Penalized: in.Penalized,
		Subflows: make([]SubflowInfoJSON, 0, len(in.Subflows)), Closed: make([]SubflowInfoJSON, 0, len(in.Closed))}
	for i := range in.Subflows {
		j.Subflows = append(j.Subflows, in.Subflows[i].JSON())
	}
	for i := range in.Closed {
		j.Closed = append(j.Closed, in.Closed[i].JSON())
	}
	return j
}

// MarshalJSON encodes the snapshot as ConnInfoJSON.
func (in ConnInfo) MarshalJSON() ([]byte, error) { return json.Marshal(in.JSON()) }

// JSON returns the JSON form of the subflow's snapshot.
func (s *SubflowInfo) JSON() SubflowInfoJSON {
	return SubflowInfoJSON{ID: s.ID, Local: s.Local.String(), Remote: s.Remote.String(), Join: s.Join,
		Backup: s.Backup, PeerBackup: s.PeerBackup, LocalID: s.LocalID, RemoteID: s.RemoteID, Fully: s.Fully,
		Stale: s.Stale, DataSent: s.DataSent, DataRecv: s.DataRecv, TCP: s.TCP.JSON()}
}

// MarshalJSON encodes the snapshot as SubflowInfoJSON.
func (s SubflowInfo) MarshalJSON() ([]byte, error) { return json.Marshal(s.JSON()) }
