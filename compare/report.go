package compare

import (
	"encoding/csv"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/dutlab/dutlab/generator"
)

var header = []string{"datapath", "frame", "offered Mpps", "received Mpps", "loss %", "rx Gbps", "DUT busy % (usr/sys/sirq)", "DUT ns/pkt", "gen busy %", "latency us p50/p99/p99.9/max", "cores"}

func cells(r Row) []string {
	if r.Error != "" {
		return []string{r.label(), strconv.Itoa(r.FrameSize), "-", "-", "-", "-", "error: " + r.Error, "-", "-", "-", "-"}
	}
	return []string{
		r.label(),
		strconv.Itoa(r.FrameSize),
		fmt.Sprintf("%.3f%s", r.OfferedMpps, ifaceMark(r, "offered")),
		fmt.Sprintf("%.3f%s%s", r.RxMpps, ifaceMark(r, "received"), boundMark(r)),
		lossCell(r),
		fmt.Sprintf("%.3f", r.RxGbps),
		fmt.Sprintf("%.0f (%.0f/%.0f/%.0f)", r.DUTCPU.BusyPct, r.DUTCPU.UserPct, r.DUTCPU.SysPct, r.DUTCPU.SoftirqPct),
		fmt.Sprintf("%.0f", r.CyclesPerPkt),
		fmt.Sprintf("%.0f", r.GenCPU.BusyPct),
		latencyCell(r.Latency),
		coresCell(r.Cores),
	}
}

func latencyCell(l *generator.Latency) string {
	if l == nil || l.Received == 0 {
		return "-"
	}
	us := func(ns uint64) string { return strconv.FormatFloat(float64(ns)/1e3, 'f', 1, 64) }
	return us(l.P50Ns) + "/" + us(l.P99Ns) + "/" + us(l.P999Ns) + "/" + us(l.MaxNs)
}

func boundMark(r Row) string {
	if r.GeneratorBound {
		return " (gen-bound)"
	}
	return ""
}

// lossCell is the loss, with the share lost at the DUT's In port ring
// (before the DUT saw the frames) when there was any.
func lossCell(r Row) string {
	if r.TxIfaceDropped == 0 || r.TxPackets == 0 {
		return fmt.Sprintf("%.2f", r.LossPct)
	}
	return fmt.Sprintf("%.2f (ring %.2f)", r.LossPct, float64(r.TxIfaceDropped)/float64(r.TxPackets)*100)
}

// ifaceMark flags a count the kernel's interface counter disagrees with.
func ifaceMark(r Row, what string) string {
	for _, m := range r.IfaceMismatch {
		if strings.HasPrefix(m, what+":") {
			return " (iface!)"
		}
	}
	return ""
}

func coresCell(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, "core "+k+": "+m[k])
	}
	return strings.Join(parts, "; ")
}

// WriteTable writes the terminal table.
func (r *Result) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, row := range r.Results {
		fmt.Fprintln(tw, strings.Join(cells(row), "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	r.writeFooter(w)
	return nil
}

func (r *Result) writeFooter(w io.Writer) {
	m := r.Manifest
	fmt.Fprintf(w, "\n%s, kernel %s, %s (%d CPUs), %gs per datapath after %gs warm-up; Gbps on the wire (frame+20 B).\n",
		m.Topology, m.Kernel, m.CPUModel, m.CPUs, m.Duration, m.Warmup)
	if sc := r.SelfCheck; sc != nil {
		fmt.Fprintf(w, "generator ceiling (self-check loop): %.3f Mpps received of %.3f offered; rows at >= %.0f%% of it are marked gen-bound.\n",
			sc.RxMpps, sc.OfferedMpps, GeneratorBoundShare*100)
	}
	for _, row := range r.Results {
		if row.GenBoundReason != "" {
			fmt.Fprintf(w, "gen-bound %s: %s\n", row.label(), row.GenBoundReason)
		}
		for _, mm := range row.IfaceMismatch {
			fmt.Fprintf(w, "iface! %s: %s (beyond %.1f%%)\n", row.label(), mm, IfaceTolerance*100)
		}
	}
	for _, n := range m.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

// WriteMarkdown writes a Markdown table.
func (r *Result) WriteMarkdown(w io.Writer) error {
	fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(header, " | "), strings.Repeat("---|", len(header)))
	for _, row := range r.Results {
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells(row), " | "))
	}
	r.writeFooter(w)
	return nil
}

// WriteCSV writes one line per row with machine-friendly columns.
func (r *Result) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"datapath", "function", "engine", "frame_size", "flows", "window_s", "tx_packets", "rx_packets", "offered_mpps", "rx_mpps",
		"loss_pct", "offered_gbps", "rx_gbps", "dut_busy_pct", "dut_user_pct", "dut_sys_pct", "dut_softirq_pct", "dut_busy_ns_per_pkt", "gen_busy_pct", "generator_bound", "tx_iface_packets", "tx_iface_dropped", "rx_iface_packets", "lat_p50_ns", "lat_p99_ns", "lat_p999_ns", "lat_max_ns", "error"})
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 4, 64) }
	for _, x := range r.Results {
		_ = cw.Write([]string{x.Datapath, x.Function, x.Engine, strconv.Itoa(x.FrameSize), strconv.Itoa(x.Flows), f(x.WindowSec),
			strconv.FormatUint(x.TxPackets, 10), strconv.FormatUint(x.RxPackets, 10), f(x.OfferedMpps), f(x.RxMpps),
			f(x.LossPct), f(x.OfferedGbps), f(x.RxGbps), f(x.DUTCPU.BusyPct), f(x.DUTCPU.UserPct), f(x.DUTCPU.SysPct),
			f(x.DUTCPU.SoftirqPct), f(x.CyclesPerPkt), f(x.GenCPU.BusyPct), strconv.FormatBool(x.GeneratorBound),
			strconv.FormatUint(x.TxIfacePackets, 10), strconv.FormatUint(x.TxIfaceDropped, 10), strconv.FormatUint(x.RxIfacePackets, 10), lat(x, 0), lat(x, 1), lat(x, 2), lat(x, 3), x.Error})
	}
	cw.Flush()
	return cw.Error()
}

// lat returns one latency column for CSV: 0 p50, 1 p99, 2 p99.9, 3 max.
func lat(r Row, i int) string {
	if r.Latency == nil || r.Latency.Received == 0 {
		return ""
	}
	v := [...]uint64{r.Latency.P50Ns, r.Latency.P99Ns, r.Latency.P999Ns, r.Latency.MaxNs}[i]
	return strconv.FormatUint(v, 10)
}

// label is the row's name in tables: the datapath, with its function when
// it is not plain forwarding.
func (r Row) label() string {
	return run{r.Datapath, r.Function}.label()
}
