// Package kernel is the "kernel" datapath: the DUT's own Linux stack forwards
// In -> Out with ip_forward, and an nftables table (inet dutlab) holds the
// forward chain where the policy's firewall rules go. It is the baseline the
// XDP, TC and DPDK datapaths are compared with.
//
// Attach changes only the DUT namespace it is given (sysctls, one route if
// needed, GRO on In, one nftables table) and Close puts every one of those
// back; it never touches the host namespace, links or addresses (the lab owns
// those).
package kernel

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"sync"

	"github.com/google/nftables"
	"github.com/vishvananda/netns"

	"github.com/dutlab/dutlab/dut"
	"github.com/dutlab/dutlab/internal/ethtool"
	"github.com/dutlab/dutlab/internal/measure"
	"github.com/dutlab/dutlab/internal/nsexec"
)

// Name is the datapath's name on the command line and in results.
const Name = "kernel"

func init() { dut.Register(Datapath{}) }

// Datapath is the kernel forwarding datapath.
type Datapath struct{}

// Name returns "kernel".
func (Datapath) Name() string { return Name }

// running is an attached kernel datapath. undo holds what Close must revert,
// in the order it was done.
type running struct {
	env  dut.Env
	nsh  netns.NsHandle // the DUT namespace, kept open for the nftables conn
	nft  *nftables.Conn
	info map[string]string

	inBase, outBase measure.Counters

	mu     sync.Mutex
	undo   []undoStep
	closed bool
}

type undoStep struct {
	what string
	fn   func() error
}

// Attach sets up kernel forwarding from env.In to env.Out inside env.Netns:
// IPv4 (and IPv6, if the namespace has it) forwarding on, a route to Out's
// peer subnet (added only if none goes out Out), GRO on In, and the nftables
// table inet dutlab with a forward chain that counts what comes in on In.
//
// GRO on In matters on veth: frames that a generator XDP-redirects into the
// peer of In are dropped unless In has a NAPI, and a veth has one only while
// GRO is on or an XDP program is attached. On error, everything done so far is
// undone.
func (Datapath) Attach(ctx context.Context, env dut.Env) (dut.Running, error) {
	if err := checkKernelPolicy(env.Policy); err != nil {
		return nil, err
	}
	if env.In.Name == "" || env.Out.Name == "" {
		return nil, fmt.Errorf("attach kernel datapath: In and Out need interface names")
	}
	r := &running{env: env, nsh: -1, info: map[string]string{}}
	if err := r.attach(ctx); err != nil {
		if cerr := r.Close(); cerr != nil {
			err = fmt.Errorf("%w (and undoing: %v)", err, cerr)
		}
		return nil, fmt.Errorf("attach kernel datapath in netns %q: %w", env.Netns, err)
	}
	return r, nil
}

func (r *running) push(what string, fn func() error) {
	r.undo = append(r.undo, undoStep{what, fn})
}

func (r *running) attach(ctx context.Context) error {
	steps := []func() error{r.enableForwarding, r.ensureRoute, r.enableGRO, r.createTable, r.takeBaselines}
	for _, step := range steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// enableForwarding turns on IPv4 and IPv6 forwarding in the DUT namespace.
// The writes happen on a thread inside the namespace: /proc/sys/net resolves
// against the namespace of the task that opens the file.
func (r *running) enableForwarding() error {
	for _, s := range []struct{ key, path string }{
		{"ip_forward", ipv4Forward},
		{"ipv6_forwarding", ipv6Forward},
	} {
		old, err := setSysctl(r.env.Netns, s.path, "1")
		if errors.Is(err, errNoSysctl) && s.path == ipv6Forward {
			continue // IPv6 is compiled out or the namespace has none
		}
		if err != nil {
			return err
		}
		path := s.path
		r.push("restore "+path, func() error {
			_, err := setSysctl(r.env.Netns, path, old)
			return err
		})
		r.info[s.key] = "1"
	}
	return nil
}

// ensureRoute makes sure traffic for Out's peer leaves through Out. The
// connected route of Out's address is enough; without one (Out has no
// address yet) a link-scope route to the peer subnet is added.
func (r *running) ensureRoute() error {
	dst, err := peerPrefix(r.env.Out)
	if err != nil {
		return err
	}
	added, err := ensureRoute(r.env.Netns, r.env.Out.Name, dst)
	if err != nil {
		return err
	}
	if added {
		r.push("delete route "+dst.String(), func() error {
			return deleteRoute(r.env.Netns, r.env.Out.Name, dst)
		})
		r.info["route_added"] = dst.String() + " dev " + r.env.Out.Name
	}
	return nil
}

// peerPrefix is the subnet Out's peer lives in: Out's own prefix, or the peer
// address alone when Out has none.
func peerPrefix(p dut.Port) (netip.Prefix, error) {
	switch {
	case p.Addr.IsValid():
		return p.Addr.Masked(), nil
	case p.PeerAddr.IsValid():
		return netip.PrefixFrom(p.PeerAddr, p.PeerAddr.BitLen()), nil
	}
	return netip.Prefix{}, fmt.Errorf("port %s has neither an address nor a peer address to route to", p.Name)
}

func (r *running) enableGRO() error {
	was, err := ethtool.SetGRO(r.env.Netns, r.env.In.Name, true)
	if errors.Is(err, ethtool.ErrNotSupported) {
		return fmt.Errorf("%w: %w", dut.ErrNotSupported, err)
	}
	if err != nil {
		return err
	}
	if !was {
		r.push("turn GRO off on "+r.env.In.Name, func() error {
			_, err := ethtool.SetGRO(r.env.Netns, r.env.In.Name, false)
			return err
		})
	}
	r.info["gro_in"] = "on"
	return nil
}

func (r *running) createTable() error {
	path := r.env.Netns
	switch {
	case path == "":
		path = "/proc/self/ns/net"
	case path[0] != '/':
		path = nsexec.Path(path)
	}
	nsh, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", path, err)
	}
	r.nsh = nsh
	r.nft, err = nftables.New(nftables.WithNetNSFd(int(nsh)))
	if err != nil {
		return fmt.Errorf("open nftables: %w", err)
	}
	created, err := createTable(r.nft, r.env.In.Name)
	if created {
		r.push("delete nftables table inet "+TableName, func() error { return deleteTable(r.nft) })
	}
	if err != nil {
		return err
	}
	r.info["nftables_table"] = "inet " + TableName
	if p := r.env.Policy; p != nil {
		if err := addPolicy(r.nft, p); err != nil {
			return err
		}
		r.info["policy"] = p.Name
		r.info["policy_rules"] = strconv.Itoa(len(p.Firewall.Rules))
		r.info["policy_blocklist"] = strconv.Itoa(len(p.Firewall.Blocklist))
	}
	return nil
}

func (r *running) takeBaselines() error {
	var err error
	if r.inBase, err = measure.LinkCounters(r.env.Netns, r.env.In.Name); err != nil {
		return err
	}
	r.outBase, err = measure.LinkCounters(r.env.Netns, r.env.Out.Name)
	return err
}

// Counters reports, since Attach: RxPackets, the frames In received (its
// interface counter, so frames the stack drops before the forward hook
// count too); TxPackets, the frames Out sent; DropPackets, the difference.
// Out's counter also holds anything the namespace itself sends out Out; the
// lab's static neighbours keep that to nothing during a run.
func (r *running) Counters() (dut.Counters, error) {
	in, err := measure.LinkCounters(r.env.Netns, r.env.In.Name)
	if err != nil {
		return dut.Counters{}, err
	}
	out, err := measure.LinkCounters(r.env.Netns, r.env.Out.Name)
	if err != nil {
		return dut.Counters{}, err
	}
	c := dut.Counters{
		RxPackets: in.Sub(r.inBase).RxPackets,
		TxPackets: out.Sub(r.outBase).TxPackets,
	}
	if c.RxPackets > c.TxPackets {
		c.DropPackets = c.RxPackets - c.TxPackets
	}
	return c, nil
}

// forwarded is the nftables counter: packets from In that reached the
// forward hook (routed, not yet sent).
func (r *running) forwarded() (uint64, error) {
	return readCounter(r.nft)
}

// Info describes the attachment: ip_forward, ipv6_forwarding (when the
// namespace has IPv6), nftables_table, gro_in and, if Attach added one,
// route_added.
func (r *running) Info() map[string]string {
	out := make(map[string]string, len(r.info))
	for k, v := range r.info {
		out[k] = v
	}
	return out
}

// Close reverts everything Attach did, newest first, and reports every step
// that failed. A second Close does nothing.
func (r *running) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	var errs []error
	for i := len(r.undo) - 1; i >= 0; i-- {
		if err := r.undo[i].fn(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.undo[i].what, err))
		}
	}
	r.undo = nil
	if r.nsh >= 0 {
		r.nsh.Close()
		r.nsh = -1
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close kernel datapath: %w", err)
	}
	return nil
}
