//go:build dpdk && cgo

package dpdk

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/dutlab/dutlab/internal/nsexec"
)

// Session is a started EAL with the ports and pools a worker set up on it;
// Close undoes everything. One per process, driven from the main thread.
type Session struct {
	prefix string
	ports  []Port
	names  []string
	pools  []*Mempool
}

// StartSession pins the process to the first lcore (the main one) and
// starts the EAL with o; an empty FilePrefix gets this process's own.
func StartSession(o EALOptions) (*Session, error) {
	if o.FilePrefix == "" {
		o.FilePrefix = FilePrefix("")
	}
	if len(o.Lcores) > 0 {
		if err := pinProcess(o.Lcores[0]); err != nil {
			return nil, err
		}
	}
	if err := Init(o.Args("dutlab-dpdk")); err != nil {
		return nil, err
	}
	return &Session{prefix: o.FilePrefix}, nil
}

// WorkerLcores are the lcores that run loops: the workers, or the main lcore
// alone when it is the only one.
func WorkerLcores() []uint {
	l := Lcores()
	if len(l) == 1 {
		return l
	}
	return l[1:]
}

// Port finds a port by name and sets it up once with nq queue pairs of ring
// descriptors each, receiving into rxPool; later calls return the same port.
func (s *Session) Port(name string, nq uint16, ring uint16, rxPool *Mempool) (Port, error) {
	for i, n := range s.names {
		if n == name {
			return s.ports[i], nil
		}
	}
	p, err := PortByName(name)
	if err != nil {
		return 0, err
	}
	if err := p.Configure(nq, nq); err != nil {
		return 0, err
	}
	for q := uint16(0); q < nq; q++ {
		if err := p.RxQueueSetup(q, ring, rxPool); err != nil {
			return 0, err
		}
		if err := p.TxQueueSetup(q, ring); err != nil {
			return 0, err
		}
	}
	if err := p.Start(); err != nil {
		return 0, err
	}
	_ = p.ResetStats()
	s.ports = append(s.ports, p)
	s.names = append(s.names, name)
	return p, nil
}

// Pool makes a pool of at least n mbufs (PoolSize with PoolFloor).
func (s *Session) Pool(name string, n uint) (*Mempool, error) {
	return s.PoolSized(name, n, PoolFloor)
}

// PoolSized makes a pool of PoolSize(n, floor) mbufs, freed by Close.
func (s *Session) PoolSized(name string, n, floor uint) (*Mempool, error) {
	p, err := NewPktmbufPool(name, PoolSize(n, floor), 256, 0)
	if err == nil {
		s.pools = append(s.pools, p)
	}
	return p, err
}

// PortInfo adds the ports' ethdev counters to info, as
// "<port>.opackets" and so on.
func (s *Session) PortInfo(info map[string]string) {
	for i, p := range s.ports {
		st, err := p.Stats()
		if err != nil {
			continue
		}
		k := s.names[i]
		info[k+".opackets"] = strconv.FormatUint(st.OPackets, 10)
		info[k+".ipackets"] = strconv.FormatUint(st.IPackets, 10)
		info[k+".imissed"] = strconv.FormatUint(st.IMissed, 10)
		info[k+".oerrors"] = strconv.FormatUint(st.OErrors, 10)
	}
}

// Close stops and closes the ports (af_xdp detaches its program on close),
// frees the pools and cleans the EAL up.
func (s *Session) Close() error {
	var errs []error
	for _, p := range s.ports {
		errs = append(errs, p.Stop(), p.Close())
	}
	for _, p := range s.pools {
		p.Free()
	}
	errs = append(errs, EALCleanup(), RemoveRuntime(s.prefix))
	return errors.Join(errs...)
}

// RunLoops launches worker i on lcores[i]; the one on the main lcore (if any)
// runs on this thread. It returns when every loop has ended.
func RunLoops(lcores []uint, launch func(i int, lc uint) error, runHere func(i int)) error {
	main := MainLcore()
	here := -1
	var launched []uint
	var err error
	for i, lc := range lcores {
		if lc == main {
			here = i
			continue
		}
		if err = launch(i, lc); err != nil {
			Stop(true, true)
			break
		}
		launched = append(launched, lc)
	}
	if here >= 0 && err == nil {
		runHere(here)
	}
	for _, lc := range launched {
		WaitLcore(lc)
	}
	return err
}

// StopSignals delivers SIGINT and SIGTERM, the engines' stop request; call
// the func to stop listening.
func StopSignals() (<-chan os.Signal, func()) {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGINT, syscall.SIGTERM)
	return c, func() { signal.Stop(c) }
}

// EnterNetns moves the calling thread (the main one, locked) into a
// namespace, by name under /run/netns or by path. Threads the EAL creates
// later (lcores, interrupts) inherit it.
func EnterNetns(name string) error {
	path := name
	if path[0] != '/' {
		path = nsexec.Path(name)
	}
	h, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", path, err)
	}
	defer h.Close()
	if err := netns.Set(h); err != nil {
		return fmt.Errorf("enter netns %s: %w", path, err)
	}
	return nil
}

// JoinLcores is lcores as the stats lines' Info writes them: "1,2".
func JoinLcores(v []uint) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatUint(uint64(x), 10)
	}
	return strings.Join(s, ",")
}

// pinProcess pins every thread of this process (the Go runtime's included)
// to cpu, the main lcore's, before the EAL starts: worker lcores then get
// their cores to themselves, and threads created later inherit the pinning.
func pinProcess(cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return fmt.Errorf("list threads: %w", err)
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("pin thread %d to cpu %d: %w", tid, cpu, err)
		}
	}
	return nil
}
