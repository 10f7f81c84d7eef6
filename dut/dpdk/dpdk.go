// Package dpdk registers the DUT datapath "dpdk": a DPDK forwarder (the
// `fwd` subcommand of the dutlab-dpdk worker) that receives on the DUT's In
// port, rewrites the Ethernet header toward the Out port's peer and sends on
// Out, busy-polling on the DUT's first core. Ports are net_af_xdp vdevs bound
// to the lab's interfaces by name. The datapath side is pure Go: it starts
// the worker inside env.Netns and reads its JSON stats lines; the worker side,
// RunWorker (worker.go, tag "dpdk"), is what `dutlab-dpdk fwd` runs. It applies no
// Policy yet; it forwards everything.
package dpdk

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dutlab/dutlab/dut"
	"github.com/dutlab/dutlab/internal/dpdk"
)

func init() { dut.Register(New("")) }

// Datapath is the "dpdk" DUT datapath.
type Datapath struct {
	// Bin is the worker binary; "" finds it (dpdk.FindBinary).
	Bin string
	// PMD is the vdev driver for the ports: "af_xdp" (default) or "af_packet".
	PMD string
	// Hugepages runs the EAL on reserved hugepages (--in-memory).
	Hugepages bool
	// NoRewrite forwards frames untouched (testpmd io mode).
	NoRewrite bool
	// StartTimeout bounds the wait for the worker's first stats line (EAL up,
	// ports started); default 20 s.
	StartTimeout time.Duration
}

// New returns the datapath using the worker at bin ("" finds it).
func New(bin string) *Datapath { return &Datapath{Bin: bin} }

// Name implements dut.Datapath.
func (d *Datapath) Name() string { return "dpdk" }

// Config is the worker configuration Attach uses for env.
func (d *Datapath) Config(env dut.Env) (dpdk.FwdConfig, error) {
	var cfg dpdk.FwdConfig
	if env.In.Name == "" || env.Out.Name == "" {
		return cfg, errors.New("dpdk datapath: env needs In and Out ports")
	}
	if len(env.Out.PeerMAC) != 6 && !d.NoRewrite {
		return cfg, fmt.Errorf("dpdk datapath: Out port %s has no peer MAC to rewrite to", env.Out.Name)
	}
	core := 0
	if len(env.Cores) > 0 {
		core = env.Cores[0]
	}
	pmd := d.PMD
	if pmd == "" {
		pmd = "af_xdp"
	}
	in, out := "net_"+pmd+"0", "net_"+pmd+"1"
	cfg = dpdk.FwdConfig{
		EAL: dpdk.EALOptions{Lcores: []int{core}, FilePrefix: dpdk.FilePrefix("fwd"), Hugepages: d.Hugepages,
			VDevs: []string{in + ",iface=" + env.In.Name, out + ",iface=" + env.Out.Name}},
		InPort: in, OutPort: out, NoRewrite: d.NoRewrite,
	}
	if !d.NoRewrite {
		cfg.DstMAC = env.Out.PeerMAC.String()
		if len(env.Out.MAC) == 6 {
			cfg.SrcMAC = env.Out.MAC.String()
		}
	}
	return cfg, nil
}

// Attach implements dut.Datapath: it starts the forwarder in env.Netns and
// returns once its ports are up (its first stats line).
func (d *Datapath) Attach(ctx context.Context, env dut.Env) (dut.Running, error) {
	if err := dut.NoPolicy("dpdk", env); err != nil {
		return nil, err
	}
	cfg, err := d.Config(env)
	if err != nil {
		return nil, err
	}
	bin, err := dpdk.FindBinary(d.Bin)
	if err != nil {
		return nil, fmt.Errorf("dpdk datapath: %w: %w", dut.ErrNotSupported, err)
	}
	p, err := dpdk.Start(bin, "fwd", env.Netns, cfg)
	if err != nil {
		return nil, fmt.Errorf("dpdk datapath: %w", err)
	}
	r := &running{p: p, cfg: cfg, ready: make(chan struct{}), followed: make(chan struct{})}
	go r.follow()
	timeout := d.StartTimeout
	if timeout == 0 {
		timeout = 20 * time.Second
	}
	select {
	case <-r.ready:
		return r, nil
	case <-p.Done():
		return nil, fmt.Errorf("dpdk datapath: worker exited while starting: %w", r.exitErr())
	case <-ctx.Done():
		return nil, errors.Join(ctx.Err(), p.Stop(5*time.Second))
	case <-time.After(timeout):
		return nil, errors.Join(fmt.Errorf("dpdk datapath: no stats from the worker within %v: %s", timeout, p.Stderr()), p.Stop(5*time.Second))
	}
}

type running struct {
	p        *dpdk.Process
	cfg      dpdk.FwdConfig
	ready    chan struct{}
	followed chan struct{} // closed when every line was read
	once     sync.Once

	mu    sync.Mutex
	last  dpdk.StatsLine
	final bool
	fail  string
}

func (r *running) follow() {
	defer close(r.followed)
	for l := range r.p.Lines() {
		r.mu.Lock()
		switch l.Kind {
		case "progress", "final":
			r.last, r.final = l, l.Kind == "final"
		case "error":
			r.fail = l.Error
		}
		r.mu.Unlock()
		if l.Kind == "progress" {
			r.once.Do(func() { close(r.ready) })
		}
	}
}

func (r *running) exitErr() error {
	err := r.p.Err()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != "" {
		return errors.New(r.fail)
	}
	return err
}

// Counters implements dut.Running: the totals of the worker's last stats
// line (about a second old while it runs, exact after Close).
func (r *running) Counters() (dut.Counters, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return dut.Counters{RxPackets: r.last.RxPackets, TxPackets: r.last.TxPackets, DropPackets: r.last.DropPackets}, nil
}

// Info implements dut.Running.
func (r *running) Info() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	info := map[string]string{
		"datapath":    "dpdk",
		"mode":        "fwd",
		"eal_args":    strings.Join(r.cfg.EAL.Args(dpdk.BinaryName), " "),
		"lcores":      strconv.Itoa(r.cfg.EAL.Lcores[0]),
		"mac_rewrite": strconv.FormatBool(!r.cfg.NoRewrite),
	}
	maps.Copy(info, r.last.Info)
	return info
}

// Close implements dut.Running: SIGTERM, wait (SIGKILL after 10 s). The
// worker stops and closes its ports, which detaches the af_xdp programs.
func (r *running) Close() error {
	err := r.p.Stop(10 * time.Second)
	<-r.followed
	if err != nil {
		return fmt.Errorf("dpdk datapath: %w", err)
	}
	return nil
}
