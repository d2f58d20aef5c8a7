package labtest

import (
	"os"
	"testing"

	"github.com/mptcp-go/mptcp/lab"
)

func TestNewAndCleanup(t *testing.T) {
	var ns string
	t.Run("lab", func(t *testing.T) {
		l := New(t, lab.Config{})
		ns = l.Namespace(lab.Client)
		if _, err := os.Stat("/run/netns/" + ns); err != nil {
			t.Fatalf("client namespace missing: %v", err)
		}
		if l.NumPaths() != 2 || l.ServerAddr(2).String() != "198.18.2.2" {
			t.Errorf("paths %d, server addr %v", l.NumPaths(), l.ServerAddr(2))
		}
	})
	if ns == "" {
		t.Skip("lab not available here")
	}
	if _, err := os.Stat("/run/netns/" + ns); err == nil {
		t.Errorf("namespace %s left after the subtest ended", ns)
	}
}
