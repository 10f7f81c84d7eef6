package compare

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/dutlab/dutlab/generator"
)

// SchemaVersion is the version of the Result JSON; it changes when a field
// changes meaning or goes away (adding fields keeps it).
const SchemaVersion = 1

// The type field of every JSON document dutlab writes says what it holds.
const (
	ResultType   = "dutlab.result"
	ProgressType = "dutlab.progress"
)

// Result is what a compare run writes with --json.
type Result struct {
	Schema  int    `json:"schema"`
	Type    string `json:"type"` // ResultType
	Results []Row  `json:"results"`
	// SelfCheck is the generator's own ceiling for the workload, when measured.
	SelfCheck *SelfCheck `json:"self_check,omitempty"`
	Manifest  Manifest   `json:"manifest"`
}

// Row is one datapath measured at one frame size.
type Row struct {
	Datapath    string  `json:"datapath"`
	Function    string  `json:"function"` // fwd, fw, lb or policy (see Options.Functions)
	Engine      string  `json:"engine"`
	FrameSize   int     `json:"frame_size"` // with MixedSizes, the mean frame sent (FCS included)
	MixedSizes  bool    `json:"mixed_sizes,omitempty"`
	Flows       int     `json:"flows"`
	WindowSec   float64 `json:"window_s"`
	TxPackets   uint64  `json:"tx_packets"`
	RxPackets   uint64  `json:"rx_packets"`
	OfferedMpps float64 `json:"offered_mpps"`
	RxMpps      float64 `json:"rx_mpps"`
	// Gbps count the wire: frame + FCS + preamble + inter-frame gap (20 bytes).
	OfferedGbps float64 `json:"offered_gbps"`
	RxGbps      float64 `json:"rx_gbps"`
	LossPct     float64 `json:"loss_pct"`
	// RxIfacePackets is the kernel's rx_packets counter of the generator's
	// receive port over the same window: a check on the engine's own count.
	RxIfacePackets uint64 `json:"rx_iface_packets"`
	// TxIfacePackets is the kernel's tx_packets counter of the generator's
	// transmit port over the window (on veth: the frames the DUT's In port
	// took), TxIfaceDropped what was lost between the two ports before the
	// DUT saw it: the transmit port's tx_dropped (on veth: the In port's
	// XDP ring was full) plus the DUT In port's rx_dropped (its backlog was).
	TxIfacePackets uint64 `json:"tx_iface_packets"`
	TxIfaceDropped uint64 `json:"tx_iface_dropped"`
	// IfaceMismatch names the counts where the engine and the interface
	// counters differ by more than IfaceTolerance (offered: tx_packets plus
	// tx_dropped against the engine's count); the table marks them.
	IfaceMismatch []string    `json:"iface_mismatch,omitempty"`
	DUTCPU        CPU         `json:"dut_cpu"`
	GenCPU        CPU         `json:"gen_cpu"`
	CyclesPerPkt  float64     `json:"dut_busy_ns_per_pkt"`
	DUT           DUTCounters `json:"dut_counters"`
	// Latency is the probe stream's one-way delay through the DUT, when probes came back.
	Latency    *generator.Latency `json:"latency,omitempty"`
	Cores      map[string]string  `json:"cores"`
	DUTInfo    map[string]string  `json:"dut_info,omitempty"`
	EngineInfo map[string]string  `json:"engine_info,omitempty"`
	Captures   []string           `json:"captures,omitempty"` // pcap files of the first frames sent and received
	// RequestedMpps is the total rate the job asked for; 0 when a stream
	// ran flat out.
	RequestedMpps float64 `json:"requested_mpps"`
	// GeneratorBound is set when the row says more about the generator than
	// about the DUT (GenBoundReason says why, see genBound): the DUT may be
	// faster than this result says.
	GeneratorBound bool   `json:"generator_bound"`
	GenBoundReason string `json:"generator_bound_reason,omitempty"`
	Error          string `json:"error,omitempty"`
}

// CPU is the busy share of the cores given to a node, averaged over them.
type CPU struct {
	Cores      []int   `json:"cores"`
	BusyPct    float64 `json:"busy_pct"`
	UserPct    float64 `json:"user_pct"`
	SysPct     float64 `json:"sys_pct"`
	SoftirqPct float64 `json:"softirq_pct"`
	IrqPct     float64 `json:"irq_pct"`
}

// DUTCounters are the datapath's own counters over the window.
type DUTCounters struct {
	Rx   uint64 `json:"rx"`
	Tx   uint64 `json:"tx"`
	Drop uint64 `json:"drop"`
}

// Manifest records what made a result.
type Manifest struct {
	Tool      string            `json:"tool"`
	Version   string            `json:"version,omitempty"`
	Commit    string            `json:"commit,omitempty"`
	BuildDate string            `json:"build_date,omitempty"`
	GoVersion string            `json:"go_version"`
	Kernel    string            `json:"kernel"`
	CPUModel  string            `json:"cpu_model"`
	CPUs      int               `json:"cpus"`
	Topology  string            `json:"topology"`
	Lab       string            `json:"lab"`
	Started   time.Time         `json:"started"`
	Duration  float64           `json:"duration_s"`
	Packets   uint64            `json:"packets,omitempty"` // the window ended after this many frames
	Warmup    float64           `json:"warmup_s"`
	Ports     map[string]string `json:"ports"`
	Notes     []string          `json:"notes,omitempty"`
}

// WriteJSON writes r to path, or to stdout when path is "-".
func (r *Result) WriteJSON(path string) error {
	if path == "-" {
		return r.EncodeJSON(os.Stdout)
	}
	var b bytes.Buffer
	if err := r.EncodeJSON(&b); err != nil {
		return err
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	return nil
}

// EncodeJSON writes r as indented JSON to w.
func (r *Result) EncodeJSON(w io.Writer) error {
	r.Schema, r.Type = SchemaVersion, ResultType
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
