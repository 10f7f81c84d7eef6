// Package generator holds the stream model shared by every engine: what to
// send (templates, field variation, frame size), how fast (rate), for how long,
// and what came back (Stats). Engines (generator/xdplive, generator/dpdk) turn a
// Job into frames on a port; this package never touches the kernel.
package generator

import (
	"context"
	"net"
	"net/netip"
	"time"
)

// Port is a generator port inside the generator's namespace.
type Port struct {
	Netns   string // namespace name (under /run/netns) or path
	Name    string
	Ifindex int
	MAC     net.HardwareAddr
	Addr    netip.Addr
}

// Stream is one flow set: a template whose varying fields the engine
// rewrites (see Compile). The zero values of the variation fields give one
// UDP flow.
type Stream struct {
	Name     string
	Proto    string // ProtoUDP (the default), ProtoTCPSYN, ProtoTCPACK or ProtoICMPEcho
	VLAN     uint16 // 802.1Q VLAN id, 0 for untagged
	SrcMAC   net.HardwareAddr
	DstMAC   net.HardwareAddr // the DUT's In port
	Src, Dst netip.Addr       // first addresses
	SrcPort  uint16           // first source port (the ICMP echo identifier)
	DstPort  uint16
	Flows    int // source ports: they vary over [SrcPort, SrcPort+Flows)
	SrcIPs   int // source addresses Src, Src+1, ...; 0 or 1 for one
	DstIPs   int // destination addresses
	DstPorts int // destination ports
	// SrcRandom and DstRandom draw that side's addresses and ports at
	// random for every frame instead of stepping through them.
	SrcRandom, DstRandom bool
	// Weight is the stream's share of an engine's turn when it is sent
	// flat out (RatePPS 0), relative to the other flat-out streams; 0
	// counts as 1. IMIX streams use it to keep their mix without a rate.
	Weight    int
	FrameSize int     // Ethernet frame size including the 4-byte FCS (64..1518)
	RatePPS   float64 // 0 means as fast as the engine can
	// Latency marks a probe stream: frames of this stream carry a probe and
	// are measured for delay, loss, reorder and duplicates (Stats.Latency).
	// Typically a bulk stream at a high rate plus one probe stream at 1-10 kpps.
	Latency bool
	// Frames, when set, are sent as they are, in order and round again,
	// instead of a template (pcap replay, at the engine's rates: xdp-live
	// keeps them in a BPF map, dpdk in a C table). Addresses, ports, sizes
	// and flows are then unused.
	Frames [][]byte
}

// Job is one run of an engine.
type Job struct {
	TX, RX   Port
	Streams  []Stream
	Warmup   time.Duration // sent but not counted
	Duration time.Duration // the measured window
	// Packets, when set, ends the window once the engine has sent this many
	// frames in it (over all streams); Duration then only bounds the time.
	Packets uint64
	Cores   []int // cores the engine may pin its workers to
	// Progress, when set, is called about once a second with the running totals.
	Progress func(Sample)
	// Window, when set, is called right after the engine snapshots its own
	// counters at the start (begin=true) and at the end (begin=false) of the
	// measured window, so callers can sample CPU and interface counters over
	// exactly the same window.
	Window func(begin bool)
	// CaptureTX and CaptureRX, when set, record the first frames the engine
	// sends on TX and receives on RX (from the start of the run, warm-up
	// included), as many as the Capture was created for. Engines may cut
	// frames to a snap length (xdp-live: 256 bytes). The caller closes them
	// after Run returns.
	CaptureTX, CaptureRX *Capture
}

// Limit is how many frames c records.
func (c *Capture) Limit() int { return int(c.limit) }

// Sample is a progress snapshot.
type Sample struct {
	Elapsed   time.Duration
	TxPackets uint64
	RxPackets uint64
	// Probe latency over the interval since the previous sample, 0 when no
	// probe came back in it.
	LatencyP50Ns, LatencyP99Ns uint64
}

// Stats is what an engine measured over the window (warm-up excluded).
type Stats struct {
	Engine    string
	TxPackets uint64
	RxPackets uint64
	TxBytes   uint64 // frame bytes without FCS
	RxBytes   uint64
	Window    time.Duration
	// Latency is what the latency streams (Stream.Latency) measured over
	// the window, nil when the job has none.
	Latency *Latency
	Info    map[string]string // engine details for the manifest
}

// Latency summarises the probes received over the window (RFC 8219 terms):
// one-way delay from the engine's send timestamp to its receive timestamp.
type Latency struct {
	Clock      string `json:"clock"` // what took the timestamps: bpf_ktime_get_ns, tsc
	Sent       uint64 `json:"sent"`
	Received   uint64 `json:"received"`
	Lost       uint64 `json:"lost"`
	Reordered  uint64 `json:"reordered"`
	Duplicates uint64 `json:"duplicates"`
	MinNs      uint64 `json:"min_ns"`
	P50Ns      uint64 `json:"p50_ns"`
	P99Ns      uint64 `json:"p99_ns"`
	P999Ns     uint64 `json:"p999_ns"`
	MaxNs      uint64 `json:"max_ns"`
	MeanNs     uint64 `json:"mean_ns"`
	// ErrorPct bounds the relative error of the percentiles (histogram bucket width).
	ErrorPct float64 `json:"error_pct"`
}

// Engine sends a Job's streams on TX and counts what arrives on RX.
type Engine interface {
	Name() string
	Run(ctx context.Context, job Job) (Stats, error)
}
