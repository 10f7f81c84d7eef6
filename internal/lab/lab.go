package lab

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/dutlab/dutlab/internal/nsexec"
	"github.com/dutlab/dutlab/topologies"
)

// Port is a node interface as brought up.
type Port struct {
	Node    string
	Netns   string
	Name    string
	Role    string
	Ifindex int
	MAC     net.HardwareAddr
	Addr    netip.Prefix
	Peer    *Port // the other end of a veth link; nil for host ports
}

// Node is a node as brought up.
type Node struct {
	Name  string
	Kind  string
	Netns string
	Cores []int
	Ports []*Port
}

// ByRole returns the node's first port with the given role, or nil.
func (n *Node) ByRole(role string) *Port {
	for _, p := range n.Ports {
		if p.Role == role {
			return p
		}
	}
	return nil
}

// Env is a lab that is up.
type Env struct {
	Spec  *topologies.Spec
	Nodes []*Node
	state *State
}

// Node returns the named node, or nil.
func (e *Env) Node(name string) *Node {
	for _, n := range e.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// FirstOfKind returns the first node of a kind, or nil.
func (e *Env) FirstOfKind(kind string) *Node {
	for _, n := range e.Nodes {
		if n.Kind == kind {
			return n
		}
	}
	return nil
}

// State returns what Up recorded (a copy).
func (e *Env) State() State { return *e.state }

// ErrExists is returned by Up when a lab of the same name is already up.
var ErrExists = errors.New("lab is already up")

// Up creates the lab described by spec. On any error everything created so far
// is removed again before Up returns.
func Up(ctx context.Context, spec *topologies.Spec) (env *Env, err error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("bringing a lab up needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN)")
	}
	if _, err := ReadState(spec.Name); err == nil {
		return nil, fmt.Errorf("lab %q: %w (run `dutlab down %s` first)", spec.Name, ErrExists, spec.Name)
	}
	for _, n := range spec.Nodes {
		if _, err := os.Stat("/run/netns/" + n.Netns); err == nil {
			return nil, fmt.Errorf("lab %q: namespace %s exists without a state file: %w (run `dutlab down --all`)", spec.Name, n.Netns, ErrExists)
		}
	}
	if err := checkHostPorts(spec); err != nil {
		return nil, err
	}
	st := &State{Name: spec.Name, Source: spec.Source, PID: os.Getpid(), CreatedAt: time.Now().UTC()}
	for _, n := range spec.Nodes {
		st.Netns = append(st.Netns, n.Netns)
	}
	for _, l := range spec.Links {
		if l.Type == topologies.LinkHost {
			st.HostPorts = append(st.HostPorts, HostPort{HostName: l.HostInterface, Netns: spec.Node(l.A.Node).Netns, Name: l.A.Interface})
		}
	}
	// Record the intent before creating anything: a kill between here and the
	// end still leaves Down enough to find every piece.
	if err := writeState(st); err != nil {
		return nil, err
	}
	env = &Env{Spec: spec, state: st}
	defer func() {
		if err != nil {
			if derr := teardown(st); derr != nil {
				err = errors.Join(err, fmt.Errorf("clean up after failed up: %w", derr))
			}
		}
	}()
	if err := env.build(ctx); err != nil {
		return nil, fmt.Errorf("bring up lab %q: %w", spec.Name, err)
	}
	return env, nil
}

func (e *Env) build(ctx context.Context) error {
	spec := e.Spec
	handles := map[string]*netlink.Handle{}
	fds := map[string]netns.NsHandle{}
	defer func() {
		for _, h := range handles {
			h.Close()
		}
		for _, fd := range fds {
			fd.Close()
		}
	}()
	for _, n := range spec.Nodes {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := CreateNetns(n.Netns, !hasIPv6(n)); err != nil {
			return err
		}
		fd, err := netns.GetFromName(n.Netns)
		if err != nil {
			return fmt.Errorf("open netns %s: %w", n.Netns, err)
		}
		fds[n.Name] = fd
		h, err := netlink.NewHandleAt(fd)
		if err != nil {
			return fmt.Errorf("netlink in %s: %w", n.Netns, err)
		}
		handles[n.Name] = h
		lo, err := h.LinkByName("lo")
		if err == nil {
			err = h.LinkSetUp(lo)
		}
		if err != nil {
			return fmt.Errorf("set lo up in %s: %w", n.Netns, err)
		}
		node := &Node{Name: n.Name, Kind: n.Kind, Netns: n.Netns, Cores: n.Cores}
		e.Nodes = append(e.Nodes, node)
	}
	ports := map[topologies.Endpoint]*Port{}
	port := func(ep topologies.Endpoint) *Port {
		sn := spec.Node(ep.Node)
		si := sn.Interface(ep.Interface)
		p := &Port{Node: sn.Name, Netns: sn.Netns, Name: si.Name, Role: si.Role, Addr: si.Address, MAC: si.MAC}
		if p.MAC == nil {
			p.MAC = stableMAC(spec.Name, sn.Name, si.Name)
		}
		ports[ep] = p
		e.Node(sn.Name).Ports = append(e.Node(sn.Name).Ports, p)
		return p
	}
	for _, l := range spec.Links {
		switch l.Type {
		case topologies.LinkVeth:
			a, b := port(l.A), port(l.B)
			a.Peer, b.Peer = b, a
			veth := &netlink.Veth{
				LinkAttrs: netlink.LinkAttrs{
					Name: a.Name, HardwareAddr: a.MAC, MTU: spec.Node(l.A.Node).Interface(l.A.Interface).MTU,
					Namespace: netlink.NsFd(fds[l.A.Node]),
				},
				PeerName: b.Name, PeerHardwareAddr: b.MAC, PeerNamespace: netlink.NsFd(fds[l.B.Node]),
			}
			if err := netlink.LinkAdd(veth); err != nil {
				return fmt.Errorf("create veth %s <-> %s: %w", l.A, l.B, err)
			}
			if mtu := spec.Node(l.B.Node).Interface(l.B.Interface).MTU; mtu != 0 {
				if err := setMTU(handles[l.B.Node], b.Name, mtu); err != nil {
					return err
				}
			}
		case topologies.LinkHost:
			p := port(l.A)
			if err := moveHostPort(l.HostInterface, fds[l.A.Node], handles[l.A.Node], p); err != nil {
				return err
			}
		}
	}
	for _, n := range e.Nodes {
		h := handles[n.Name]
		for _, p := range n.Ports {
			link, err := h.LinkByName(p.Name)
			if err != nil {
				return fmt.Errorf("find %s in %s: %w", p.Name, n.Netns, err)
			}
			p.Ifindex = link.Attrs().Index
			if p.Addr.IsValid() {
				addr := &netlink.Addr{IPNet: prefixToIPNet(p.Addr)}
				if err := h.AddrAdd(link, addr); err != nil {
					return fmt.Errorf("add %s to %s:%s: %w", p.Addr, n.Name, p.Name, err)
				}
			}
			if err := h.LinkSetUp(link); err != nil {
				return fmt.Errorf("set %s:%s up: %w", n.Name, p.Name, err)
			}
		}
	}
	// Static neighbours: no ARP or ND traffic disturbs a measurement.
	for _, n := range e.Nodes {
		for _, p := range n.Ports {
			if p.Peer == nil || !p.Peer.Addr.IsValid() {
				continue
			}
			neigh := &netlink.Neigh{
				LinkIndex: p.Ifindex, State: netlink.NUD_PERMANENT,
				IP: net.IP(p.Peer.Addr.Addr().AsSlice()), HardwareAddr: p.Peer.MAC,
			}
			if err := handles[n.Name].NeighSet(neigh); err != nil {
				return fmt.Errorf("static neighbour %s on %s:%s: %w", p.Peer.Addr.Addr(), n.Name, p.Name, err)
			}
		}
	}
	if err := e.threadNAPI(); err != nil {
		return err
	}
	return writeState(e.state)
}

func setMTU(h *netlink.Handle, name string, mtu int) error {
	l, err := h.LinkByName(name)
	if err == nil {
		err = h.LinkSetMTU(l, mtu)
	}
	if err != nil {
		return fmt.Errorf("set mtu %d on %s: %w", mtu, name, err)
	}
	return nil
}

func hasIPv6(n topologies.Node) bool {
	for _, i := range n.Interfaces {
		if i.Address.IsValid() && i.Address.Addr().Is6() {
			return true
		}
	}
	return false
}

// CreateNetns creates a named namespace. With noIPv6, IPv6 is disabled in it
// before any interface exists, so no router solicitation or MLD report shows
// up in a measurement.
func CreateNetns(name string, noIPv6 bool) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends in the new namespace
		h, err := netns.NewNamed(name)
		if err != nil {
			errc <- fmt.Errorf("create netns %s: %w", name, err)
			return
		}
		h.Close()
		if noIPv6 {
			for _, f := range []string{"/proc/sys/net/ipv6/conf/all/disable_ipv6", "/proc/sys/net/ipv6/conf/default/disable_ipv6"} {
				if err := os.WriteFile(f, []byte("1"), 0); err != nil && !errors.Is(err, os.ErrNotExist) {
					errc <- fmt.Errorf("disable ipv6 in %s: %w", name, err)
					return
				}
			}
		}
		errc <- nil
	}()
	return <-errc
}

func moveHostPort(hostName string, fd netns.NsHandle, h *netlink.Handle, p *Port) error {
	link, err := netlink.LinkByName(hostName)
	if err != nil {
		return fmt.Errorf("host interface %s: %w", hostName, err)
	}
	if err := netlink.LinkSetDown(link); err != nil {
		return fmt.Errorf("set %s down: %w", hostName, err)
	}
	if err := netlink.LinkSetNsFd(link, int(fd)); err != nil {
		return fmt.Errorf("move %s into %s: %w", hostName, p.Netns, err)
	}
	inner, err := h.LinkByName(hostName)
	if err != nil {
		return fmt.Errorf("find %s in %s: %w", hostName, p.Netns, err)
	}
	if hostName != p.Name {
		if err := h.LinkSetName(inner, p.Name); err != nil {
			return fmt.Errorf("rename %s to %s: %w", hostName, p.Name, err)
		}
	}
	p.MAC = inner.Attrs().HardwareAddr
	return nil
}

// stableMAC derives a locally administered unicast MAC from the port's name,
// so repeated runs of the same lab use the same addresses.
func stableMAC(lab, node, iface string) net.HardwareAddr {
	sum := sha256.Sum256([]byte(lab + "/" + node + "/" + iface))
	mac := net.HardwareAddr(append([]byte{0x02}, sum[:5]...))
	return mac
}

func prefixToIPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// checkHostPorts refuses to take the host's default-route interface unless
// the topology allows it.
func checkHostPorts(spec *topologies.Spec) error {
	var defaults map[string]bool
	for _, l := range spec.Links {
		if l.Type != topologies.LinkHost {
			continue
		}
		if defaults == nil {
			defaults = defaultRouteInterfaces()
		}
		if defaults[l.HostInterface] && !spec.AllowHostInterface {
			return fmt.Errorf("%s: link %s: host interface %s carries the host's default route; refusing to use it (set allow-host-interface: true to override)", spec.Source, l.A, l.HostInterface)
		}
	}
	return nil
}

func defaultRouteInterfaces() map[string]bool {
	out := map[string]bool{}
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		routes, err := netlink.RouteListFiltered(fam, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
		if err != nil {
			continue
		}
		for _, r := range routes {
			if r.Dst != nil && !r.Dst.IP.IsUnspecified() {
				continue
			}
			if l, err := netlink.LinkByIndex(r.LinkIndex); err == nil {
				out[l.Attrs().Name] = true
			}
		}
	}
	return out
}

// Down removes everything the lab created and its state file.
func (e *Env) Down() error { return teardown(e.state) }

// Down removes the named lab using its state file; it works after the
// process that brought the lab up was killed.
func Down(name string) error {
	st, err := ReadState(name)
	if err != nil {
		return err
	}
	return teardown(st)
}

func teardown(st *State) error {
	var errs []error
	// Host ports go back to the host under their own names before their
	// namespace goes (the kernel would return them, but renamed).
	for _, hp := range st.HostPorts {
		if err := returnHostPort(hp); err != nil {
			errs = append(errs, err)
		}
	}
	for i := len(st.Netns) - 1; i >= 0; i-- {
		killInside(st.Netns[i])
		if err := DeleteNetns(st.Netns[i]); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.Remove(statePath(st.Name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func returnHostPort(hp HostPort) error {
	fd, err := netns.GetFromName(hp.Netns)
	if err != nil {
		return nil // namespace already gone: the kernel returned the port
	}
	defer fd.Close()
	h, err := netlink.NewHandleAt(fd)
	if err != nil {
		return err
	}
	defer h.Close()
	l, err := h.LinkByName(hp.Name)
	if err != nil {
		return nil // never moved in
	}
	_ = nsexec.Do(hp.Netns, func() error { return netlink.LinkSetXdpFd(l, -1) })
	_ = h.LinkSetDown(l)
	if hp.Name != hp.HostName {
		if err := h.LinkSetName(l, hp.HostName); err != nil {
			return fmt.Errorf("rename %s back to %s: %w", hp.Name, hp.HostName, err)
		}
	}
	self, err := netns.GetFromPid(1)
	if err != nil {
		return err
	}
	defer self.Close()
	if err := h.LinkSetNsFd(l, int(self)); err != nil {
		return fmt.Errorf("return %s to the host: %w", hp.HostName, err)
	}
	return nil
}

// DeleteNetns removes a named namespace (none is no error); deleting it destroys its veths, the
// XDP programs attached to them and its nftables tables.
func DeleteNetns(name string) error {
	if _, err := os.Stat("/run/netns/" + name); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := netns.DeleteNamed(name); err != nil {
		return fmt.Errorf("delete netns %s: %w", name, err)
	}
	return nil
}

// NetnsPrefix starts the name of every namespace a lab creates.
const NetnsPrefix = "dl-"

// DownAll takes down every lab with a state file, then removes namespaces
// named dl-* that no state file claims (left by a run killed before its state
// file was written, or by a state directory on a tmpfs that was cleared).
func DownAll() error {
	var errs []error
	states, err := List()
	if err != nil {
		errs = append(errs, err)
	}
	for _, st := range states {
		if err := teardown(st); err != nil {
			errs = append(errs, err)
		}
	}
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), NetnsPrefix) {
			killInside(e.Name())
			if err := DeleteNetns(e.Name()); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
