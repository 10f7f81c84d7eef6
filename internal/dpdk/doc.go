// Package dpdk is dutlab's own small cgo binding to DPDK 22.11 (pkg-config
// libdpdk): EAL, lcores, mempools, mbufs and ethdev, plus the two C fast paths
// (the generator's TX/RX loop and the forwarder's loop) that run many bursts
// per cgo call. It is the only package with DPDK cgo, and all of that cgo sits
// behind the build tag "dpdk"; without the tag the package builds cgo-free and
// Init returns ErrNotBuilt.
//
// The pure-Go parts (no tag) are shared by the worker binary (cmd/dutlab-dpdk)
// and the Go-side engines that spawn it (generator/dpdk, dut/dpdk): the JSON
// configuration and stats-line types, the EAL argument builder, the probe
// layout and histogram bucket layout, and Cleanup for leftovers. This package
// never changes the host's network.
package dpdk

import "errors"

// ErrNotBuilt is returned by the binding when the binary was built without the
// "dpdk" build tag (or without cgo).
var ErrNotBuilt = errors.New("dpdk: built without -tags dpdk")
