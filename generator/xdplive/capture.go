package xdplive

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/dutlab/dutlab/generator"
)

// captureSnap is CAPTURE_SNAP in bpf/capture.h: bytes kept of each frame.
const captureSnap = generator.CaptureSnaplen

// captureHeaderLen is the size of struct capture_record's header: ts_ns
// u64, len u32, caplen u32, all in host byte order.
const captureHeaderLen = 16

// capturer drains one capture ring buffer into a generator.Capture on its
// own goroutine.
type capturer struct {
	rd   *ringbuf.Reader
	done chan struct{}
	n    int   // records written
	err  error // a malformed record or a read error
}

// startCapture drains ring into c until stop. BPF timestamps
// (CLOCK_MONOTONIC) are turned into wall-clock times with the offset
// measured here.
func startCapture(ring *ebpf.Map, c *generator.Capture) (*capturer, error) {
	rd, err := ringbuf.NewReader(ring)
	if err != nil {
		return nil, fmt.Errorf("open capture ring: %w", err)
	}
	offset := time.Now().UnixNano() - int64(monoNow())
	cp := &capturer{rd: rd, done: make(chan struct{})}
	go func() {
		defer close(cp.done)
		var rec ringbuf.Record
		for {
			if err := rd.ReadInto(&rec); err != nil {
				if !errors.Is(err, ringbuf.ErrFlushed) && !errors.Is(err, ringbuf.ErrClosed) {
					cp.err = err
				}
				return
			}
			ts, frame, origLen, err := parseCaptureRecord(rec.RawSample)
			if err != nil {
				cp.err = err
				continue
			}
			c.AddCut(time.Unix(0, int64(ts)+offset), frame, origLen)
			cp.n++
		}
	}()
	return cp, nil
}

// stop reads what is left in the ring, then closes the reader. (A deadline
// would not wake a read already waiting; a flush does, after the records
// already in the ring.)
func (cp *capturer) stop() (int, error) {
	if err := cp.rd.Flush(); err != nil {
		cp.rd.Close()
		<-cp.done
		return cp.n, err
	}
	<-cp.done
	return cp.n, errors.Join(cp.err, cp.rd.Close())
}

// parseCaptureRecord splits a struct capture_record into its timestamp and
// the captured bytes and the frame's length on the wire.
func parseCaptureRecord(b []byte) (uint64, []byte, int, error) {
	if len(b) < captureHeaderLen {
		return 0, nil, 0, fmt.Errorf("capture record of %d bytes", len(b))
	}
	ts := binary.NativeEndian.Uint64(b)
	origLen := int(binary.NativeEndian.Uint32(b[8:]))
	caplen := int(binary.NativeEndian.Uint32(b[12:]))
	if caplen > captureSnap || captureHeaderLen+caplen > len(b) || origLen < caplen {
		return 0, nil, 0, fmt.Errorf("capture record claims %d of %d bytes in %d", caplen, origLen, len(b))
	}
	return ts, b[captureHeaderLen : captureHeaderLen+caplen], origLen, nil
}

// monoNow is CLOCK_MONOTONIC in ns, bpf_ktime_get_ns's clock.
func monoNow() uint64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return uint64(ts.Nano())
}
