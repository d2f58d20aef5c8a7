package capture_test

import (
	"errors"
	"fmt"
	"io"
	"log"

	"github.com/mptcp-go/mptcp/capture"
)

// Open a capture (pcap or pcapng, gzip or not), read it packet by packet
// and find the IP header of each.
func Example() {
	f, err := capture.Open("testdata/mptcp-sample.pcapng.gz")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	ipv4 := 0
	for {
		p, err := f.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			log.Fatal(err) // everything read before err is intact
		}
		n, err := capture.DecodeLink(p.LinkType, p.Data)
		if err == nil && n.Version == 4 {
			ipv4++ // n.Payload is the IPv4 packet, valid until the next f.Next
		}
	}
	fmt.Println(f.Format, ipv4 > 1000)
	// Output: pcapng true
}
