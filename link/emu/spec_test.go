package emu

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestParseRate(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		err  bool
	}{
		{"50mbit", 50e6, false},
		{"1.5gbit", 1.5e9, false},
		{"64kbit", 64e3, false},
		{"1000", 1000, false},
		{"10Mbit", 10e6, false},
		{"1mbps", 8e6, false},
		{"100bit", 100, false},
		{"", 0, true},
		{"mbit", 0, true},
		{"5furlong", 0, true},
		{"1e30gbit", 0, true},
		{"-5mbit", 0, true},
	}
	for _, tc := range tests {
		got, err := ParseRate(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseRate(%q) = %d, %v; want %d, err %v", tc.in, got, err, tc.want, tc.err)
		}
		if err != nil && !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("ParseRate(%q) error %v does not wrap ErrInvalidSpec", tc.in, err)
		}
	}
	for _, r := range []uint64{50e6, 1.5e9, 1234, 999, 20e6} {
		back, err := ParseRate(FormatRate(r))
		if err != nil || back != r {
			t.Errorf("FormatRate(%d) = %q reads back as %d, %v", r, FormatRate(r), back, err)
		}
	}
}

func TestParseSpec(t *testing.T) {
	tests := []struct {
		in   string
		want Spec
		err  bool
	}{
		{"", Spec{}, false},
		{"rate=20mbit,delay=25ms", Spec{Rate: 20e6, Delay: 25 * ms}, false},
		{"delay=10ms, jitter=2ms, loss=1%", Spec{Delay: 10 * ms, Jitter: 2 * ms, Loss: 0.01}, false},
		{"loss=0.05,reorder=1%,reorder-delay=4ms,queue=50", Spec{Loss: 0.05, Reorder: 0.01, ReorderDelay: 4 * ms, QueueLimit: 50}, false},
		{"burst=1%/25%", Spec{Burst: GilbertElliott{P: 0.01, R: 0.25, LossBad: 1}}, false},
		{"burst=1%/25%/50%/0.1%", Spec{Burst: GilbertElliott{P: 0.01, R: 0.25, LossBad: 0.5, LossGood: 0.001}}, false},
		{"down@2s,up@5s", Spec{Events: []Event{Down(2 * time.Second), Up(5 * time.Second)}}, false},
		{"rate=50mbit,rate=5mbit@3s,delay=80ms@3s,loss=2%@4s", Spec{Rate: 50e6, Events: []Event{
			SetRate(3*time.Second, 5e6), SetDelay(3*time.Second, 80*ms), SetLoss(4*time.Second, 0.02)}}, false},
		{"strip=synack", Spec{Strip: StripSYNACK}, false},
		{"strip=data,rewrite=1000", Spec{Strip: StripData, Rewrite: 1000}, false},
		{"strip=syn+synack+ack+data", Spec{Strip: StripAll}, false},
		{"strip=all,delay=5ms", Spec{Strip: StripAll, Delay: 5 * ms}, false},
		{"strip=none", Spec{}, false},
		{"strip=options", Spec{}, true},
		{"strip=syn+", Spec{}, true},
		{"strip=data@2s", Spec{}, true},
		{"rewrite=0", Spec{}, true},
		{"rewrite=-3", Spec{}, true},
		{"rewrite=4294967296", Spec{}, true},
		{"rate", Spec{}, true},
		{"speed=5", Spec{}, true},
		{"loss=101%", Spec{}, true},
		{"loss=-1", Spec{}, true},
		{"delay=-5ms", Spec{}, true},
		{"delay=5", Spec{}, true},
		{"queue=-1", Spec{}, true},
		{"burst=1%", Spec{}, true},
		{"burst=1%/0", Spec{}, true},
		{"jitter=1ms@2s", Spec{}, true},
		{"down@soon", Spec{}, true},
		{"loss=NaN", Spec{}, true},
	}
	for _, tc := range tests {
		got, err := ParseSpec(tc.in)
		if (err != nil) != tc.err {
			t.Errorf("ParseSpec(%q) error = %v, want error %v", tc.in, err, tc.err)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidSpec) {
				t.Errorf("ParseSpec(%q) error %v does not wrap ErrInvalidSpec", tc.in, err)
			}
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseSpec(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
		back, err := ParseSpec(got.String())
		if err != nil || !reflect.DeepEqual(back, got) {
			t.Errorf("round trip of %q via %q = %+v, %v", tc.in, got.String(), back, err)
		}
	}
}

func TestStripSetText(t *testing.T) {
	for _, c := range []struct {
		s    StripSet
		text string
	}{{0, ""}, {StripSYN, "syn"}, {StripSYNACK | StripData, "synack+data"}, {StripAll, "all"}, {StripSYN | StripSYNACK | StripACK, "syn+synack+ack"}} {
		if c.s.String() != c.text {
			t.Errorf("%#x.String() = %q, want %q", uint8(c.s), c.s.String(), c.text)
		}
		b, _ := json.Marshal(Spec{Strip: c.s})
		var back Spec
		if err := json.Unmarshal(b, &back); err != nil || back.Strip != c.s {
			t.Errorf("JSON %s reads back as %v, %v", b, back.Strip, err)
		}
	}
	var s Spec
	if err := json.Unmarshal([]byte(`{"strip":"everything"}`), &s); err == nil {
		t.Error("bad strip set accepted from JSON")
	}
	if (Spec{Strip: 0x40}).Validate() == nil {
		t.Error("unknown strip class validated")
	}
}

func TestSpecIsZero(t *testing.T) {
	if !(Spec{}).IsZero() || !(Spec{QueueLimit: 5}).IsZero() {
		t.Error("zero spec (or queue limit alone) not IsZero")
	}
	for _, s := range []Spec{{Rate: 1}, {Delay: 1}, {Loss: 0.1}, {Events: []Event{Down(0)}}, {Burst: GilbertElliott{P: 0.1, R: 0.1}},
		{Strip: StripSYNACK}, {Rewrite: 1}} {
		if s.IsZero() {
			t.Errorf("%+v IsZero", s)
		}
	}
}

// FuzzParseSpec checks that ParseSpec never panics, and that what it
// accepts prints to a form that parses to the same text again.
func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{"", "rate=20mbit,delay=25ms", "delay=10ms,jitter=2ms,loss=1%",
		"burst=1%/25%/50%/0.1%", "down@2s,up@5s,rate=5mbit@3s", "loss=0.05,reorder=1%,queue=50",
		"rate=1.5gbit,reorder-delay=4ms", "loss=7%", "strip=synack+data,rewrite=1000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseSpec(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidSpec) {
				t.Fatalf("error %v does not wrap ErrInvalidSpec", err)
			}
			return
		}
		text := s.String()
		s2, err := ParseSpec(text)
		if err != nil {
			t.Fatalf("%q -> %q does not parse: %v", in, text, err)
		}
		if s2.String() != text {
			t.Fatalf("%q -> %q -> %q", in, text, s2.String())
		}
	})
}
