package lab

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mptcp-go/mptcp/link/emu"
)

// RunEmulator runs path i's emulator of lab name until ctx is done: the
// body of the detached process Config.EmulatorCommand starts. It must run
// inside the path's middle namespace. It saves its counters every half
// second (the first save tells Up it is ready), takes the path down on
// SIGUSR1 and up on SIGUSR2.
func RunEmulator(ctx context.Context, stateDir, name string, path int, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if stateDir == "" {
		stateDir = DefaultStateDir
	}
	st, err := LoadState(stateDir, name)
	if err != nil {
		return err
	}
	if path < 1 || path > len(st.Paths) {
		return fmt.Errorf("lab %s: no path %d", name, path)
	}
	p := st.Paths[path-1]
	a, b, err := openPair(p.Namespace)
	if err != nil {
		return fmt.Errorf("lab %s path %s: %w", name, p.Name, err)
	}
	f, err := emu.New(a, b, p.Up, p.Down, emu.Options{Seed: st.Seed + 2*uint64(path-1), Logger: log})
	if err != nil {
		a.Close()
		b.Close()
		return err
	}
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(sig)
	f.Start()
	log.Info("emulator running", "lab", name, "path", p.Name, "up", p.Up.String(), "down", p.Down.String())
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	writeStats(stateDir, name, path, f.Stats())
	for {
		select {
		case <-ctx.Done():
			err := f.Close()
			writeStats(stateDir, name, path, f.Stats())
			return err
		case <-f.Done():
			return f.Close()
		case s := <-sig:
			f.SetDown(s == syscall.SIGUSR1)
			log.Info("path state changed by signal", "down", s == syscall.SIGUSR1)
		case <-t.C:
			writeStats(stateDir, name, path, f.Stats())
		}
	}
}

// PathStatus is one path's part of a Status.
type PathStatus struct {
	PathState
	// Stats are the emulator's counters (nil for a bridged path).
	Stats *emu.Stats `json:"stats,omitempty"`
	// EmulatorAlive says whether the detached emulator process runs.
	EmulatorAlive bool `json:"emulator_alive,omitempty"`
}

// Status is what "mptcp lab status" shows.
type Status struct {
	Name       string       `json:"name"`
	Created    time.Time    `json:"created"`
	ClientNS   string       `json:"client_ns"`
	ServerNS   string       `json:"server_ns"`
	ClientMode Mode         `json:"client_mode"`
	ServerMode Mode         `json:"server_mode"`
	Paths      []PathStatus `json:"paths"`
	// Missing lists namespaces of the record that no longer exist.
	Missing []string `json:"missing,omitempty"`
	// ClientMPTCP and ServerMPTCP are each kernel side's MPTCP state read
	// through netlink (sockets, endpoints, limits); nil for a side that is
	// not the kernel's or could not be read (ClientMPTCPError says why).
	ClientMPTCP      *MPTCPState `json:"client_mptcp"`
	ServerMPTCP      *MPTCPState `json:"server_mptcp"`
	ClientMPTCPError string      `json:"client_mptcp_error,omitempty"`
	ServerMPTCPError string      `json:"server_mptcp_error,omitempty"`
}

// Status gathers the lab's record, emulator counters and MPTCP sockets.
func (l *Lab) Status(ctx context.Context) (*Status, error) {
	s := &Status{Name: l.st.Name, Created: l.st.Created, ClientNS: l.st.ClientNS, ServerNS: l.st.ServerNS,
		ClientMode: l.st.ClientMode, ServerMode: l.st.ServerMode}
	for _, ns := range []string{l.st.ClientNS, l.st.ServerNS} {
		if !nsExists(ns) {
			s.Missing = append(s.Missing, ns)
		}
	}
	for i, p := range l.st.Paths {
		ps := PathStatus{PathState: p}
		if !nsExists(p.Namespace) {
			s.Missing = append(s.Missing, p.Namespace)
		}
		if p.Middle == "emulator" {
			if st, ok := l.EmulatorStats(i + 1); ok {
				ps.Stats = &st
			}
			ps.EmulatorAlive = l.fwd[i] != nil || (p.EmulatorPID > 0 && isEmulatorOf(p.EmulatorPID, l.st.Name))
		}
		s.Paths = append(s.Paths, ps)
	}
	read := func(side Side, ns string, mode Mode) (*MPTCPState, string) {
		if mode != Kernel || !nsExists(ns) {
			return nil, ""
		}
		st, err := l.MPTCPState(side)
		if err != nil {
			return nil, err.Error()
		}
		return st, ""
	}
	s.ClientMPTCP, s.ClientMPTCPError = read(Client, l.st.ClientNS, l.st.ClientMode)
	s.ServerMPTCP, s.ServerMPTCPError = read(Server, l.st.ServerNS, l.st.ServerMode)
	return s, nil
}
