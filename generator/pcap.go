package generator

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// CaptureSnaplen is the snap length of every capture dutlab writes: the
// engines keep this many bytes of each frame (xdp-live's CAPTURE_SNAP in
// bpf/capture.h, the dpdk engine's dpdk.CaptureSnapBytes) and the pcap
// header declares it, with each frame's original length beside its cut one,
// so Wireshark shows a cut frame as cut.
const CaptureSnaplen = 256

// Capture records the first frames seen on a port into a pcap file
// (nanosecond timestamps, link type Ethernet). It is safe for concurrent
// use; once it holds its n frames, Add returns at the cost of one atomic
// load, so engines may call it on every frame.
type Capture struct {
	path  string
	limit int64
	taken atomic.Int64 // frames claimed so far, may run past limit

	mu   sync.Mutex
	f    *os.File
	bw   *bufio.Writer
	w    *pcapgo.Writer
	err  error // the first write error, returned by Close
	done bool
}

// NewCapture creates (or truncates) the pcap file at path, to hold at most
// n frames (n > 0).
func NewCapture(path string, n int) (*Capture, error) {
	if n <= 0 {
		return nil, fmt.Errorf("create capture %s: frame count %d is not positive", path, n)
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create capture: %w", err)
	}
	bw := bufio.NewWriter(f)
	w := pcapgo.NewWriterNanos(bw)
	if err := w.WriteFileHeader(CaptureSnaplen, layers.LinkTypeEthernet); err != nil {
		f.Close()
		return nil, fmt.Errorf("create capture %s: write header: %w", path, err)
	}
	return &Capture{path: path, limit: int64(n), f: f, bw: bw, w: w}, nil
}

// Add records frame (without FCS, whole) with timestamp ts if fewer than n
// frames have been added; later frames are ignored. Frame is not retained
// and is cut to CaptureSnaplen bytes. Write errors are kept for Close.
func (c *Capture) Add(ts time.Time, frame []byte) { c.AddCut(ts, frame, len(frame)) }

// AddCut is Add for a frame that an engine already cut: data holds its first
// bytes, origLen its length on the wire (without FCS).
func (c *Capture) AddCut(ts time.Time, data []byte, origLen int) {
	if c.taken.Load() >= c.limit || c.taken.Add(1) > c.limit {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done || c.err != nil {
		return
	}
	if len(data) > CaptureSnaplen {
		data = data[:CaptureSnaplen]
	}
	ci := gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(data), Length: max(origLen, len(data))}
	if err := c.w.WritePacket(ci, data); err != nil {
		c.err = fmt.Errorf("write capture %s: %w", c.path, err)
	}
}

// Close flushes and closes the file and returns the first error met while
// writing. Adds after Close are ignored.
func (c *Capture) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return c.err
	}
	c.done = true
	if err := c.bw.Flush(); err != nil && c.err == nil {
		c.err = fmt.Errorf("write capture %s: %w", c.path, err)
	}
	if err := c.f.Close(); err != nil && c.err == nil {
		c.err = fmt.Errorf("close capture %s: %w", c.path, err)
	}
	return c.err
}

// ErrNotEthernet is returned by ReadPcap for captures of another link type.
var ErrNotEthernet = errors.New("link type is not Ethernet")

// pcapngMagic is the block type of a pcapng section header, the first four
// bytes of every pcapng file in either byte order.
var pcapngMagic = []byte{0x0a, 0x0d, 0x0d, 0x0a}

// ReadPcap reads every frame of a pcap or pcapng file (gzip-compressed or
// not) whose link type is Ethernet, for replay. Frames the capture cut at its
// snap length are returned as captured. If the file is damaged part way, the
// frames read so far are returned with the error; every error names the file.
func ReadPcap(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read pcap: %w", err)
	}
	defer f.Close()
	frames, err := readFrames(f)
	if err != nil {
		return frames, fmt.Errorf("read pcap %s: %w", path, err)
	}
	return frames, nil
}

// packetSource is what pcapgo's pcap and pcapng readers share.
type packetSource interface {
	ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
}

func readFrames(r io.Reader) ([][]byte, error) {
	br := bufio.NewReader(r)
	head, err := br.Peek(4)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("file is too short for a capture header")
		}
		return nil, err
	}
	var in io.Reader = br
	if head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gunzip: %w", err)
		}
		defer zr.Close()
		br = bufio.NewReader(zr)
		in = br
		if head, err = br.Peek(4); err != nil {
			return nil, fmt.Errorf("gunzip: %w", err)
		}
	}

	var src packetSource
	mixed := false // pcapng: each interface has its own link type
	if bytes.Equal(head, pcapngMagic) {
		ng, err := pcapgo.NewNgReader(in, pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			return nil, fmt.Errorf("pcapng header: %w", err)
		}
		src, mixed = ng, true
	} else {
		pr, err := pcapgo.NewReader(in)
		if err != nil {
			return nil, fmt.Errorf("pcap header: %w", err)
		}
		if lt := pr.LinkType(); lt != layers.LinkTypeEthernet {
			return nil, fmt.Errorf("%w: %s (%d)", ErrNotEthernet, lt, uint32(lt))
		}
		src = pr
	}

	var frames [][]byte
	for {
		data, ci, err := src.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return frames, nil
		}
		if err != nil {
			return frames, fmt.Errorf("frame %d: %w", len(frames)+1, err)
		}
		if mixed {
			var lt layers.LinkType
			if len(ci.AncillaryData) > 0 {
				lt, _ = ci.AncillaryData[0].(layers.LinkType)
			}
			if lt != layers.LinkTypeEthernet {
				return frames, fmt.Errorf("frame %d: %w: %s (%d)", len(frames)+1, ErrNotEthernet, lt, uint32(lt))
			}
		}
		frames = append(frames, data)
	}
}
