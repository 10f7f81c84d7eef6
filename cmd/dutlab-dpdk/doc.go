// Command dutlab-dpdk is dutlab's DPDK worker: one process per DPDK component,
// started by generator/dpdk (`dutlab-dpdk gen`) and dut/dpdk (`dutlab-dpdk
// fwd`) inside the right network namespace.
//
//	dutlab-dpdk gen|fwd [--netns NAME|PATH] [--config FILE|-] < config.json
//
// The configuration is a dpdk.GenConfig or dpdk.FwdConfig in JSON (stdin by
// default). The worker enters --netns on its main thread before the EAL starts,
// prints a dpdk.StatsLine JSON line about once a second on stdout and a "final"
// line at the end, and on SIGINT/SIGTERM stops its ports, closes them (which
// detaches af_xdp programs) and calls rte_eal_cleanup. DPDK's own log goes to
// stderr. Built without -tags dpdk it only reports that.
//
// This command only parses its flags and dispatches: the generator worker is
// generator/dpdk.RunWorker, the forwarder dut/dpdk.RunWorker, and the EAL,
// ports and pools they share are internal/dpdk.Session.
package main
