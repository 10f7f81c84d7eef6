package dpdk

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// BinaryName is the worker binary; BinaryEnv overrides where it is.
const (
	BinaryName = "dutlab-dpdk"
	BinaryEnv  = "DUTLAB_DPDK"
)

// ErrNoBinary is returned when the worker binary cannot be found.
var ErrNoBinary = errors.New("dutlab-dpdk binary not found (build it with -tags dpdk; set $DUTLAB_DPDK)")

// FindBinary returns the worker binary: bin if set, else $DUTLAB_DPDK, else
// dutlab-dpdk next to the running executable, else on PATH.
func FindBinary(bin string) (string, error) {
	if bin == "" {
		bin = os.Getenv(BinaryEnv)
	}
	if bin != "" {
		if _, err := os.Stat(bin); err != nil {
			return "", fmt.Errorf("%w: %v", ErrNoBinary, err)
		}
		return bin, nil
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), BinaryName)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath(BinaryName); err == nil {
		return p, nil
	}
	return "", ErrNoBinary
}

// Process is a running dutlab-dpdk worker.
type Process struct {
	cmd    *exec.Cmd
	lines  chan StatsLine
	stderr *tailBuffer
	done   chan struct{}
	err    error // set before done closes
	once   sync.Once
}

// Start runs `bin sub --netns netns` with cfg as JSON on stdin. The worker
// enters netns itself before its EAL starts. Lines holds its stats lines.
// The worker gets SIGTERM when the calling process dies.
func Start(bin, sub, netns string, cfg any) (*Process, error) {
	raw, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encode %s config: %w", sub, err)
	}
	args := []string{sub}
	if netns != "" {
		args = append(args, "--netns", netns)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdin = bytes.NewReader(raw)
	p := &Process{cmd: cmd, lines: make(chan StatsLine, 64), stderr: &tailBuffer{max: 8192}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	// Pdeathsig fires when the *thread* that forked the worker exits, not the
	// process. Go retires locked threads (nsexec.Do's, for one), and any
	// thread may become one later, so the worker is started from a thread
	// locked for as long as the worker lives.
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- fmt.Errorf("start %s %s: %w", bin, sub, err)
			return
		}
		started <- nil
		p.read(out)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Process) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var l StatsLine
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Kind != "" {
			p.lines <- l
		}
	}
	err := p.cmd.Wait()
	if err != nil {
		err = fmt.Errorf("%s %s: %w: %s", BinaryName, p.cmd.Args[1], err, p.Stderr())
	}
	p.err = err
	close(p.lines)
	close(p.done)
}

// Lines delivers the worker's stats lines; it closes when the worker exited.
func (p *Process) Lines() <-chan StatsLine { return p.lines }

// Done closes when the worker exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is the worker's exit error, valid once Done is closed.
func (p *Process) Err() error {
	<-p.done
	return p.err
}

// Stderr is the tail of the worker's stderr (DPDK's log).
func (p *Process) Stderr() string { return strings.TrimSpace(p.stderr.String()) }

// Signal asks the worker to stop (SIGTERM): it prints its final line, stops
// and closes its ports and cleans the EAL up.
func (p *Process) Signal() { _ = p.cmd.Process.Signal(syscall.SIGTERM) }

// Stop sends SIGTERM, waits up to grace for the exit, then kills the worker.
// It returns the exit error (nil after a clean stop).
func (p *Process) Stop(grace time.Duration) error {
	p.once.Do(p.Signal)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within %v and was killed: %w", BinaryName, grace, p.err)
	}
	return p.err
}

// tailBuffer keeps the last max bytes written.
type tailBuffer struct {
	mu  sync.Mutex
	b   []byte
	max int
}

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, b...)
	if len(t.b) > t.max {
		t.b = append([]byte(nil), t.b[len(t.b)-t.max:]...)
	}
	return len(b), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
