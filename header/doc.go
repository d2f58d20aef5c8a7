// Package header provides typed views over packet bytes, in the style of
// gVisor's pkg/tcpip/header: Ethernet, ARP, IPv4, IPv6 (with extension-header
// walking), TCP (with an allocation-free option iterator and option
// builders), ICMPv4 and ICMPv6 (including NDP neighbour solicitation and
// advertisement), and the internet checksum with pseudo-headers.
//
// A view is a byte slice with methods; nothing is copied. Every view has a
// Valid method that checks the buffer is long enough and self-consistent;
// call it before using the fixed-field accessors on bytes from the network.
// Valid and the variable-length accessors (Options, Payload, the option
// iterators) never panic on truncated or malformed input. The accessors of
// fixed fields assume Valid returned true.
//
// Setters and Encode methods write into the view in place; they are meant
// for building packets in buffers the caller sized.
package header
