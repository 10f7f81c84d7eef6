// Package dpdk is dutlab's own small cgo binding to DPDK 22.11 (pkg-config
// libdpdk): EAL, lcores, mempools, mbufs and ethdev, plus the two C fast paths
// (the generator's TX/RX loop and the forwarder's loop) that run many bursts
// per cgo call. It is the only package with DPDK cgo, and all of that cgo sits
// behind the build tag "dpdk"; without the tag the package builds cgo-free and
// Init returns ErrNotBuilt.
//
// Session (tag "dpdk") is a worker process's started EAL with its ports and
// pools; the workers themselves are generator/dpdk.RunWorker and
// dut/dpdk.RunWorker, run by cmd/dutlab-dpdk.
//
// The pure-Go parts (no tag) are shared by the workers and the Go-side
// engines that spawn them (generator/dpdk, dut/dpdk): the JSON configuration
// and stats-line types (LineWriter writes the lines), the EAL argument
// builder, ring and pool sizing, the probe layout and histogram bucket
// layout, and Cleanup for leftovers. This package imports no dutlab package
// but nsexec (generator/dpdk imports it, never the reverse) and never changes
// the host's network.
package dpdk

import "errors"

// ErrNotBuilt is returned by the binding when the binary was built without the
// "dpdk" build tag (or without cgo).
var ErrNotBuilt = errors.New("dpdk: built without -tags dpdk")
