package stack_test

import (
	"context"
	"fmt"
	"io"
	"net/netip"

	"github.com/mptcp-go/mptcp/link"
	"github.com/mptcp-go/mptcp/stack"
)

// Two stacks joined by an in-memory link: one listens, the other dials,
// and they talk through the standard net.Conn interface. With a TUN or
// AF_PACKET endpoint instead of the pipe, the peer is the kernel.
func Example() {
	left, right := link.NewPipe(link.PipeOptions{})
	client, server := stack.New(stack.Options{}), stack.New(stack.Options{})
	defer client.Close()
	defer server.Close()
	client.AddInterface(left, stack.InterfaceConfig{Name: "c0", Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.0.1/24")}})
	server.AddInterface(right, stack.InterfaceConfig{Name: "s0", Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.0.2/24")}})

	ln, err := server.ListenTCP(netip.MustParseAddrPort("198.18.0.2:7"))
	if err != nil {
		panic(err)
	}
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		io.Copy(c, c) // echo until the client half-closes
		c.Close()
	}()

	c, err := client.DialTCP(context.Background(), netip.AddrPort{}, netip.MustParseAddrPort("198.18.0.2:7"))
	if err != nil {
		panic(err)
	}
	c.Write([]byte("hello, userspace TCP"))
	c.CloseWrite()
	reply, _ := io.ReadAll(c)
	c.Close()
	fmt.Printf("%s\n", reply)
	// Output: hello, userspace TCP
}
