package xdplive

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"time"
	"unsafe"

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

// sender is one stream's loaded xdp_gen.
type sender struct {
	objs  genObjects
	frame []byte
	// interrupted counts live-frame runs a signal cut short (and send
	// finished with the frames they had not sent).
	interrupted uint64
}

// maxReplayFrame keeps replayed frames within one page-pool page with the
// headroom XDP needs.
const maxReplayFrame = 3000

// loadReplay loads xdp_gen in replay mode for frames: they go into the
// program's gen_replay map, and every live frame of a run becomes the next
// of them (the run's buffer is maxReplayFrame bytes, cut to each frame), so
// replay runs as many frames per test run as a template stream does.
func loadReplay(frames [][]byte, id int, cp *runShared) (*sender, error) {
	if len(frames) == 0 {
		return nil, errors.New("replay needs at least one frame")
	}
	for i, f := range frames {
		if len(f) < 14 || len(f) > maxReplayFrame {
			return nil, fmt.Errorf("replay frame %d is %d bytes; want 14..%d", i, len(f), maxReplayFrame)
		}
	}
	s, err := load(generator.Program{Frame: make([]byte, maxReplayFrame)}, id, cp, len(frames))
	if err != nil {
		return nil, err
	}
	for k, f := range frames {
		var v genReplayFrame
		v.Len = uint32(len(f))
		copy(v.Data[:], f)
		if err := s.objs.GenReplay.Put(uint32(k), &v); err != nil {
			s.Close()
			return nil, fmt.Errorf("load replay frame %d: %w", k, err)
		}
	}
	return s, nil
}

// runShared is what a run's senders share: the TX capture (how many frames
// to capture over all of them, and the first sender's claim counter and ring
// once it is loaded), and whether template streams must scrub their pages
// because a replay stream runs with them (see scrub in bpf/gen.c).
type runShared struct {
	frames      uint32
	taken, ring *ebpf.Map
	scrub       bool
}

// minFrameLen is GEN_MIN_COPY in bpf/probe.h: a 64-byte frame without FCS.
const minFrameLen = generator.MinFrameSize - 4

// loadSender loads xdp_gen running program p for stream index id. With cp
// set (and cp.frames > 0) it captures into cp's ring, creating it with the
// first sender.
func loadSender(p generator.Program, id int, cp *runShared) (*sender, error) {
	if len(p.Frame) < minFrameLen || p.CopyLen > len(p.Frame) || p.CopyLen > generator.MaxCopyLen || p.CopyLen%2 != 0 {
		return nil, fmt.Errorf("program copies %d header bytes of a %d-byte frame (max %d, even)", p.CopyLen, len(p.Frame), generator.MaxCopyLen)
	}
	if len(p.Fields) > generator.MaxFields {
		return nil, fmt.Errorf("program has %d fields, xdp_gen takes %d", len(p.Fields), generator.MaxFields)
	}
	return load(p, id, cp, 0)
}

// load loads xdp_gen for program p, or, with replayFrames > 0, in replay
// mode with room for that many frames.
func load(p generator.Program, id int, cp *runShared, replayFrames int) (*sender, error) {
	if id < 0 || id > 0xffff {
		return nil, fmt.Errorf("stream index %d does not fit the probe's 16-bit stream id", id)
	}
	// The rodata array holds the frame's bytes in memory order.
	var words [generator.MaxCopyLen / 4]uint32
	// xdp_gen copies the first 60 bytes whatever CopyLen is (every frame
	// is that long), so the array holds the frame's head, payload included.
	var head [generator.MaxCopyLen]byte
	copy(head[:], p.Frame[:min(len(p.Frame), generator.MaxCopyLen)])
	for i := range words {
		words[i] = binary.NativeEndian.Uint32(head[4*i:])
	}
	var fields [generator.MaxFields]genGenField
	for i, f := range p.Fields {
		fields[i] = genGenField{Base: f.Base, Count: f.Count, Off: uint16(f.Off), Width: uint16(f.Width),
			Random: b2u8(f.Random), InL3: b2u8(f.InL3), InL4: b2u8(f.InL4)}
	}
	// Offset 0 is never a checksum or the probe: it means none.
	off := func(o int) uint32 { return uint32(max(o, 0)) }
	spec, err := loadGen()
	if err != nil {
		return nil, err
	}
	var frames uint32
	var opts ebpf.CollectionOptions
	if cp != nil && cp.frames > 0 {
		frames = cp.frames
		if cp.ring != nil {
			opts.MapReplacements = map[string]*ebpf.Map{genMapGenCaptureTaken: cp.taken, genMapGenCapture: cp.ring}
		}
	}
	vars := map[string]any{
		genVarTmpl: words, genVarCopyLen: uint32(p.CopyLen), genVarFields: fields, genVarNfields: uint32(len(p.Fields)),
		genVarL3CsumOff: off(p.L3Checksum), genVarL4CsumOff: off(p.L4Checksum), genVarL3Sum: p.L3Sum, genVarL4Sum: p.L4Sum,
		genVarUdpCsum: uint32(b2u8(p.UDPChecksum)), genVarProbeOff: off(p.Probe), genVarStreamId: uint16(id),
		genVarCaptureFrames: frames, genVarReplayFrames: uint32(replayFrames),
		genVarFrameLen: uint32(len(p.Frame)), genVarScrub: uint32(b2u8(cp != nil && cp.scrub)),
	}
	spec.Maps[genMapGenReplay].MaxEntries = uint32(max(replayFrames, 1))
	for name, v := range vars {
		if err := spec.Variables[name].Set(v); err != nil {
			return nil, fmt.Errorf("set xdp_gen %s: %w", name, err)
		}
	}
	s := &sender{frame: p.Frame}
	if err := spec.LoadAndAssign(&s.objs, &opts); err != nil {
		return nil, fmt.Errorf("load xdp_gen: %w", err)
	}
	if frames > 0 && cp.ring == nil {
		cp.taken, cp.ring = s.objs.GenCaptureTaken, s.objs.GenCapture
	}
	return s, nil
}

func b2u8(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

func (s *sender) Close() error { return s.objs.Close() }

// testRunAttr is union bpf_attr's test member (BPF_PROG_TEST_RUN), up to
// batch_size.
type testRunAttr struct {
	ProgFD, Retval, DataSizeIn, DataSizeOut uint32
	DataIn, DataOut                         uint64
	Repeat, Duration, CtxSizeIn, CtxSizeOut uint32
	CtxIn, CtxOut                           uint64
	Flags, CPU, BatchSize, _                uint32
}

// send transmits n frames on ifindex (in the calling thread's namespace) in
// live-frame test runs of batch frames per page-pool batch. It makes the
// syscall itself rather than through ebpf.Program.Run: a run interrupted by
// a signal (the Go runtime preempts threads with SIGURG) returns EINTR after
// sending some of its frames, and Run would start the whole count again. send
// reads from next_seq how far the run got and sends only the rest, so what
// the engine counts as sent is exactly what went out.
func (s *sender) send(ifindex int, n, batch uint32) error {
	for left := n; left > 0; {
		var before uint64
		if err := s.objs.NextSeq.Get(&before); err != nil {
			return fmt.Errorf("read xdp_gen next_seq: %w", err)
		}
		_, errno := liveRun(s.objs.XdpGen, s.frame, ifindex, left, batch)
		if errno == 0 {
			return nil
		}
		if errno != unix.EINTR {
			return fmt.Errorf("send %d live frames: %w", left, errno)
		}
		var after uint64
		if err := s.objs.NextSeq.Get(&after); err != nil {
			return fmt.Errorf("read xdp_gen next_seq: %w", err)
		}
		left -= uint32(min(after-before, uint64(left)))
		s.interrupted++
	}
	return nil
}

// liveRun makes one live-frame test run of prog, repeat invocations on pages
// initialised from frame, transmitting on ifindex (in the calling thread's
// namespace), batch frames per page-pool batch. It returns the kernel's
// mean time per invocation and the syscall's errno.
func liveRun(prog *ebpf.Program, frame []byte, ifindex int, repeat, batch uint32) (time.Duration, unix.Errno) {
	md := xdpMD{DataEnd: uint32(len(frame)), IngressIfindex: uint32(ifindex)}
	attr := testRunAttr{
		ProgFD:     uint32(prog.FD()),
		DataSizeIn: uint32(len(frame)),
		DataIn:     uint64(uintptr(unsafe.Pointer(&frame[0]))),
		CtxSizeIn:  uint32(unsafe.Sizeof(md)),
		CtxIn:      uint64(uintptr(unsafe.Pointer(&md))),
		Flags:      unix.BPF_F_TEST_XDP_LIVE_FRAMES,
		BatchSize:  batch,
		Repeat:     repeat,
	}
	_, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_TEST_RUN, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	runtime.KeepAlive(frame)
	runtime.KeepAlive(&md)
	return time.Duration(attr.Duration), errno
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
