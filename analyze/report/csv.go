package report

import (
	"encoding/csv"
	"io"
	"strconv"
	"time"

	"github.com/mptcp-go/mptcp/analyze"
	"github.com/mptcp-go/mptcp/analyze/stats"
)

// CSVColumns are the columns of the CSV format: one row per subflow and
// connection direction, with the statistics (empty cells where there is
// no value). Durations are in seconds, rates in bits per second.
var CSVColumns = []string{"connection", "subflow", "role", "direction", "client", "server", "first_rel_s", "last_rel_s", "end",
	"packets", "bytes", "data_bytes", "share", "retransmissions", "retrans_bytes", "reinjected_bytes",
	"rtt_samples", "rtt_min_s", "rtt_mean_s", "rtt_max_s", "owd_samples", "owd_min_s", "owd_mean_s", "owd_max_s",
	"goodput_mean_bps", "goodput_peak_bps"}

// writeCSVConn writes the rows of one connection.
func writeCSVConn(w io.Writer, c *analyze.Connection, st *stats.Conn, col *stats.Collector, t0 time.Time, header bool) error {
	cw := csv.NewWriter(w)
	if header {
		cw.Write(CSVColumns)
	}
	ss := map[int]*stats.Subflow{}
	if st != nil {
		for i := range st.Subflows {
			ss[st.Subflows[i].ID] = &st.Subflows[i]
		}
	}
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', 9, 64) }
	u := func(x uint64) string { return strconv.FormatUint(x, 10) }
	dl := func(d *stats.Durations) []string {
		if d.Count == 0 {
			return []string{"0", "", "", ""}
		}
		return []string{u(d.Count), f(d.Min.Seconds()), f(d.Mean().Seconds()), f(d.Max.Seconds())}
	}
	for i := range c.Subflows {
		sf := &c.Subflows[i]
		for d := range 2 {
			cd := d
			if !sf.ClientIsConnClient {
				cd = 1 - d
			}
			x := &sf.Dirs[d]
			row := []string{strconv.Itoa(c.ID), strconv.Itoa(sf.ID), sf.Role, DirName(cd), sf.Client.String(), sf.Server.String(),
				f(relS(sf.FirstSeen, t0)), f(relS(sf.LastSeen, t0)), sf.End,
				u(x.Packets), u(x.Bytes), u(x.DataBytes), f(x.Share), u(x.Retransmissions), u(x.RetransBytes), u(x.Reinjected)}
			var rtt, owd stats.Durations
			var gm, gp float64
			if s := ss[sf.ID]; s != nil {
				rtt, owd = s.Dirs[cd].RTT, s.Dirs[cd].OneWayDelay
				if col != nil {
					gm, gp = goodput(s.Dirs[cd].Goodput, col.Bin())
				}
			}
			row = append(row, dl(&rtt)...)
			row = append(row, dl(&owd)...)
			row = append(row, f(gm), f(gp))
			cw.Write(row)
		}
	}
	cw.Flush()
	return cw.Error()
}
