package filter_test

import (
	"fmt"
	"log"

	"github.com/mptcp-go/mptcp/capture/filter"
	"golang.org/x/net/bpf"
)

// Run the filter in the userspace BPF VM: a raw-IP SYN is kept.
func ExampleProgram() {
	prog, err := filter.Program(filter.Raw, 0)
	if err != nil {
		log.Fatal(err)
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		log.Fatal(err)
	}
	syn := []byte{0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2,
		0x9c, 0x40, 1, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0}
	n, _ := vm.Run(syn)
	fmt.Println(n, filter.Match(filter.Raw, syn))
	// Output: 262144 true
}
