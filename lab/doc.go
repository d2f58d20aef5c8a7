// Package lab builds network-namespace topologies for trying and testing
// MPTCP against the Linux kernel's implementation: a client and a server
// namespace joined by N paths, each path through its own middle namespace
// where either a kernel bridge or the project's link emulator (package
// link/emu) carries the frames. Every claim the project makes about a real
// network (interop, handover, aggregation, speed) is tested with it; the
// "mptcp lab" command gives users the same labs.
//
// # Topology
//
// For a lab NAME with paths 1..N:
//
//	NAME-cli            NAME-p<i>                  NAME-srv
//	[<path>] --veth-- [cli]  bridge or  [srv] --veth-- [<path>]
//	                         emulator
//
// The client's and server's interface of path i is named after the path
// ("wifi", "cellular", then "path3", "path4"...; at most 15 bytes); in the
// middle namespace the two ends are "cli" and "srv". Path names come from
// PathSpec.Name.
//
// # Addresses
//
// Labs use the RFC 2544 benchmarking range 198.18.0.0/15, which never
// collides with real networks:
//
//	path i (1-based)   client 198.18.i.1/24   server 198.18.i.2/24
//
// e.g. wifi: 198.18.1.1 <-> 198.18.1.2, cellular: 198.18.2.1 <-> 198.18.2.2.
// By default IPv6 is turned off in every lab namespace (no router
// solicitations, DAD or MLD in captures). With Config.IPv6 (CLI --ipv6)
// path i also gets ULA addresses
//
//	path i             client fd00:198:18:i::1/64   server fd00:198:18:i::2/64
//
// (i written in hex), without DAD and router solicitations, with the same
// routing and MPTCP endpoints as IPv4. Because IPv6 neighbour discovery
// only answers for the receiving interface's own addresses, the client's
// per-path table routes other destinations via the server's address on
// that path.
//
// # Routing and kernel MPTCP
//
// A side in Kernel mode gets its addresses, MPTCP enabled and
// "ip mptcp limits set subflows 8 add_addr_accepted 8". The client routes
// by source: "ip rule add from 198.18.i.1 table 100+i" with a default
// route out of path i's interface in that table, so a subflow bound to
// path i's address leaves through path i whatever its destination. It has
// one "subflow" endpoint per additional path ("ip mptcp endpoint add
// 198.18.i.1 dev <path> id i subflow", i >= 2), so a kernel client
// connecting to 198.18.1.2 opens one subflow per path, each to the
// server's first address. The server routes by destination (main table):
// it answers each subflow through the interface of the client address it
// talks to. With Config.Announce the server also has one "signal"
// endpoint per additional path ("ip mptcp endpoint add 198.18.i.2 dev
// <path> id i signal"): it announces those addresses with ADD_ADDR on
// every connection (the kernel client accepts them; it has already joined
// every path from its own endpoints). rp_filter is off everywhere.
//
// A side in User mode has its interfaces up without addresses: the kernel
// ignores IP traffic there and the project's userspace stack owns them
// through AF_PACKET, using the addresses ClientAddr and ServerAddr report
// (it must answer ARP itself).
//
// # Emulated paths and offloads
//
// A path whose PathSpec sets any impairment (or Emulate) runs the emulator:
// two AF_PACKET sockets in the middle namespace, one per veth end, and an
// emu.Forwarder between them with the Up (client to server) and Down
// (server to client) settings. Up runs it as goroutines of the calling
// process; with Config.EmulatorCommand (the CLI) it runs as a detached
// process whose PID the lab records. On emulated paths TSO, GSO, GRO and
// transmit checksum offload are off on all four veth ends ("ethtool -K DEV
// tx off tso off gso off gro off"): frames stay wire-sized, and checksums
// are complete before the emulator copies frames through AF_PACKET (a
// frame with a partial checksum would be dropped by the receiver). The
// same is done on bridged paths unless Config.Offload is set.
//
// # Outages and captures
//
// SetPathDown silences a path both ways while its interfaces stay up: a
// bridged path's two bridge ports are disabled (frames are dropped in the
// bridge), an emulated path's forwarder drops everything. Capture runs
// tcpdump in a namespace; its stop function returns once every packet
// seen before the call is in the file, with tcpdump's counters, and an
// error wrapping ErrCaptureDropped if the kernel dropped packets.
//
// # Lifetime
//
// Up records the lab in StateDir/NAME/state.json before it creates
// anything, and first removes whatever a lab of the same name left (a
// crashed run) and labs whose owning process is gone. Lab.Close and Down
// remove the emulators, the namespaces (and with them the veths) and the
// record. Test traffic stays inside the lab's namespaces.
//
// Tests of other packages start labs with labtest.New (package
// lab/labtest), which skips without root, names the lab uniquely and
// removes it in t.Cleanup. Code that needs a socket inside a namespace
// creates it in Lab.Do; it stays there after Do returns, so a test can
// Listen inside Do and Accept from an ordinary goroutine.
package lab
