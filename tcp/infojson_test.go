package tcp

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestInfoJSON(t *testing.T) {
	in := Info{State: StateEstablished, CongestionControl: "bbr", MSS: 1448, Cwnd: 14480, SRTT: 1500 * time.Microsecond,
		RTO: 200 * time.Millisecond, SACKOK: true, BBR: BBRInfo{Mode: 1, BtlBw: 1.25e6, MinRTT: time.Millisecond, Rounds: 7}}
	in.Stats.BytesAcked, in.Stats.RetransSegs, in.Stats.BytesReceived = 1<<40, 3, 42
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var j InfoJSON
	if err := json.Unmarshal(b, &j); err != nil {
		t.Fatal(err)
	}
	if j.State != "ESTABLISHED" || j.CC != "bbr" || j.SRTTms != 1.5 || j.RTOms != 200 || j.BytesAcked != 1<<40 ||
		j.RetransSegs != 3 || j.WireBytesRecv != 42 || !j.SACK || j.BBR == nil || j.BBR.BtlBw != 1.25e6 || j.BBR.MinRTTms != 1 || j.BBR.Rounds != 7 {
		t.Errorf("round trip %+v from %s", j, b)
	}
	for _, k := range []string{`"srtt_ms":1.5`, `"bytes_acked":1099511627776`, `"wire_bytes_received":42`, `"bbr":{"mode":`} {
		if !strings.Contains(string(b), k) {
			t.Errorf("%s lacks %s", b, k)
		}
	}
	in.CongestionControl = "cubic"
	if b, _ := json.Marshal(&in); strings.Contains(string(b), `"bbr"`) {
		t.Errorf("cubic with a bbr object: %s", b)
	}
}
