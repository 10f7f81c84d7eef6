package xdplive

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/dutlab/dutlab/generator"
)

// xdpMD mirrors struct xdp_md, the context of an XDP test run. For live
// frames, DataEnd must equal the frame length and IngressIfindex names the
// device XDP_TX sends on (resolved in the calling thread's namespace).
type xdpMD struct {
	Data           uint32
	DataEnd        uint32
	DataMeta       uint32
	IngressIfindex uint32
	RxQueueIndex   uint32
	EgressIfindex  uint32
}

// copyLen is how many template bytes xdp_gen rewrites per frame (headers +
// probe); it matches V4_COPY_LEN / V6_COPY_LEN in bpf/probe.h.
func copyLen(ipv6 bool) int {
	if ipv6 {
		return 14 + 40 + 8 + generator.ProbeLen
	}
	return 14 + 20 + 8 + generator.ProbeLen
}

// sender is one stream's loaded xdp_gen.
type sender struct {
	objs  genObjects
	frame []byte
	// replay, when set, holds frames sent as they are, one test run each,
	// in order and round again; next is the one to send next.
	replay [][]byte
	next   int
}

// maxReplayFrame keeps replayed frames within one page-pool page with the
// headroom XDP needs.
const maxReplayFrame = 3000

// loadReplay loads xdp_gen in replay mode for frames.
func loadReplay(frames [][]byte, id int, cp *txCapture) (*sender, error) {
	for i, f := range frames {
		if len(f) < 14 || len(f) > maxReplayFrame {
			return nil, fmt.Errorf("replay frame %d is %d bytes; want 14..%d", i, len(f), maxReplayFrame)
		}
	}
	s, err := load(nil, false, 1, id, cp, true)
	if err != nil {
		return nil, err
	}
	s.replay = frames
	return s, nil
}

// txCapture is the TX capture a run's senders share: how many frames to
// capture over all of them, and the first sender's claim counter and ring
// once it is loaded.
type txCapture struct {
	frames      uint32
	taken, ring *ebpf.Map
}

// loadSender loads xdp_gen configured for template t, stream index id and
// flows distinct source ports. With cp set (and cp.frames > 0) it captures
// into cp's ring, creating it with the first sender.
func loadSender(t generator.Template, id, flows int, cp *txCapture) (*sender, error) {
	n := copyLen(t.IPv6)
	if len(t.Frame) < n {
		return nil, fmt.Errorf("template of %d bytes is shorter than its headers and probe (%d)", len(t.Frame), n)
	}
	return load(t.Frame, t.IPv6, flows, id, cp, false)
}

func load(frame []byte, isIPv6 bool, flows, id int, cp *txCapture, replay bool) (*sender, error) {
	if flows < 1 {
		flows = 1
	}
	if id < 0 || id > 0xffff {
		return nil, fmt.Errorf("stream index %d does not fit the probe's 16-bit stream id", id)
	}
	// The rodata array holds the frame's bytes in memory order.
	var words [20]uint32
	if !replay {
		for i := 0; i < copyLen(isIPv6)/4; i++ {
			words[i] = binary.NativeEndian.Uint32(frame[4*i:])
		}
	}
	spec, err := loadGen()
	if err != nil {
		return nil, err
	}
	ipv6, replayOn := uint32(0), uint32(0)
	if isIPv6 {
		ipv6 = 1
	}
	if replay {
		replayOn = 1
	}
	var frames uint32
	var opts ebpf.CollectionOptions
	if cp != nil && cp.frames > 0 {
		frames = cp.frames
		if cp.ring != nil {
			opts.MapReplacements = map[string]*ebpf.Map{genMapGenCaptureTaken: cp.taken, genMapGenCapture: cp.ring}
		}
	}
	for name, v := range map[string]any{genVarTmpl: words, genVarIpv6: ipv6, genVarFlows: uint32(flows), genVarStreamId: uint16(id), genVarCaptureFrames: frames, genVarReplay: replayOn} {
		if err := spec.Variables[name].Set(v); err != nil {
			return nil, fmt.Errorf("set xdp_gen %s: %w", name, err)
		}
	}
	s := &sender{frame: frame}
	if err := spec.LoadAndAssign(&s.objs, &opts); err != nil {
		return nil, fmt.Errorf("load xdp_gen: %w", err)
	}
	if frames > 0 && cp.ring == nil {
		cp.taken, cp.ring = s.objs.GenCaptureTaken, s.objs.GenCapture
	}
	return s, nil
}

func (s *sender) Close() error { return s.objs.Close() }

// send transmits n frames on ifindex (in the calling thread's namespace) in
// one live-frame test run of batch frames per page-pool batch.
func (s *sender) send(ifindex int, n, batch uint32) error {
	if s.replay != nil {
		return s.sendReplay(ifindex, n)
	}
	_, err := s.objs.XdpGen.Run(&ebpf.RunOptions{
		Data:      s.frame,
		Repeat:    n,
		Flags:     unix.BPF_F_TEST_XDP_LIVE_FRAMES,
		BatchSize: batch,
		Context:   xdpMD{DataEnd: uint32(len(s.frame)), IngressIfindex: uint32(ifindex)},
	})
	if err != nil {
		return fmt.Errorf("send %d live frames: %w", n, err)
	}
	return nil
}

// sendReplay sends the next n replay frames, one test run each (a run costs
// microseconds, so replay is for teaching and debugging rates, not load).
func (s *sender) sendReplay(ifindex int, n uint32) error {
	for range n {
		f := s.replay[s.next]
		_, err := s.objs.XdpGen.Run(&ebpf.RunOptions{
			Data:    f,
			Repeat:  1,
			Flags:   unix.BPF_F_TEST_XDP_LIVE_FRAMES,
			Context: xdpMD{DataEnd: uint32(len(f)), IngressIfindex: uint32(ifindex)},
		})
		if err != nil {
			return fmt.Errorf("replay frame %d: %w", s.next, err)
		}
		s.next = (s.next + 1) % len(s.replay)
	}
	return nil
}

// counters sums xdp_gen's per-CPU counters: frames and bytes handed to
// XDP_TX, and frames the TX capture missed.
func (s *sender) counters() (packets, bytes, captureLost uint64, err error) {
	var per []genGenCounters
	if err := s.objs.GenStats.Lookup(uint32(0), &per); err != nil {
		return 0, 0, 0, fmt.Errorf("read xdp_gen counters: %w", err)
	}
	for _, c := range per {
		packets += c.Packets
		bytes += c.Bytes
		captureLost += c.CaptureLost
	}
	return packets, bytes, captureLost, nil
}

var errNoPort = errors.New("port has neither a name nor an ifindex")
