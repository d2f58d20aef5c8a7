package simnet_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/mptcp-go/mptcp/internal/simnet"
	"github.com/mptcp-go/mptcp/link/emu"
	"github.com/mptcp-go/mptcp/tcp"
)

// A phone with Wi-Fi and cellular addresses, a server with one, two paths;
// a TCP connection over Wi-Fi, which goes down for two seconds.
func Example() {
	wifiC, cellC := netip.MustParseAddr("198.18.1.1"), netip.MustParseAddr("198.18.2.1")
	srvA := netip.MustParseAddr("198.18.0.2")
	n := simnet.New(1)
	phone, _ := n.NewHost(wifiC, cellC)
	server, _ := n.NewHost(srvA)
	wifi, _ := emu.ParseSpec("rate=50mbit,delay=10ms,loss=0.5%,down@1s,up@3s")
	cell, _ := emu.ParseSpec("rate=10mbit,delay=40ms")
	n.Link(wifiC, srvA, wifi, wifi)
	n.Link(cellC, srvA, cell, cell)

	c, _ := phone.Endpoint(netip.AddrPortFrom(wifiC, 40000), netip.AddrPortFrom(srvA, 80), tcp.Config{})
	s, _ := server.Endpoint(netip.AddrPortFrom(srvA, 80), netip.AddrPortFrom(wifiC, 40000), tcp.Config{})
	s.Listen()
	c.Connect()

	data := make([]byte, 10<<20)
	sent, received := 0, 0
	buf := make([]byte, 64<<10)
	err := n.Run(func() bool {
		for sent < len(data) {
			w, _ := c.Write(data[sent:])
			if w == 0 {
				break
			}
			sent += w
		}
		for {
			r, _ := s.Read(buf)
			if r == 0 {
				break
			}
			received += r
		}
		return received == len(data)
	}, time.Minute)
	fmt.Println(err, received, n.Now() > 3*time.Second)
	// Output: <nil> 10485760 true
}
