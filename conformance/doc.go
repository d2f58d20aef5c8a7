// Package conformance is a packet-level conformance harness in the style of
// packetdrill and gVisor's packetimpact: a testbench plays a scenario
// against a device under test (DUT), injecting crafted TCP segments (built
// with packages header and option, keys, tokens and HMACs from mpcrypto),
// checking each segment the DUT sends back field by field with timing
// tolerances, and driving the DUT's application side (listen, accept,
// connect, read, write, shutdown, close) through a small control interface.
//
// Two DUTs stand behind one interface (DUT):
//
//   - the Linux kernel: sockets in a network namespace the run creates,
//     reached through a TUN device whose other end is the testbench (needs
//     root; the kernel proves that a scenario's script is right);
//   - our userspace stack (package stack) over an in-memory link
//     (link.NewPipe), which needs nothing.
//
// A scenario is a short Go function (Scenario.Run) written once and run for
// IPv4 and IPv6 against each DUT. Scenarios are registered in files named
// after what they test (tcp_*.go, mptcp_*.go); `go test ./conformance` runs
// them all, and conformance/cmd/table writes the results as a Markdown table.
package conformance
