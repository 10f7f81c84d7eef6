package xdp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/dutlab/dutlab/dut"
	"github.com/dutlab/dutlab/dut/policy"
	"github.com/dutlab/dutlab/internal/nsexec"
)

// Mode is how an XDP program is attached to an interface.
type Mode int

const (
	// Native runs the program in the driver (XDP_FLAGS_DRV_MODE).
	Native Mode = iota
	// Generic runs it on the skb path (XDP_FLAGS_SKB_MODE); slower, but every
	// driver has it and redirects into a veth always deliver.
	Generic
)

func (m Mode) String() string {
	switch m {
	case Native:
		return "native"
	case Generic:
		return "generic"
	}
	return "mode(" + strconv.Itoa(int(m)) + ")"
}

func (m Mode) flags() link.XDPAttachFlags {
	if m == Generic {
		return link.XDPGenericMode
	}
	return link.XDPDriverMode
}

func init() {
	dut.Register(Datapath{Mode: Native})
	dut.Register(Datapath{Mode: Generic})
}

// Config is what xdp_fwd is loaded with (its const volatile globals).
type Config struct {
	OutSMAC net.HardwareAddr // source MAC of forwarded frames: the Out port's MAC
	OutDMAC net.HardwareAddr // destination MAC: the interface across Out's wire
	DecTTL  bool             // decrement IPv4 TTL / IPv6 hop limit, drop at expiry
}

// loadForwarder loads xdp_fwd and xdp_pass with cfg. The caller closes the
// objects. Loading touches no interface, so it may run in any namespace.
func loadForwarder(cfg Config) (*fwdObjects, error) {
	if len(cfg.OutSMAC) != 6 || len(cfg.OutDMAC) != 6 {
		return nil, fmt.Errorf("load xdp_fwd: MACs must be 6 bytes (src %q, dst %q)", cfg.OutSMAC, cfg.OutDMAC)
	}
	spec, err := loadFwd()
	if err != nil {
		return nil, err
	}
	var smac, dmac [6]byte
	copy(smac[:], cfg.OutSMAC)
	copy(dmac[:], cfg.OutDMAC)
	var decTTL uint8
	if cfg.DecTTL {
		decTTL = 1
	}
	for name, v := range map[string]any{fwdVarOutSmac: smac, fwdVarOutDmac: dmac, fwdVarDecTtl: decTTL} {
		if err := spec.Variables[name].Set(v); err != nil {
			return nil, fmt.Errorf("set %s: %w", name, err)
		}
	}
	objs := new(fwdObjects)
	if err := spec.LoadAndAssign(objs, nil); err != nil {
		return nil, fmt.Errorf("load xdp_fwd: %w", err)
	}
	return objs, nil
}

// Datapath is the XDP forwarder attached in one mode. The registered
// datapaths are xdp-native and xdp-generic, both with DecTTL off.
type Datapath struct {
	Mode   Mode
	DecTTL bool
}

// Name is "xdp-native" or "xdp-generic" ("-ttl" appended with DecTTL).
func (d Datapath) Name() string {
	n := "xdp-" + d.Mode.String()
	if d.DecTTL {
		n += "-ttl"
	}
	return n
}

// Attach loads xdp_fwd for env, points its devmap at env.Out and attaches it
// to env.In, all inside env.Netns. A mode the kernel or driver refuses is
// reported as an error wrapping dut.ErrNotSupported.
func (d Datapath) Attach(ctx context.Context, env dut.Env) (dut.Running, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if d.Mode != Native && d.Mode != Generic {
		return nil, fmt.Errorf("attach %s: unknown mode", d.Name())
	}
	a := &Attachment{mode: d.Mode, netns: env.Netns, decTTL: d.DecTTL, policy: env.Policy}
	err := nsexec.Do(env.Netns, func() error { return a.attach(env) })
	if err != nil {
		a.Close()
		return nil, fmt.Errorf("attach %s in netns %q: %w", d.Name(), env.Netns, err)
	}
	return a, nil
}

// Attachment is an attached XDP forwarder (the dut.Running of this package).
type Attachment struct {
	mode    Mode
	netns   string
	decTTL  bool
	in, out *net.Interface
	objs    *fwdObjects
	policy  *policy.Policy // when set, xdp_policy runs in place of xdp_fwd
	pol     *Policy
	lnk     link.Link
	progID  ebpf.ProgramID
	linkID  link.ID
}

// attach runs inside the DUT namespace.
func (a *Attachment) attach(env dut.Env) error {
	var err error
	if a.in, err = lookupPort(env.In); err != nil {
		return err
	}
	if a.out, err = lookupPort(env.Out); err != nil {
		return err
	}
	smac := env.Out.MAC
	if len(smac) == 0 {
		smac = a.out.HardwareAddr
	}
	if len(env.Out.PeerMAC) == 0 {
		return fmt.Errorf("port %s: no PeerMAC (the forwarder does no ARP)", a.out.Name)
	}
	prog, progName := (*ebpf.Program)(nil), "xdp_fwd"
	if a.policy != nil {
		// bpf_redirect resolves the ifindex in this namespace, as the devmap does.
		if a.pol, err = LoadPolicy(a.policy, PolicyPorts{OutSMAC: smac, OutDMAC: env.Out.PeerMAC, OutIfindex: a.out.Index}); err != nil {
			return err
		}
		prog, progName = a.pol.Program(), "xdp_policy"
	} else {
		if a.objs, err = loadForwarder(Config{OutSMAC: smac, OutDMAC: env.Out.PeerMAC, DecTTL: a.decTTL}); err != nil {
			return err
		}
		// The devmap resolves the ifindex in the caller's namespace: keep this here.
		if err := a.objs.TxPort.Put(uint32(0), uint32(a.out.Index)); err != nil {
			return fmt.Errorf("put %s (ifindex %d) in tx_port: %w", a.out.Name, a.out.Index, err)
		}
		prog = a.objs.XdpFwd
	}
	a.lnk, err = link.AttachXDP(link.XDPOptions{
		Program:   prog,
		Interface: a.in.Index,
		Flags:     a.mode.flags(),
	})
	if err != nil {
		err = fmt.Errorf("attach %s (%s) to %s: %w", progName, a.mode, a.in.Name, err)
		if refused(err) {
			return fmt.Errorf("%w: %w", dut.ErrNotSupported, err)
		}
		return err
	}
	if info, err := prog.Info(); err == nil {
		a.progID, _ = info.ID()
	}
	if info, err := a.lnk.Info(); err == nil {
		a.linkID = info.ID
	}
	return nil
}

// refused tells a mode the kernel or driver does not offer from other errors.
func refused(err error) bool {
	return errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOTSUP) ||
		errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, ebpf.ErrNotSupported)
}

// lookupPort finds p in the current namespace by name (checking the ifindex
// if one is given) or by ifindex alone.
func lookupPort(p dut.Port) (*net.Interface, error) {
	if p.Name == "" {
		ifi, err := net.InterfaceByIndex(p.Ifindex)
		if err != nil {
			return nil, fmt.Errorf("look up ifindex %d: %w", p.Ifindex, err)
		}
		return ifi, nil
	}
	ifi, err := net.InterfaceByName(p.Name)
	if err != nil {
		return nil, fmt.Errorf("look up port %s: %w", p.Name, err)
	}
	if p.Ifindex != 0 && p.Ifindex != ifi.Index {
		return nil, fmt.Errorf("port %s has ifindex %d, not %d", p.Name, ifi.Index, p.Ifindex)
	}
	return ifi, nil
}

// Stats returns xdp_fwd's own counters, summed over CPUs.
func (a *Attachment) Stats() (Stats, error) {
	if a.objs == nil {
		return Stats{}, errors.New("read stats: not attached")
	}
	return readStats(a.objs.Stats)
}

// Counters implements dut.Running. Drops include aborted frames and, with
// a policy, every frame the policy dropped.
func (a *Attachment) Counters() (dut.Counters, error) {
	if a.pol != nil {
		c, err := a.pol.Counters()
		if err != nil {
			return dut.Counters{}, err
		}
		drop := c.Malformed + c.Blocked + c.ICMPEcho + c.DefaultDrop
		for i, r := range a.policy.Firewall.Rules {
			if r.Action == policy.Drop {
				drop += c.Rules[i]
			}
		}
		return dut.Counters{RxPackets: c.Forwarded + drop, TxPackets: c.Forwarded, DropPackets: drop}, nil
	}
	s, err := a.Stats()
	if err != nil {
		return dut.Counters{}, err
	}
	return dut.Counters{
		RxPackets:   s.RX.Packets,
		TxPackets:   s.Redirect.Packets,
		DropPackets: s.Drop.Packets + s.Aborted.Packets,
	}, nil
}

// Info implements dut.Running.
func (a *Attachment) Info() map[string]string {
	m := map[string]string{
		"xdp_mode": a.mode.String(),
		"prog_id":  strconv.FormatUint(uint64(a.progID), 10),
		"link_id":  strconv.FormatUint(uint64(a.linkID), 10),
		"dec_ttl":  strconv.FormatBool(a.decTTL),
		"netns":    a.netns,
	}
	if a.policy != nil {
		m["program"] = "xdp_policy"
		m["policy"] = a.policy.Name
		m["policy_rules"] = strconv.Itoa(len(a.policy.Firewall.Rules))
		m["policy_blocklist"] = strconv.Itoa(len(a.policy.Firewall.Blocklist))
		m["policy_vips"] = strconv.Itoa(len(a.policy.LB.VIPs))
	}
	if a.in != nil {
		m["attached_to"] = a.in.Name
		m["attached_ifindex"] = strconv.Itoa(a.in.Index)
	}
	if a.out != nil {
		m["redirect_to"] = a.out.Name
		m["redirect_ifindex"] = strconv.Itoa(a.out.Index)
	}
	return m
}

// Close detaches the program and frees every object; it may be called again.
func (a *Attachment) Close() error {
	var errs []error
	if a.lnk != nil {
		if err := a.lnk.Close(); err != nil {
			errs = append(errs, fmt.Errorf("detach xdp_fwd: %w", err))
		}
		a.lnk = nil
	}
	if a.objs != nil {
		if err := a.objs.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close xdp objects: %w", err))
		}
		a.objs = nil
	}
	if a.pol != nil {
		if err := a.pol.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close xdp_policy: %w", err))
		}
		a.pol = nil
	}
	return errors.Join(errs...)
}

// PassProgram attaches xdp_pass (native mode) to the named interface in netns
// and returns what detaches it. On a veth this gives the device a NAPI
// instance, which is what lets native XDP redirects into its peer deliver.
func PassProgram(netns, ifname string) (interface{ Close() error }, error) {
	spec, err := loadFwd()
	if err != nil {
		return nil, err
	}
	var objs struct {
		XdpPass *ebpf.Program `ebpf:"xdp_pass"`
	}
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		return nil, fmt.Errorf("load xdp_pass: %w", err)
	}
	var lnk link.Link
	err = nsexec.Do(netns, func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return fmt.Errorf("look up %s: %w", ifname, err)
		}
		lnk, err = link.AttachXDP(link.XDPOptions{Program: objs.XdpPass, Interface: ifi.Index, Flags: link.XDPDriverMode})
		if err != nil {
			err = fmt.Errorf("attach xdp_pass to %s: %w", ifname, err)
			if refused(err) {
				return fmt.Errorf("%w: %w", dut.ErrNotSupported, err)
			}
		}
		return err
	})
	// The link holds its own reference to the program.
	objs.XdpPass.Close()
	if err != nil {
		return nil, err
	}
	return lnk, nil
}
