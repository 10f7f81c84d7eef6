package dpdk

import (
	"strconv"
	"strings"

	"github.com/dutlab/dutlab/internal/measure"
)

// EALOptions are the EAL arguments dutlab uses. Args renders them.
type EALOptions struct {
	// Lcores are the CPUs to run on; the first is the main lcore. Lcore ids
	// equal CPU ids.
	Lcores []int `json:"lcores"`
	// FilePrefix must be unique per process and start with PrefixBase.
	FilePrefix string `json:"file_prefix"`
	// Hugepages selects --in-memory on reserved hugepages; otherwise
	// --no-huge -m MemoryMB (the two cannot be combined).
	Hugepages bool `json:"hugepages,omitempty"`
	MemoryMB  int  `json:"memory_mb,omitempty"` // default 512
	// VDevs are --vdev arguments, e.g. "net_af_xdp0,iface=g0" or "net_null0".
	VDevs []string `json:"vdevs,omitempty"`
	// PCI allow-lists PCI ports (-a 0000:03:00.0, bound to vfio-pci); empty
	// means --no-pci.
	PCI      []string `json:"pci,omitempty"`
	LogLevel string   `json:"log_level,omitempty"` // --log-level, default "notice"
	Extra    []string `json:"extra,omitempty"`     // appended verbatim
}

// Args returns argv for rte_eal_init, starting with prog.
func (o EALOptions) Args(prog string) []string {
	lcores := o.Lcores
	if len(lcores) == 0 {
		lcores = []int{0}
	}
	l := make([]string, len(lcores))
	for i, c := range lcores {
		l[i] = strconv.Itoa(c)
	}
	prefix := o.FilePrefix
	if prefix == "" {
		prefix = FilePrefix("")
	}
	args := []string{prog,
		"-l", strings.Join(l, ","), "--main-lcore", l[0],
		"--no-telemetry", "--file-prefix=" + prefix,
	}
	if len(o.PCI) == 0 {
		args = append(args, "--no-pci")
	}
	for _, a := range o.PCI {
		args = append(args, "-a", a)
	}
	if o.Hugepages {
		args = append(args, "--in-memory")
	} else {
		mem := o.MemoryMB
		if mem == 0 {
			mem = 512
		}
		args = append(args, "--no-huge", "--no-shconf", "-m", strconv.Itoa(mem))
	}
	for _, v := range o.VDevs {
		args = append(args, "--vdev="+v)
	}
	lvl := o.LogLevel
	if lvl == "" {
		lvl = "notice"
	}
	args = append(args, "--log-level="+lvl)
	return append(args, o.Extra...)
}

// DevName is the ethdev name of a --vdev argument (the part before the first comma).
func DevName(vdev string) string {
	name, _, _ := strings.Cut(vdev, ",")
	return name
}

// GenStream is one stream of the generator: a frame template (without FCS)
// and where its varying fields sit.
type GenStream struct {
	// Template is the frame as generator.BuildUDP makes it: source port at
	// SrcPortBase, probe fields zero, UDP checksum over that (or 0).
	Template      []byte `json:"template"`
	SrcPortOffset int    `json:"src_port_offset"` // offset of the UDP source port
	ProbeOffset   int    `json:"probe_offset"`    // offset of the probe (UDP payload); 0 = no probe
	// ChecksumOffset is the UDP checksum, updated incrementally per frame;
	// 0 leaves it as in the template (use 0 with a zero IPv4 UDP checksum).
	ChecksumOffset int     `json:"checksum_offset,omitempty"`
	SrcPortBase    uint16  `json:"src_port_base"`
	Flows          int     `json:"flows"` // the source port varies over [base, base+flows)
	RatePPS        float64 `json:"rate_pps,omitempty"`
	// Weight is the stream's share of a flat-out burst (generator.Stream.Weight).
	Weight int `json:"weight,omitempty"`
	// Generic, when set, replaces the source-port rewrite with a field
	// program (generator.Program): SrcPort*, Flows and ChecksumOffset are
	// then unused; ProbeOffset is still the probe (0: none).
	Generic *GenProgram `json:"generic,omitempty"`
	// Frames, when set, are sent as they are, in order and round again
	// (pcap replay; Copy mode). Template must hold the first of them.
	Frames [][]byte `json:"frames,omitempty"`
}

// GenProgram is a generator.Program for the C fast path.
type GenProgram struct {
	Fields           []GenField `json:"fields,omitempty"`
	L3ChecksumOffset int        `json:"l3_checksum_offset,omitempty"` // 0: none
	L4ChecksumOffset int        `json:"l4_checksum_offset,omitempty"` // 0: none
	L3Sum            uint32     `json:"l3_sum,omitempty"`
	L4Sum            uint32     `json:"l4_sum,omitempty"`
	UDPChecksum      bool       `json:"udp_checksum,omitempty"`
}

// GenField is a generator.Field.
type GenField struct {
	Offset int    `json:"offset"`
	Width  int    `json:"width"`
	Base   uint32 `json:"base"`
	Count  uint32 `json:"count"`
	Random bool   `json:"random,omitempty"`
	InL3   bool   `json:"in_l3,omitempty"`
	InL4   bool   `json:"in_l4,omitempty"`
}

// GenConfig is what `dutlab-dpdk gen` reads on stdin.
type GenConfig struct {
	EAL     EALOptions  `json:"eal"`
	TXPort  string      `json:"tx_port"` // ethdev name; "" = no TX
	RXPort  string      `json:"rx_port"` // ethdev name; "" = no RX
	Streams []GenStream `json:"streams"`
	// RatePPS is the total rate over all workers; 0 = as fast as possible.
	RatePPS    float64 `json:"rate_pps,omitempty"`
	WarmupMS   int64   `json:"warmup_ms,omitempty"`
	DurationMS int64   `json:"duration_ms,omitempty"` // 0 = until SIGINT/SIGTERM (or Packets)
	// Packets, when set, ends the window once this many frames were sent
	// in it, over all workers.
	Packets uint64 `json:"packets,omitempty"`
	// CaptureFrames, when set, records the first frames sent and received
	// (from the start, warm-up included; CaptureSnap bytes of each) into
	// the final line's Capture.
	CaptureFrames int   `json:"capture_frames,omitempty"`
	DrainMS       int64 `json:"drain_ms,omitempty"`  // RX keeps going after TX stops; default 200
	RingSize      int   `json:"ring_size,omitempty"` // descriptors per queue; default 1024
	// TemplateMode is how frames get their bytes (see TemplateMode); "" =
	// Prefilled.
	TemplateMode TemplateMode `json:"template_mode,omitempty"`
	// NoCopy is the older name of TemplateMode Prefilled.
	NoCopy bool `json:"no_copy,omitempty"`
	// Burst is the TX burst per tx_burst call (default 64, at most 128).
	Burst int `json:"burst,omitempty"`
}

// DefaultTxBurst is the generator's TX burst: on net_null 64 gave ~4% more
// than 32 (testpmd txonly gained nothing).
const DefaultTxBurst = 64

// TemplateMode is how the generator's fast path gives each frame its bytes.
// In every mode each frame handed to tx_burst holds its own source port,
// probe (stream, sequence, send time) and UDP checksum.
type TemplateMode string

// Template modes.
const (
	// Prefilled (dperf's approach) gives every stream its own TX pool, filled
	// with its template once, and takes mbufs with a raw mempool get, without
	// a reset; per frame only data_off, the lengths, ol_flags and the varying
	// fields are written. A recycled mbuf holds the template plus an earlier
	// frame's varying fields, all rewritten. Assumes nothing else writes into
	// the TX pools' mbufs (TX paths and the worker's receive path only read
	// them).
	Prefilled TemplateMode = "prefilled"
	// Copy takes mbufs the same way from one pool and copies the whole
	// template into every frame.
	Copy TemplateMode = "copy"
)

// TemplateModes lists the modes.
var TemplateModes = []TemplateMode{Prefilled, Copy}

// FwdConfig is what `dutlab-dpdk fwd` reads on stdin.
type FwdConfig struct {
	EAL     EALOptions `json:"eal"`
	InPort  string     `json:"in_port"`           // ethdev name frames arrive on
	OutPort string     `json:"out_port"`          // ethdev name frames leave on
	DstMAC  string     `json:"dst_mac"`           // written as destination MAC (the Out peer)
	SrcMAC  string     `json:"src_mac,omitempty"` // default: the Out port's MAC
	// NoRewrite forwards frames untouched (like testpmd io mode).
	NoRewrite  bool  `json:"no_rewrite,omitempty"`
	RingSize   int   `json:"ring_size,omitempty"`
	DurationMS int64 `json:"duration_ms,omitempty"` // 0 = until SIGINT/SIGTERM
}

// Latency is a latency summary in nanoseconds.
type Latency struct {
	Count uint64  `json:"count"`
	Min   int64   `json:"min_ns"`
	P50   int64   `json:"p50_ns"`
	P99   int64   `json:"p99_ns"`
	P999  int64   `json:"p999_ns"`
	Max   int64   `json:"max_ns"`
	Mean  float64 `json:"mean_ns"`
}

// StatsLine is one JSON line the worker prints on stdout: "progress" about
// once a second, then one "final" (or "error").
type StatsLine struct {
	Kind        string `json:"kind"` // progress | final | error
	ElapsedNS   int64  `json:"elapsed_ns"`
	TxPackets   uint64 `json:"tx_packets"`
	TxBytes     uint64 `json:"tx_bytes"`
	TxDropped   uint64 `json:"tx_dropped"` // tx_burst did not take them
	RxPackets   uint64 `json:"rx_packets"`
	RxBytes     uint64 `json:"rx_bytes"`
	DropPackets uint64 `json:"drop_packets,omitempty"` // fwd: dropped
	RxProbes    uint64 `json:"rx_probes,omitempty"`
	Reorder     uint64 `json:"reorder,omitempty"`
	// ProbeTx and ProbeRx (final line) are the probe-carrying frames made in
	// the window and received stamped inside it.
	ProbeTx uint64 `json:"probe_tx,omitempty"`
	ProbeRx uint64 `json:"probe_rx,omitempty"` // duplicates included
	// Duplicates (final line) are probes received again in the window.
	Duplicates uint64 `json:"duplicates,omitempty"`
	// Capture (final line) holds the frames GenConfig.CaptureFrames asked for.
	Capture *Capture `json:"capture,omitempty"`
	// The final line's counters cover the window only: TX from the end of the
	// warm-up to the TX stop, RX for probes stamped inside that interval.
	WindowNS int64             `json:"window_ns,omitempty"`
	Latency  *Latency          `json:"latency,omitempty"`
	Info     map[string]string `json:"info,omitempty"`
	Error    string            `json:"error,omitempty"`
}

// The probe is generator's (generator.ProbeSignature and offsets), 18 bytes,
// big-endian: signature u32, stream u16, sequence u32, send time u64. The DPDK
// fast path puts the stream index in the low byte of the stream field and its
// worker slot in the high byte, counts sequences per worker and stream, and
// stamps ns of the TSC clock (so latency needs TX and RX in one process).
const (
	ProbeSignature = 0x444c5031
	ProbeSize      = 18
)

// HistBuckets is the size of the fast path's latency histogram: the layout
// of internal/measure/histogram.h, which fastpath.h includes.
const HistBuckets = measure.HistBuckets

// Summarize turns the fast path's histogram into a latency summary (bucket
// midpoints, see measure.Summarize); nil when it is empty.
func Summarize(hist []uint64) *Latency {
	s := measure.Summarize(hist)
	if s == nil {
		return nil
	}
	return &Latency{Count: s.Count, Min: s.MinNs, P50: s.P50Ns, P99: s.P99Ns, P999: s.P999Ns, Max: s.MaxNs, Mean: s.MeanNs}
}

// Capture is the first frames a generator sent and received, in time order
// over all workers.
type Capture struct {
	TX []WireFrame `json:"tx,omitempty"`
	RX []WireFrame `json:"rx,omitempty"`
}

// WireFrame is a captured frame: when (Unix ns), its length on the wire
// (without FCS) and its first bytes.
type WireFrame struct {
	UnixNS int64  `json:"unix_ns"`
	Len    int    `json:"len"`
	Data   []byte `json:"data"`
}

// CaptureSnapBytes is how many bytes of each frame a capture keeps
// (DL_CAP_SNAP in fastpath.h; fastpath.go checks that they agree).
const CaptureSnapBytes = 256
