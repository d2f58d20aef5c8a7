package tcp

import (
	"encoding/json"
	"time"
)

// InfoJSON is the JSON form of Info, for tools and scripts: snake_case
// names in the manner of Linux's tcp_info as `ss -i` prints it, times in
// milliseconds, rates in bytes per second. Info marshals to it
// (Info.MarshalJSON); decode into InfoJSON to read it back.
type InfoJSON struct {
	State         string       `json:"state"`
	CC            string       `json:"cc"`
	MSS           int          `json:"mss"`
	Cwnd          int          `json:"cwnd"`
	Ssthresh      int          `json:"ssthresh"`
	SndWnd        int          `json:"snd_wnd"`
	RcvWnd        int          `json:"rcv_wnd"`
	SRTTms        float64      `json:"srtt_ms"`
	RTTVarms      float64      `json:"rttvar_ms"`
	MinRTTms      float64      `json:"min_rtt_ms"`
	RTOms         float64      `json:"rto_ms"`
	InFlight      int          `json:"in_flight"`
	SACK          bool         `json:"sack"`
	Timestamps    bool         `json:"timestamps"`
	ECN           bool         `json:"ecn"`
	SndWScale     uint8        `json:"snd_wscale"`
	RcvWScale     uint8        `json:"rcv_wscale"`
	PacingRate    float64      `json:"pacing_rate,omitempty"` // bytes/s
	Delivered     int64        `json:"delivered"`
	SegsOut       uint64       `json:"segs_out"`
	SegsIn        uint64       `json:"segs_in"`
	WireBytesSent uint64       `json:"wire_bytes_sent"` // payload put on the wire, retransmissions included
	BytesAcked    uint64       `json:"bytes_acked"`
	WireBytesRecv uint64       `json:"wire_bytes_received"`
	RetransSegs   uint64       `json:"retrans_segs"`
	FastRetrans   uint64       `json:"fast_retrans"`
	Timeouts      uint64       `json:"timeouts"`
	TLPProbes     uint64       `json:"tlp_probes"`
	Recoveries    uint64       `json:"recoveries"`
	OutOfOrder    uint64       `json:"ooo_segs"`
	DupSegs       uint64       `json:"dup_segs"`
	DSACKs        uint64       `json:"dsacks"`
	SpuriousUndos uint64       `json:"spurious_undos"`
	ZeroWinProbes uint64       `json:"zero_window_probes"`
	ECNReductions uint64       `json:"ecn_reductions"`
	OptOverflows  uint64       `json:"option_overflows"`
	BBR           *BBRInfoJSON `json:"bbr,omitempty"` // only when CC is "bbr"
}

// BBRInfoJSON is the JSON form of BBRInfo.
type BBRInfoJSON struct {
	Mode       string  `json:"mode"`
	BtlBw      float64 `json:"btl_bw"` // bytes/s
	MinRTTms   float64 `json:"min_rtt_ms"`
	PacingGain float64 `json:"pacing_gain"`
	CwndGain   float64 `json:"cwnd_gain"`
	Rounds     int64   `json:"rounds"`
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// JSON returns the JSON form of the snapshot.
func (in *Info) JSON() InfoJSON {
	j := InfoJSON{State: in.State.String(), CC: in.CongestionControl, MSS: in.MSS, Cwnd: in.Cwnd,
		Ssthresh: in.Ssthresh, SndWnd: in.SndWnd, RcvWnd: in.RcvWnd, SRTTms: ms(in.SRTT), RTTVarms: ms(in.RTTVar),
		MinRTTms: ms(in.MinRTT), RTOms: ms(in.RTO), InFlight: in.InFlight, SACK: in.SACKOK, Timestamps: in.TSOK,
		ECN: in.ECNOK, SndWScale: in.SndWScale, RcvWScale: in.RcvWScale, PacingRate: in.PacingRate,
		Delivered: in.Delivered, SegsOut: in.Stats.SegsOut, SegsIn: in.Stats.SegsIn,
		WireBytesSent: in.Stats.BytesSent, BytesAcked: in.Stats.BytesAcked, WireBytesRecv: in.Stats.BytesReceived,
		RetransSegs: in.Stats.RetransSegs, FastRetrans: in.Stats.FastRetrans, Timeouts: in.Stats.Timeouts,
		TLPProbes: in.Stats.TLPProbes, Recoveries: in.Stats.Recoveries, OutOfOrder: in.Stats.OutOfOrderSegs,
		DupSegs: in.Stats.DupSegs, DSACKs: in.Stats.DSACKs, SpuriousUndos: in.Stats.SpuriousUndos,
		ZeroWinProbes: in.Stats.ZeroWindowProbes, ECNReductions: in.Stats.ECNReductions,
		OptOverflows: in.Stats.OptionOverflows}
	if in.CongestionControl == "bbr" {
		b := in.BBR
		j.BBR = &BBRInfoJSON{Mode: b.Mode.String(), BtlBw: b.BtlBw, MinRTTms: ms(b.MinRTT),
			PacingGain: b.PacingGain, CwndGain: b.CwndGain, Rounds: b.Rounds}
	}
	return j
}

// MarshalJSON encodes the snapshot as InfoJSON.
func (in Info) MarshalJSON() ([]byte, error) { return json.Marshal(in.JSON()) }
