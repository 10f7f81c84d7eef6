package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// StateDir holds one state file per lab that is up.
var StateDir = "/run/dutlab/labs"

// State is what Up recorded about a lab, enough for Down to undo it.
type State struct {
	Name      string      `json:"name"`
	Source    string      `json:"source"`
	PID       int         `json:"pid"`
	CreatedAt time.Time   `json:"created_at"`
	Netns     []string    `json:"netns"`                // namespaces, in creation order
	HostPorts []HostPort  `json:"host_ports,omitempty"` // host interfaces moved into a node
	NAPI      []NAPIEntry `json:"napi,omitempty"`       // threaded NAPI kthreads and where they were pinned
}

// HostPort is a host interface that Up moved into a node namespace.
type HostPort struct {
	HostName string `json:"host_name"` // name on the host, restored by Down
	Netns    string `json:"netns"`
	Name     string `json:"name"` // name inside the node
}

// NAPIEntry is one threaded NAPI kthread.
type NAPIEntry struct {
	Netns     string `json:"netns"`
	Interface string `json:"interface"`
	PID       int    `json:"pid"`
	Comm      string `json:"comm"`
	Cores     []int  `json:"cores"`
}

func statePath(name string) string { return filepath.Join(StateDir, name+".json") }

func writeState(st *State) error {
	if err := os.MkdirAll(StateDir, 0o755); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := statePath(st.Name) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("write lab state: %w", err)
	}
	return os.Rename(tmp, statePath(st.Name))
}

// ReadState returns the recorded state of lab name, or an error wrapping
// os.ErrNotExist when it is not up.
func ReadState(name string) (*State, error) {
	b, err := os.ReadFile(statePath(name))
	if err != nil {
		return nil, fmt.Errorf("lab %q: %w", name, err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("read state of lab %q: %w", name, err)
	}
	return &st, nil
}

// List returns the states of all labs that are up, sorted by name.
func List() ([]*State, error) {
	ents, err := os.ReadDir(StateDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*State
	for _, e := range ents {
		n, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		st, err := ReadState(n)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
