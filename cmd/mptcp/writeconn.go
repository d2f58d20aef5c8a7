package main

import (
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/mptcp-go/mptcp/capture"
)

// writeConn writes every packet of the chosen connections' subflows (their
// 4-tuples during the subflows' lifetimes), as captured with their link
// layer, to path: pcap or pcapng by the file's extension (.pcap,
// .pcapng, either with .gz), pcapng otherwise, which it says. Packets from
// several inputs, or of several link types, need pcapng: a .pcap name
// then gets pcapng content, and a message says so.
func writeConn(ctx context.Context, env *cmdEnv, path string, names []string, display func(int) string, sel *selection) error {
	flows := map[[2]netip.AddrPort][]flowSpan{}
	nchosen := 0
	for _, f := range sel.flows {
		k := canonicalPair(f.a, f.b)
		flows[k] = append(flows[k], f)
		if f.chosen {
			nchosen++
		}
	}
	for _, spans := range flows {
		slices.SortStableFunc(spans, func(x, y flowSpan) int { return x.first.Compare(y.first) })
	}
	in, err := openInputs(env, names, display)
	if err != nil {
		return err
	}
	defer in.close()
	// Every copy as captured: no deduplication across inputs.
	merger := capture.NewMerger(in.names, in.sources(), false)

	base := strings.TrimSuffix(path, ".gz")
	gz := base != path
	ng := !strings.HasSuffix(base, ".pcap")
	if !strings.HasSuffix(base, ".pcap") && !strings.HasSuffix(base, ".pcapng") {
		fmt.Fprintf(env.stderr, "mptcp analyze: --write-conn %s: no .pcap or .pcapng extension: writing pcapng\n", path)
	}
	// pcap holds one link type and no input tags.
	if !ng && len(names) > 1 {
		ng = true
		fmt.Fprintf(env.stderr, "mptcp analyze: --write-conn %s: packets of several inputs need pcapng: writing pcapng\n", path)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	var out io.Writer = f
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(f)
		out = zw
	}
	var w capture.Writer
	var ngw *capture.PcapngWriter
	var pw *capture.PcapWriter
	ifaces := map[[3]int]int{}
	if ng {
		ngw, err = capture.NewPcapngWriter(out, capture.PcapngWriterOptions{Application: "mptcp analyze --write-conn"})
		if err != nil {
			f.Close()
			return err
		}
		w = ngw
	}
	n := 0
	for {
		if n&1023 == 0 && ctx.Err() != nil {
			break
		}
		p, err := merger.Next()
		if err != nil {
			break
		}
		a, b, ok := tcpEnds(p)
		if !ok {
			continue
		}
		// The subflow that used the 4-tuple last before the packet: its
		// lifetime as the analysis saw it may end before the last ACKs
		// (the connection was over), which belong to it all the same,
		// up to the analyzer's flow idle time.
		var owner *flowSpan
		for i, s := range flows[canonicalPair(a, b)] {
			if s.first.After(p.Timestamp) {
				break
			}
			owner = &flows[canonicalPair(a, b)][i]
		}
		if owner == nil || !owner.chosen || p.Timestamp.Sub(owner.last) > flowSlack {
			continue
		}
		if ngw != nil {
			k := [3]int{p.Source, p.Interface, int(p.LinkType)}
			id, ok := ifaces[k]
			if !ok {
				name := in.names[p.Source]
				if iname := in.ifaceName(p.Source, p.Interface); iname != "" {
					name += ":" + iname
				}
				id, err = ngw.AddInterface(capture.Interface{LinkType: p.LinkType, Name: name})
				if err != nil {
					break
				}
				ifaces[k] = id
			}
			p.Interface = id
		} else if pw == nil {
			// pcap: the link type of the first packet kept.
			if pw, err = capture.NewPcapWriter(out, p.LinkType, capture.PcapWriterOptions{Nanosecond: true}); err != nil {
				break
			}
			w = pw
		} else if p.LinkType != pw.LinkType() {
			err = fmt.Errorf("%s: packets of link types %v and %v cannot share a pcap file: name it .pcapng", path, pw.LinkType(), p.LinkType)
			break
		}
		if err = w.WritePacket(p); err != nil {
			break
		}
		n++
	}
	if w == nil { // nothing kept: an empty pcap
		pw, err2 := capture.NewPcapWriter(out, capture.LinkTypeEthernet, capture.PcapWriterOptions{Nanosecond: true})
		err, w = errors.Join(err, err2), pw
	}
	if w != nil {
		err = errors.Join(err, w.Flush())
	}
	if zw != nil {
		err = errors.Join(err, zw.Close())
	}
	err = errors.Join(err, f.Close())
	if err != nil {
		return err
	}
	format := "pcap"
	if ng {
		format = "pcapng"
	}
	fmt.Fprintf(env.stderr, "mptcp analyze: --write-conn: %d packets of %d subflows written to %s (%s)\n", n, nchosen, path, format)
	return nil
}

// flowSlack is how long after a subflow's last packet in the analysis
// packets on its 4-tuple are still its (the analyzer's flow idle time).
const flowSlack = 2 * time.Minute

// canonicalPair orders two ends so both directions share a key.
func canonicalPair(a, b netip.AddrPort) [2]netip.AddrPort {
	if a.Compare(b) < 0 {
		return [2]netip.AddrPort{a, b}
	}
	return [2]netip.AddrPort{b, a}
}

// tcpEnds returns the ends of a captured TCP segment (first fragments
// only).
func tcpEnds(p capture.Packet) (src, dst netip.AddrPort, ok bool) {
	nw, err := capture.DecodeLink(p.LinkType, p.Data)
	if err != nil {
		return
	}
	b := nw.Payload
	var tcp []byte
	var sa, da netip.Addr
	switch nw.Version {
	case 4:
		if len(b) < 20 || b[9] != 6 || binary.BigEndian.Uint16(b[6:8])&0x1fff != 0 {
			return
		}
		hl := int(b[0]&0xf) * 4
		if hl < 20 || hl+4 > len(b) {
			return
		}
		sa, da, tcp = netip.AddrFrom4([4]byte(b[12:16])), netip.AddrFrom4([4]byte(b[16:20])), b[hl:]
	case 6:
		if len(b) < 44 || b[6] != 6 {
			return
		}
		sa, da, tcp = netip.AddrFrom16([16]byte(b[8:24])), netip.AddrFrom16([16]byte(b[24:40])), b[40:]
	default:
		return
	}
	return netip.AddrPortFrom(sa, binary.BigEndian.Uint16(tcp[0:2])), netip.AddrPortFrom(da, binary.BigEndian.Uint16(tcp[2:4])), true
}
