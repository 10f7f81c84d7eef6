package lab

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dutlab/dutlab/internal/ethtool"
	"github.com/dutlab/dutlab/internal/nsexec"
	"github.com/dutlab/dutlab/topologies"
)

// On veth the receive path runs in the receiving device's NAPI, by default in
// the softirq of the CPU that transmitted into it. A veth has a NAPI only while
// GRO is on or an XDP program is attached (without one, frames redirected into
// it are dropped), so the lab turns GRO on for every veth.
//
// A DUT's ports get threaded NAPI with the kthreads pinned to the DUT's cores,
// so the DUT's receive work is done and counted on the DUT's core.
//
// A generator's ports stay unthreaded: the receive port's NAPI then runs in
// the softirq of whoever transmits into it, which is the DUT's core in a DUT
// run and the generator's own core on the self-check loop. Measured on a
// 2-core VM (xdp-live, 64 B, direct loop): unthreaded 3.3 Mpps with no loss;
// threaded on the sender's core 1.4 Mpps received of 4.9 sent; threaded on the
// other core 0.9 of 3.5 (the kthread sleeps between bursts and each wake-up is
// an IPI, slow in a VM, while the 256-entry veth ring overflows).

// napiMu serialises the before/after scan that tells which new napi/<dev>-<id>
// kthread belongs to an interface (the same name can exist in other labs).
var napiMu sync.Mutex

func (e *Env) threadNAPI() error {
	for _, n := range e.Nodes {
		for _, p := range n.Ports {
			if p.Peer == nil {
				continue // host ports keep their driver's NAPI settings
			}
			if err := SetGRO(n.Netns, p.Name, true); err != nil {
				return err
			}
			if n.Kind != topologies.KindDUT {
				// With TSO on, veth_xmit hands an skb that is not a socket's
				// (the dpdk engine's af_xdp and af_packet frames) to the
				// peer's backlog on the sending CPU, so a DUT port's receive
				// work ran on the generator's core: 0.3% DUT core busy at
				// 500 kpps through the kernel DUT, 68% with TSO off.
				if _, err := ethtool.SetTSO(n.Netns, p.Name, false); err != nil {
					return err
				}
			}
			if n.Kind != topologies.KindDUT || len(n.Cores) == 0 {
				continue
			}
			ents, err := threadedNAPI(n.Netns, p.Name)
			if err != nil {
				return err
			}
			for i := range ents {
				ents[i].Cores = n.Cores
				if err := pin(ents[i].PID, n.Cores); err != nil {
					return fmt.Errorf("pin %s to cores %v: %w", ents[i].Comm, n.Cores, err)
				}
			}
			e.state.NAPI = append(e.state.NAPI, ents...)
		}
	}
	return nil
}

// RepinNAPI pins every threaded NAPI kthread of the lab's veths to its
// recorded cores again (a datapath may recreate a NAPI when it attaches) and returns
// the current set.
func (e *Env) RepinNAPI() ([]NAPIEntry, error) {
	var out []NAPIEntry
	for _, ent := range e.state.NAPI {
		if comm, err := readComm(ent.PID); err != nil || comm != ent.Comm {
			continue // gone: its device lost its NAPI
		}
		if err := pin(ent.PID, ent.Cores); err != nil {
			return nil, err
		}
		out = append(out, ent)
	}
	return out, nil
}

// threadedNAPI switches dev's NAPI to threaded mode and returns the kthreads
// that appeared for it.
func threadedNAPI(ns, dev string) ([]NAPIEntry, error) {
	napiMu.Lock()
	defer napiMu.Unlock()
	prefix := "napi/" + dev + "-"
	before := napiThreads(prefix)
	if err := writeSysfs(ns, filepath.Join("class/net", dev, "threaded"), "1"); err != nil {
		return nil, fmt.Errorf("threaded NAPI on %s: %w", dev, err)
	}
	var out []NAPIEntry
	for try := 0; try < 50 && len(out) == 0; try++ {
		for pid, comm := range napiThreads(prefix) {
			if _, old := before[pid]; !old {
				out = append(out, NAPIEntry{Netns: ns, Interface: dev, PID: pid, Comm: comm})
			}
		}
		if len(out) == 0 {
			time.Sleep(2 * time.Millisecond)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("threaded NAPI on %s: no napi kthread appeared", dev)
	}
	return out, nil
}

func napiThreads(prefix string) map[int]string {
	out := map[int]string{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if comm, err := readComm(pid); err == nil && strings.HasPrefix(comm, prefix) {
			out[pid] = comm
		}
	}
	return out
}

func readComm(pid int) (string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	return string(bytes.TrimSpace(b)), err
}

func pin(pid int, cores []int) error {
	var set unix.CPUSet
	for _, c := range cores {
		set.Set(c)
	}
	return unix.SchedSetaffinity(pid, &set)
}

// writeSysfs writes a sysfs attribute of a network namespace. /sys shows the
// namespace of whoever mounted it, so this mounts a private sysfs from a
// thread that is inside ns and in a mount namespace of its own.
func writeSysfs(ns, rel, value string) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread's namespaces die with it
		errc <- func() error {
			if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
				return fmt.Errorf("unshare mount namespace: %w", err)
			}
			if err := unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
				return fmt.Errorf("make mounts private: %w", err)
			}
			if err := enterNetns(ns); err != nil {
				return err
			}
			dir, err := os.MkdirTemp("", "dutlab-sysfs-")
			if err != nil {
				return err
			}
			defer os.Remove(dir)
			if err := unix.Mount("sysfs", dir, "sysfs", 0, ""); err != nil {
				return fmt.Errorf("mount sysfs: %w", err)
			}
			defer unix.Unmount(dir, unix.MNT_DETACH)
			return os.WriteFile(filepath.Join(dir, rel), []byte(value), 0)
		}()
	}()
	return <-errc
}

func enterNetns(ns string) error {
	fd, err := unix.Open(nsexec.Path(ns), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", ns, err)
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("enter netns %s: %w", ns, err)
	}
	return nil
}

// SetGRO switches GRO on dev in namespace ns.
func SetGRO(ns, dev string, on bool) error {
	_, err := ethtool.SetGRO(ns, dev, on)
	return err
}

// killInside kills every process whose network namespace is ns (a DPDK worker
// left behind by a killed run keeps the namespace and its af_xdp sockets alive).
func killInside(ns string) {
	var target unix.Stat_t
	if err := unix.Stat(nsexec.Path(ns), &target); err != nil {
		return
	}
	ents, _ := os.ReadDir("/proc")
	self := os.Getpid()
	var killed []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		var st unix.Stat_t
		if err := unix.Stat("/proc/"+e.Name()+"/ns/net", &st); err != nil {
			continue
		}
		if st.Ino == target.Ino && st.Dev == target.Dev {
			if unix.Kill(pid, syscall.SIGKILL) == nil {
				killed = append(killed, pid)
			}
		}
	}
	for _, pid := range killed {
		for i := 0; i < 100; i++ {
			if err := unix.Kill(pid, 0); errors.Is(err, unix.ESRCH) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}
