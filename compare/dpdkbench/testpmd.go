package dpdkbench

import (
	"bufio"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dutlab/dutlab/internal/dpdk"
	"github.com/dutlab/dutlab/internal/nsexec"
)

// testpmd is a running dpdk-testpmd with --stats-period 1, whose per-port
// "Throughput (since last show)" figures are collected.
type testpmd struct {
	cmd    *exec.Cmd
	prefix string
	done   chan struct{}

	mu      sync.Mutex
	txpps   map[int][]float64
	rxpps   map[int][]float64
	shows   int
	shown   chan struct{} // closed at the first stats block
	tail    []string
	waitErr error
}

var (
	rePort = regexp.MustCompile(`NIC statistics for port (\d+)`)
	rePPS  = regexp.MustCompile(`(Rx|Tx)-pps:\s+(\d+)`)
)

// startTestpmd runs bin inside netns ("" = here) with eal and testpmd args.
func startTestpmd(bin, netns string, eal dpdk.EALOptions, args []string) (*testpmd, error) {
	argv := append(eal.Args(bin)[1:], "--")
	argv = append(argv, args...)
	argv = append(argv, "--stats-period", "1")
	t := &testpmd{prefix: eal.FilePrefix, done: make(chan struct{}), shown: make(chan struct{}),
		txpps: map[int][]float64{}, rxpps: map[int][]float64{}}
	t.cmd = exec.Command(bin, argv...)
	out, err := t.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	t.cmd.Stderr = t.cmd.Stdout
	// Started from a thread inside netns, the child inherits it.
	if err := nsexec.Do(netns, t.cmd.Start); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go t.read(out)
	return t, nil
}

func (t *testpmd) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	port := 0
	once := sync.Once{}
	for sc.Scan() {
		line := sc.Text()
		t.mu.Lock()
		t.tail = append(t.tail, line)
		if len(t.tail) > 40 {
			t.tail = t.tail[1:]
		}
		if m := rePort.FindStringSubmatch(line); m != nil {
			port, _ = strconv.Atoi(m[1])
			if port == 0 {
				t.shows++
			}
		}
		for _, m := range rePPS.FindAllStringSubmatch(line, -1) {
			v, _ := strconv.ParseFloat(m[2], 64)
			if m[1] == "Tx" {
				t.txpps[port] = append(t.txpps[port], v)
			} else {
				t.rxpps[port] = append(t.rxpps[port], v)
			}
			once.Do(func() { close(t.shown) })
		}
		t.mu.Unlock()
	}
	err := t.cmd.Wait()
	t.mu.Lock()
	t.waitErr = err
	t.mu.Unlock()
	close(t.done)
}

// waitShown waits for the first stats block (EAL up, forwarding started).
func (t *testpmd) waitShown(timeout time.Duration) error {
	select {
	case <-t.shown:
		return nil
	case <-t.done:
		return fmt.Errorf("dpdk-testpmd exited: %v: %s", t.waitErr, t.output())
	case <-time.After(timeout):
		return fmt.Errorf("dpdk-testpmd printed no stats within %v: %s", timeout, t.output())
	}
}

// stop sends SIGINT (testpmd stops its ports and closes them) and waits.
func (t *testpmd) stop() error {
	_ = t.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-t.done:
	case <-time.After(15 * time.Second):
		_ = t.cmd.Process.Kill()
		<-t.done
	}
	_ = dpdk.RemoveRuntime(t.prefix)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.waitErr != nil {
		return fmt.Errorf("dpdk-testpmd: %w: %s", t.waitErr, strings.Join(t.tail, "\n"))
	}
	return nil
}

// meanTx is port's mean Tx-pps, skipping the first skip samples (warm-up).
func (t *testpmd) meanTx(port, skip int) (float64, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return mean(t.txpps[port], skip)
}

func mean(v []float64, skip int) (float64, int) {
	if len(v) <= skip {
		return 0, 0
	}
	v = v[skip:]
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v)), len(v)
}

func (t *testpmd) output() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.tail, "\n")
}
