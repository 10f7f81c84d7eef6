// Package xdplive is the xdp-live generator engine: it sends a Job's streams
// with BPF_PROG_TEST_RUN in live-frame mode (BPF_F_TEST_XDP_LIVE_FRAMES) and
// counts what comes back with an XDP sink on the RX port.
//
// The sender, xdp_gen (bpf/gen.c), runs once per frame on a page the kernel
// initialised from the stream's template and runs its generator.Program: it
// restores the headers, writes up to four varying fields (addresses, ports,
// the ICMP echo id; odometer or random), stamps the probe (stream id,
// sequence number, bpf_ktime_get_ns) and fixes the IPv4 and L4 checksums
// from sums computed in Go, then returns XDP_TX, which test-run turns into a
// transmit on the TX port. In replay mode it writes the next pcap frame from
// a BPF map instead.
// The engine never runs xdp_gen itself: it runs xdp_sched (bpf/sched.c) in
// live-frame test runs of about a millisecond, and for every frame the
// scheduler tail-calls the stream due (paced streams at their time, flat-out
// streams by weight in the gaps) or, with none due, drops the page back to
// the run's pool. Pacing is thus per frame and in the kernel; user space only
// opens and closes the window between runs and sets the packet budget.
// The receiver, xdp_sink (bpf/sink.c), counts and drops every frame. Frames
// of the streams marked generator.Stream.Latency are probes: per stream it
// tracks sequence numbers (highest seen plus a 4032-deep bitmap) to count
// unique, reordered and duplicate probes (RFC 8219), and it keeps an
// HDR-like one-way latency histogram (64 linear sub-buckets per power of
// two, ns, up to 17 s; percentiles within 0.79%). Only probes stamped inside
// the measured window count: the engine writes the window's edges, in the
// probes' clock, into the sink. Loss is probes sent in the window (xdp_gen's
// counter of the stream) minus unique probes received.
//
// Job.CaptureTX and Job.CaptureRX are filled from BPF ring buffers: xdp_gen
// copies the first frames it sends (after its rewrites, so the pcap holds
// the bytes on the wire, timestamp included) and xdp_sink the first frames it
// receives, up to 256 bytes each; the engine drains both while it runs.
//
// On a veth, the frames leave only if the TX port's peer has an XDP program
// or GRO on (the DUT's port in a lab, the sink itself on a direct g0-g1 link,
// which is the generator's self-check topology). The engine trusts only the
// sink's counts for RX, never the sender's return codes.
//
// The package owns the BPF objects it loads and the XDP link it attaches, and
// removes both before Run returns. The lab's namespaces, links and sysctls
// are internal/lab's job; the engine's own exceptions, both undone before Run
// returns, are the dispatcher pin (a dl-pin-* namespace holding never-up
// veths that keep the run's programs in the XDP dispatcher, see pin.go) and,
// only if the pin fails, rcu_expedited (internal/rcu).
package xdplive
