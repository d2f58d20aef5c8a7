package report

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/mptcp-go/mptcp/analyze"
	"github.com/mptcp-go/mptcp/analyze/stats"
)

// SchemaVersion is the version of the JSON that scripts read (the
// document of --json, the lines of --packets --json). It changes when a
// field is removed or changes meaning; fields are only added within a
// version. The schema is docs/analyze.schema.json in the repository.
//
// The conventions, for every field:
//   - every key is present; a value that does not exist is null (not an
//     absent key, not 0 or "");
//   - byte counts and data offsets are numbers (bytes), durations numbers
//     of seconds (names ending in _s), times RFC 3339 strings in UTC, and
//     "rel_s" times seconds since the capture's first packet (the "+s"
//     times of the text report);
//   - 64-bit identifiers (keys, IDSNs, DSNs) and 32-bit tokens are hex
//     strings, so no JSON reader rounds them;
//   - directions are "client_to_server" and "server_to_client", of the
//     connection (its initial subflow's client) wherever they appear.
const SchemaVersion = 1

// Tool names the program that wrote a document.
type Tool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Input is one capture file read (or the interface of a live capture).
type Input struct {
	Name    string `json:"name"`
	Format  string `json:"format"`
	Packets uint64 `json:"packets"`
	// Duplicates are packets dropped because another input delivered
	// the same segment (merged captures of both ends).
	Duplicates uint64   `json:"duplicates"`
	Errors     []string `json:"errors"`
}

// Meta is what the caller knows beyond the analyzer's result.
type Meta struct {
	Tool   Tool
	Inputs []Input
	// Selected are the --conn selectors, if any: only the connections
	// they chose are in the output.
	Selected []string
	// Kernel holds the live capture's kernel counters (mptcp capture).
	Kernel *KernelStats
}

// KernelStats are a live capture's ring counters.
type KernelStats struct {
	Packets uint64 `json:"packets"`
	Drops   uint64 `json:"drops"`
}

// Document is the JSON of 'mptcp analyze --json': one object.
type Document struct {
	SchemaVersion    int       `json:"schema_version"`
	Tool             Tool      `json:"tool"`
	Connections      []Conn    `json:"connections"`
	RejectedSubflows []Subflow `json:"rejected_subflows"`
	Orphans          []Orphan  `json:"orphans"`
	Findings         []Finding `json:"findings"`
	Inputs           []Input   `json:"inputs"`
	Capture          Capture   `json:"capture"`
	Summary          Summary   `json:"summary"`
}

// Capture is what the whole input held.
type Capture struct {
	Packets           uint64       `json:"packets"`
	TCPSegments       uint64       `json:"tcp_segments"`
	MPTCPSegments     uint64       `json:"mptcp_segments"`
	NotTCP            uint64       `json:"not_tcp"`
	Malformed         uint64       `json:"malformed"`
	PlainTCPFlows     uint64       `json:"plain_tcp_flows"`
	First             *time.Time   `json:"first"`
	Last              *time.Time   `json:"last"`
	DurationS         float64      `json:"duration_s"`
	PeakBufferedBytes int64        `json:"peak_buffered_bytes"`
	Selected          []string     `json:"selected"`
	Kernel            *KernelStats `json:"kernel"`
}

// Summary counts what a script checks first.
type Summary struct {
	Connections int `json:"connections"`
	// Findings by severity, connections' and global ones together.
	Findings map[string]int `json:"findings"`
	// Worst is the most serious severity found, or null.
	Worst *string `json:"worst"`
	// InputErrors: some input could not be read whole.
	InputErrors bool `json:"input_errors"`
}

// Conn is one MPTCP connection.
type Conn struct {
	ID          int       `json:"id"`
	Version     *string   `json:"version"`
	Verified    bool      `json:"verified"`
	GroupedBy   string    `json:"grouped_by"`
	Client      string    `json:"client"`
	Server      string    `json:"server"`
	ClientKey   *string   `json:"client_key"`
	ServerKey   *string   `json:"server_key"`
	ClientToken *string   `json:"client_token"`
	ServerToken *string   `json:"server_token"`
	Checksums   bool      `json:"checksums"`
	Fallback    *string   `json:"fallback"`
	First       time.Time `json:"first"`
	Last        time.Time `json:"last"`
	FirstRelS   float64   `json:"first_rel_s"`
	LastRelS    float64   `json:"last_rel_s"`
	DurationS   float64   `json:"duration_s"`
	End         string    `json:"end"`
	Subflows    []Subflow `json:"subflows"`
	Streams     Streams   `json:"streams"`
	// Reinjections per direction, with --stats (else null).
	Reinjections *ReinjDirs `json:"reinjections"`
	Events       []Event    `json:"events"`
	Findings     []Finding  `json:"findings"`
}

// Streams are a connection's two data streams.
type Streams struct {
	ClientToServer Stream `json:"client_to_server"`
	ServerToClient Stream `json:"server_to_client"`
}

// Stream is one direction's data.
type Stream struct {
	// IDSN (hex) when the sender's key was seen. OriginDSN (hex) is the
	// DSN of data offset 0: IDSN+1, or the first DSN seen without the
	// key; null when the stream has no origin.
	IDSN      *string `json:"idsn"`
	OriginDSN *string `json:"origin_dsn"`
	Bytes     uint64  `json:"bytes"`
	EndOffset uint64  `json:"end_offset"`
	DataFIN   bool    `json:"data_fin"`
	FinOffset *uint64 `json:"fin_offset"`
	DataACK   *uint64 `json:"data_ack"`

	DuplicateBytes  uint64 `json:"duplicate_bytes"`
	ReinjectedBytes uint64 `json:"reinjected_bytes"`
	UncheckedBytes  uint64 `json:"unchecked_bytes"`
	IgnoredBytes    uint64 `json:"ignored_bytes"`
	ChecksumsOK     uint64 `json:"checksums_ok"`
	ChecksumsFailed uint64 `json:"checksums_failed"`

	Holes          []Range `json:"holes"`
	HoleCount      uint64  `json:"hole_count"`
	HoleBytes      uint64  `json:"hole_bytes"`
	DroppedBytes   uint64  `json:"dropped_bytes"`
	AckedHoleBytes uint64  `json:"acked_hole_bytes"`
	Conflicts      []Range `json:"conflicts"`
	ConflictBytes  uint64  `json:"conflict_bytes"`
	SHA256         *string `json:"sha256"`
	File           *string `json:"file"`
	HolesFile      *string `json:"holes_file"`
}

// Range is a part of a stream: a hole (with its reason: "missing",
// "acked" or "memory") or a conflict (reason null).
type Range struct {
	Offset uint64  `json:"offset"`
	Size   uint64  `json:"size"`
	Reason *string `json:"reason"`
}

// Subflow is one subflow (or a rejected join).
type Subflow struct {
	ID                 int       `json:"id"`
	Connection         int       `json:"connection"`
	Role               string    `json:"role"`
	Client             string    `json:"client"`
	Server             string    `json:"server"`
	ClientIsConnClient bool      `json:"client_is_conn_client"`
	Backup             bool      `json:"backup"`
	ClientAddrID       *uint8    `json:"client_addr_id"`
	ServerAddrID       *uint8    `json:"server_addr_id"`
	JoinHMAC           *string   `json:"join_hmac"`
	Token              *string   `json:"token"`
	First              time.Time `json:"first"`
	Last               time.Time `json:"last"`
	FirstRelS          float64   `json:"first_rel_s"`
	LastRelS           float64   `json:"last_rel_s"`
	End                string    `json:"end"`
	// Directions of the connection (not of the subflow's own client).
	ClientToServer SubflowDir `json:"client_to_server"`
	ServerToClient SubflowDir `json:"server_to_client"`
}

// SubflowDir is one direction of a subflow.
type SubflowDir struct {
	Packets         uint64  `json:"packets"`
	Bytes           uint64  `json:"bytes"`
	NewBytes        uint64  `json:"new_bytes"`
	DataBytes       uint64  `json:"data_bytes"`
	Share           float64 `json:"share"`
	Retransmissions uint64  `json:"retransmissions"`
	RetransBytes    uint64  `json:"retrans_bytes"`
	ReinjectedBytes uint64  `json:"reinjected_bytes"`
	UnmappedBytes   uint64  `json:"unmapped_bytes"`
	FIN             bool    `json:"fin"`
	RST             bool    `json:"rst"`
	// Stats with --stats (else null).
	Stats *DirStats `json:"stats"`
}

// DirStats are a subflow direction's statistics (--stats).
type DirStats struct {
	RTT         Delays     `json:"rtt"`
	OneWayDelay Delays     `json:"one_way_delay"`
	Throughput  Throughput `json:"throughput"`
}

// Delays summarizes delay samples, in seconds (null without samples).
type Delays struct {
	Samples uint64   `json:"samples"`
	MinS    *float64 `json:"min_s"`
	MeanS   *float64 `json:"mean_s"`
	MaxS    *float64 `json:"max_s"`
	StdDevS *float64 `json:"stddev_s"`
}

// Throughput is bytes per bin: all payload, and goodput (data new to the
// connection).
type Throughput struct {
	BinS         float64  `json:"bin_s"`
	StartRelS    float64  `json:"start_rel_s"`
	Bytes        []uint64 `json:"bytes"`
	GoodputBytes []uint64 `json:"goodput_bytes"`
}

// ReinjDirs are a connection's reinjections per direction.
type ReinjDirs struct {
	ClientToServer Reinjections `json:"client_to_server"`
	ServerToClient Reinjections `json:"server_to_client"`
}

// Reinjections summarizes one direction's reinjections.
type Reinjections struct {
	Count         uint64        `json:"count"`
	Bytes         uint64        `json:"bytes"`
	Unneeded      uint64        `json:"unneeded"`
	UnneededBytes uint64        `json:"unneeded_bytes"`
	Delay         Delays        `json:"delay"`
	List          []Reinjection `json:"list"`
}

// Reinjection is one reinjected segment.
type Reinjection struct {
	Time     time.Time `json:"time"`
	RelS     float64   `json:"rel_s"`
	Subflow  int       `json:"subflow"`
	Original *int      `json:"original_subflow"`
	Offset   uint64    `json:"offset"`
	Bytes    int       `json:"bytes"`
	DelayS   *float64  `json:"delay_s"`
	Needed   bool      `json:"needed"`
}

// Event is a point on a connection's timeline.
type Event struct {
	Time    time.Time `json:"time"`
	RelS    float64   `json:"rel_s"`
	Type    string    `json:"type"`
	Subflow *int      `json:"subflow"`
	To      *int      `json:"to"`
	Detail  *string   `json:"detail"`
}

// Finding is something checked and found wrong or notable.
type Finding struct {
	Time     *time.Time `json:"time"`
	RelS     *float64   `json:"rel_s"`
	Severity string     `json:"severity"`
	Code     string     `json:"code"`
	Subflow  *int       `json:"subflow"`
	Message  string     `json:"message"`
}

// Orphan is a group of segments with MPTCP options of no connection.
type Orphan struct {
	Kind                 string         `json:"kind"`
	Detail               *string        `json:"detail"`
	Segments             uint64         `json:"segments"`
	Subflows             uint64         `json:"subflows"`
	First                time.Time      `json:"first"`
	Last                 time.Time      `json:"last"`
	FirstRelS            float64        `json:"first_rel_s"`
	LastRelS             float64        `json:"last_rel_s"`
	Sources              []OrphanSource `json:"sources"`
	OtherSourcesSegments uint64         `json:"other_sources_segments"`
	Example              string         `json:"example"`
}

// OrphanSource is a sender of orphan segments.
type OrphanSource struct {
	Addr     string `json:"addr"`
	Segments uint64 `json:"segments"`
}

// Direction names as in the JSON.
const (
	DirClientToServer = "client_to_server"
	DirServerToClient = "server_to_client"
)

// DirName returns a connection direction's JSON name.
func DirName(d int) string {
	if d == analyze.ServerToClient {
		return DirServerToClient
	}
	return DirClientToServer
}

func strOrNil(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func intOrNil(i int) *int {
	if i == 0 {
		return nil
	}
	return &i
}

func f64(x float64) *float64 { return &x }

func relS(t, t0 time.Time) float64 {
	if t.IsZero() || t0.IsZero() {
		return 0
	}
	return t.Sub(t0).Seconds()
}

func addrPort(a netip.AddrPort) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// ConnJSON converts a connection; st (may be nil) adds --stats, t0 is the
// capture's first packet time.
func ConnJSON(c *analyze.Connection, st *stats.Conn, col *stats.Collector, t0 time.Time) Conn {
	j := Conn{
		ID: c.ID, Version: strOrNil(c.Version), Verified: c.Verified, GroupedBy: c.GroupedBy,
		Client: addrPort(c.Client), Server: addrPort(c.Server),
		ClientKey: strOrNil(c.ClientKey), ServerKey: strOrNil(c.ServerKey),
		ClientToken: strOrNil(c.ClientToken), ServerToken: strOrNil(c.ServerToken),
		Checksums: c.Checksums, Fallback: strOrNil(c.Fallback),
		First: c.FirstSeen, Last: c.LastSeen, FirstRelS: relS(c.FirstSeen, t0), LastRelS: relS(c.LastSeen, t0),
		DurationS: c.LastSeen.Sub(c.FirstSeen).Seconds(), End: c.End,
		Subflows: []Subflow{}, Events: []Event{}, Findings: []Finding{},
	}
	var sfStats map[int]*stats.Subflow
	if st != nil {
		sfStats = map[int]*stats.Subflow{}
		for i := range st.Subflows {
			sfStats[st.Subflows[i].ID] = &st.Subflows[i]
		}
		j.Reinjections = &ReinjDirs{ClientToServer: reinjJSON(&st.Reinjections[0], t0), ServerToClient: reinjJSON(&st.Reinjections[1], t0)}
	}
	for i := range c.Subflows {
		var ss *stats.Subflow
		if sfStats != nil {
			ss = sfStats[c.Subflows[i].ID]
			if ss == nil {
				ss = &stats.Subflow{ID: c.Subflows[i].ID}
			}
		}
		j.Subflows = append(j.Subflows, SubflowJSON(&c.Subflows[i], ss, col, t0))
	}
	for i := range c.Streams {
		s := streamJSON(&c.Streams[i])
		if i == analyze.ServerToClient {
			j.Streams.ServerToClient = s
		} else {
			j.Streams.ClientToServer = s
		}
	}
	for _, e := range c.Events {
		j.Events = append(j.Events, Event{Time: e.Time, RelS: relS(e.Time, t0), Type: e.Type,
			Subflow: intOrNil(e.Subflow), To: intOrNil(e.To), Detail: strOrNil(e.Detail)})
	}
	j.Findings = FindingsJSON(c.Findings, t0)
	return j
}

func reinjJSON(r *stats.Reinjections, t0 time.Time) Reinjections {
	j := Reinjections{Count: r.Count, Bytes: r.Bytes, Unneeded: r.Unneeded, UnneededBytes: r.UnneededBytes,
		Delay: delaysJSON(&r.Delay), List: []Reinjection{}}
	for _, x := range r.List {
		rj := Reinjection{Time: x.Time, RelS: relS(x.Time, t0), Subflow: x.Subflow, Original: intOrNil(x.Original),
			Offset: x.Offset, Bytes: x.Len, Needed: x.Needed}
		if x.Delay >= 0 {
			rj.DelayS = f64(x.Delay.Seconds())
		}
		j.List = append(j.List, rj)
	}
	return j
}

func delaysJSON(d *stats.Durations) Delays {
	j := Delays{Samples: d.Count}
	if d.Count > 0 {
		j.MinS, j.MeanS, j.MaxS = f64(d.Min.Seconds()), f64(d.Mean().Seconds()), f64(d.Max.Seconds())
		j.StdDevS = f64(d.StdDev().Seconds())
	}
	return j
}

// SubflowJSON converts a subflow; ss (may be nil) adds --stats.
func SubflowJSON(sf *analyze.Subflow, ss *stats.Subflow, col *stats.Collector, t0 time.Time) Subflow {
	j := Subflow{ID: sf.ID, Connection: sf.Connection, Role: sf.Role, Client: addrPort(sf.Client), Server: addrPort(sf.Server),
		ClientIsConnClient: sf.ClientIsConnClient, Backup: sf.Backup, ClientAddrID: sf.ClientAddrID, ServerAddrID: sf.ServerAddrID,
		JoinHMAC: strOrNil(sf.JoinHMAC), Token: strOrNil(sf.Token), First: sf.FirstSeen, Last: sf.LastSeen,
		FirstRelS: relS(sf.FirstSeen, t0), LastRelS: relS(sf.LastSeen, t0), End: sf.End}
	for d := range 2 {
		x := &sf.Dirs[d]
		sd := SubflowDir{Packets: x.Packets, Bytes: x.Bytes, NewBytes: x.NewBytes, DataBytes: x.DataBytes, Share: x.Share,
			Retransmissions: x.Retransmissions, RetransBytes: x.RetransBytes, ReinjectedBytes: x.Reinjected,
			UnmappedBytes: x.Unmapped, FIN: x.FIN, RST: x.RST}
		cd := d
		if !sf.ClientIsConnClient {
			cd = 1 - d
		}
		if ss != nil {
			sd.Stats = dirStatsJSON(&ss.Dirs[cd], col, t0)
		}
		if cd == analyze.ServerToClient {
			j.ServerToClient = sd
		} else {
			j.ClientToServer = sd
		}
	}
	return j
}

func dirStatsJSON(d *stats.Dir, col *stats.Collector, t0 time.Time) *DirStats {
	j := &DirStats{RTT: delaysJSON(&d.RTT), OneWayDelay: delaysJSON(&d.OneWayDelay),
		Throughput: Throughput{Bytes: nonNil(d.Bytes), GoodputBytes: nonNil(d.Goodput)}}
	if col != nil {
		j.Throughput.BinS = col.Bin().Seconds()
		j.Throughput.StartRelS = relS(col.Start(), t0)
	}
	return j
}

func nonNil(s []uint64) []uint64 {
	if s == nil {
		return []uint64{}
	}
	return s
}

func streamJSON(s *analyze.Stream) Stream {
	j := Stream{IDSN: strOrNil(s.IDSN), Bytes: s.Bytes, EndOffset: s.End, DataFIN: s.DataFIN,
		DuplicateBytes: s.Duplicate, ReinjectedBytes: s.Reinjected, UncheckedBytes: s.Unchecked, IgnoredBytes: s.Ignored,
		ChecksumsOK: s.ChecksumsOK, ChecksumsFailed: s.ChecksumsFailed, HoleCount: max(s.HoleCount, uint64(len(s.Holes))),
		HoleBytes: s.HoleBytes, DroppedBytes: s.DroppedBytes, AckedHoleBytes: s.AckedHoleBytes, ConflictBytes: s.ConflictBytes,
		SHA256: strOrNil(s.SHA256), File: strOrNil(s.File), Holes: []Range{}, Conflicts: []Range{}}
	if s.OriginSet {
		j.OriginDSN = strOrNil(fmt.Sprintf("%016x", s.Origin))
	}
	if s.DataFIN {
		v := s.FinOffset
		j.FinOffset = &v
	}
	if s.DataACKSeen {
		v := s.DataACK
		j.DataACK = &v
	}
	for _, h := range s.Holes {
		j.Holes = append(j.Holes, Range{Offset: h.Offset, Size: h.Size, Reason: strOrNil(h.Reason)})
	}
	for _, h := range s.Conflicts {
		j.Conflicts = append(j.Conflicts, Range{Offset: h.Offset, Size: h.Size})
	}
	j.HolesFile = strOrNil(s.HolesFile)
	return j
}

// FindingsJSON converts findings.
func FindingsJSON(fs []analyze.Finding, t0 time.Time) []Finding {
	out := []Finding{}
	for _, f := range fs {
		j := Finding{Severity: string(f.Severity), Code: f.Code, Subflow: intOrNil(f.Subflow), Message: f.Message}
		if !f.Time.IsZero() {
			t := f.Time
			j.Time, j.RelS = &t, f64(relS(t, t0))
		}
		out = append(out, j)
	}
	return out
}

// OrphanJSON converts an orphan group.
func OrphanJSON(o *analyze.Orphan, t0 time.Time) Orphan {
	j := Orphan{Kind: o.Kind, Detail: strOrNil(o.Detail), Segments: o.Segments, Subflows: o.Subflows, First: o.First, Last: o.Last,
		FirstRelS: relS(o.First, t0), LastRelS: relS(o.Last, t0), OtherSourcesSegments: o.OtherSources, Example: o.Example,
		Sources: []OrphanSource{}}
	for _, s := range o.Sources {
		j.Sources = append(j.Sources, OrphanSource{Addr: s.Addr.String(), Segments: s.Segments})
	}
	return j
}

// CaptureJSON converts the capture totals.
func CaptureJSON(r *analyze.Result, meta *Meta) Capture {
	c := Capture{Packets: r.Packets, TCPSegments: r.TCP, MPTCPSegments: r.MPTCP, NotTCP: r.NotTCP, Malformed: r.Malformed,
		PlainTCPFlows: r.PlainTCPFlows, PeakBufferedBytes: r.PeakBuffered, Selected: []string{}}
	if !r.First.IsZero() {
		f, l := r.First, r.Last
		c.First, c.Last, c.DurationS = &f, &l, l.Sub(f).Seconds()
	}
	if meta != nil {
		if meta.Selected != nil {
			c.Selected = meta.Selected
		}
		c.Kernel = meta.Kernel
	}
	return c
}

// tally counts findings by severity.
type tally struct {
	conns    int
	bySev    map[string]int
	worst    analyze.Severity
	inputErr bool
}

func (t *tally) add(fs []analyze.Finding) {
	if t.bySev == nil {
		t.bySev = map[string]int{"error": 0, "warning": 0, "info": 0}
	}
	for _, f := range fs {
		t.bySev[string(f.Severity)]++
		if Rank(f.Severity) > Rank(t.worst) {
			t.worst = f.Severity
		}
		if f.Code == analyze.CodeInput {
			t.inputErr = true
		}
	}
}

func (t *tally) summary() Summary {
	t.add(nil)
	s := Summary{Connections: t.conns, Findings: t.bySev, InputErrors: t.inputErr}
	if t.worst != "" {
		w := string(t.worst)
		s.Worst = &w
	}
	return s
}

// Rank orders severities: "" 0, info 1, warning 2, error 3.
func Rank(s analyze.Severity) int {
	switch s {
	case analyze.Info:
		return 1
	case analyze.Warning:
		return 2
	case analyze.Error:
		return 3
	}
	return 0
}
