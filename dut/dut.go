// Package dut defines what a device under test is: a datapath that forwards
// (and later filters and balances) frames from an In port to an Out port inside
// a lab namespace. It owns the Datapath interface and the registry; it must not
// import the generator, the plugins or the lab.
package dut

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"sync"

	"github.com/dutlab/dutlab/dut/policy"
)

// Port is one DUT port and what sits across its wire.
type Port struct {
	Name     string // interface name inside the DUT namespace
	Ifindex  int
	MAC      net.HardwareAddr
	Addr     netip.Prefix
	PeerMAC  net.HardwareAddr // MAC of the interface at the other end of the wire
	PeerAddr netip.Addr
}

// Env is where a datapath runs: the DUT's namespace, its ports and cores.
type Env struct {
	Netns string // namespace name (under /run/netns) or path
	In    Port   // frames from the generator arrive here
	Out   Port   // frames leave here toward the generator's receive port
	Cores []int  // cores given to the DUT
	// Policy, when set, is the firewall and load-balancer policy the DUT
	// runs instead of plain forwarding. A datapath that cannot run one
	// refuses with an error wrapping ErrNotSupported.
	Policy *policy.Policy
}

// Counters are what a datapath itself counted since it was attached.
type Counters struct {
	RxPackets   uint64 // frames the datapath saw on In
	TxPackets   uint64 // frames it forwarded to Out
	DropPackets uint64 // frames it dropped (policy or error)
}

// Datapath is one way of running the DUT function (kernel, xdp-native, ...).
type Datapath interface {
	// Name is the datapath's name as used on the command line and in results.
	Name() string
	// Attach sets the datapath up in env. The returned Running is detached by
	// its Close, which must leave nothing of the datapath behind.
	Attach(ctx context.Context, env Env) (Running, error)
}

// Running is an attached datapath.
type Running interface {
	Counters() (Counters, error)
	// Info describes the attachment for the result manifest (mode, program id, ...).
	Info() map[string]string
	Close() error
}

// ErrNotSupported is returned when the kernel or the machine lacks a feature a
// datapath needs; callers may skip that datapath.
var ErrNotSupported = errors.New("not supported")

var (
	mu       sync.Mutex
	registry = map[string]Datapath{}
)

// Register makes a datapath available by name. It panics on a duplicate name.
func Register(d Datapath) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[d.Name()]; dup {
		panic("dut: datapath registered twice: " + d.Name())
	}
	registry[d.Name()] = d
}

// Lookup returns the named datapath.
func Lookup(name string) (Datapath, error) {
	mu.Lock()
	defer mu.Unlock()
	d, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("datapath %q is not supported; supported datapaths are %v", name, namesLocked())
	}
	return d, nil
}

// Names lists the registered datapaths, sorted.
func Names() []string {
	mu.Lock()
	defer mu.Unlock()
	return namesLocked()
}

func namesLocked() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// NoPolicy is what a datapath that runs no policy yet returns from Attach
// when env.Policy is set.
func NoPolicy(name string, env Env) error {
	if env.Policy == nil {
		return nil
	}
	return fmt.Errorf("%s runs no firewall or load-balancer policy yet (xdp-native and xdp-generic do; kernel runs its firewall): %w", name, ErrNotSupported)
}
