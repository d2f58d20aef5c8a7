package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mptcp-go/mptcp/link/emu"
)

// ErrNotFound is returned when no lab of that name is recorded.
var ErrNotFound = errors.New("lab not found")

// State is what a lab records in StateDir/NAME/state.json: enough for
// another process ("mptcp lab status", "down", "exec") to find and remove
// everything.
type State struct {
	Name       string      `json:"name"`
	Created    time.Time   `json:"created"`
	ClientNS   string      `json:"client_ns"`
	ServerNS   string      `json:"server_ns"`
	ClientMode Mode        `json:"client_mode"`
	ServerMode Mode        `json:"server_mode"`
	Paths      []PathState `json:"paths"`
	// OwnerPID is the process whose goroutines run the emulators
	// (in-process labs); when it is gone the lab is a leftover.
	OwnerPID int `json:"owner_pid,omitempty"`
	// Seed seeds the emulators: path i uses Seed+2(i-1).
	Seed uint64 `json:"seed,omitempty"`
	// Offload: Config.Offload (bridged paths keep their offloads).
	Offload bool `json:"offload,omitempty"`
}

// PathState is one path's record.
type PathState struct {
	Index       int        `json:"index"`
	Name        string     `json:"name"`
	Namespace   string     `json:"namespace"`
	ClientIface string     `json:"client_iface"`
	ServerIface string     `json:"server_iface"`
	ClientAddr  netip.Addr `json:"client_addr"`
	ServerAddr  netip.Addr `json:"server_addr"`
	Prefix      int        `json:"prefix"`
	// ClientAddr6 and ServerAddr6 are set with Config.IPv6 (prefix /64).
	ClientAddr6 netip.Addr `json:"client_addr6,omitzero"`
	ServerAddr6 netip.Addr `json:"server_addr6,omitzero"`
	// Middle is "bridge" or "emulator".
	Middle      string   `json:"middle"`
	Up          emu.Spec `json:"up,omitzero"`
	Down        emu.Spec `json:"down,omitzero"`
	EmulatorPID int      `json:"emulator_pid,omitempty"`
}

func labDir(stateDir, name string) string { return filepath.Join(stateDir, name) }

func statePath(stateDir, name string) string {
	return filepath.Join(labDir(stateDir, name), "state.json")
}

func statsPath(stateDir, name string, path int) string {
	return filepath.Join(labDir(stateDir, name), "path"+strconv.Itoa(path)+".stats.json")
}

// writeFileAtomic writes via a temporary file and rename, so readers never
// see half a file.
func writeFileAtomic(name string, data []byte) error {
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}

func (s *State) save(stateDir string) error {
	if err := os.MkdirAll(labDir(stateDir, s.Name), 0o755); err != nil {
		return fmt.Errorf("lab %s: state dir: %w", s.Name, err)
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("lab %s: encode state: %w", s.Name, err)
	}
	if err := writeFileAtomic(statePath(stateDir, s.Name), b); err != nil {
		return fmt.Errorf("lab %s: save state: %w", s.Name, err)
	}
	return nil
}

// LoadState reads the record of lab name from stateDir (DefaultStateDir
// if empty).
func LoadState(stateDir, name string) (*State, error) {
	if stateDir == "" {
		stateDir = DefaultStateDir
	}
	b, err := os.ReadFile(statePath(stateDir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("lab %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("lab %s: %w", name, err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("lab %s: decode state: %w", name, err)
	}
	return &s, nil
}

// List returns the names of the labs recorded in stateDir (DefaultStateDir
// if empty), sorted.
func List(stateDir string) ([]string, error) {
	if stateDir == "" {
		stateDir = DefaultStateDir
	}
	ents, err := os.ReadDir(stateDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list labs: %w", err)
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() {
			if _, err := os.Stat(statePath(stateDir, e.Name())); err == nil {
				names = append(names, e.Name())
			}
		}
	}
	sort.Strings(names)
	return names, nil
}

// pidAlive reports whether a process exists.
func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// isEmulatorOf reports whether pid is the emulator process of lab name
// (its command line says so), so a recycled PID is never killed.
func isEmulatorOf(pid int, name string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	hasEmulate, hasName := false, false
	for _, a := range args {
		hasEmulate = hasEmulate || a == "emulate"
		hasName = hasName || a == name
	}
	return hasEmulate && hasName
}
