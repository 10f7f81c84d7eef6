// Package xdp is the XDP datapath of the DUT: the BPF C source tree under
// bpf/ (one entry file, fwd.c, with parsing, map, struct and tunable headers
// next to it), the bpf2go output generated from it (committed, so building
// needs no clang; regenerate with `go generate ./dut/xdp/...`), and the loader
// that attaches it to a DUT's ports.
//
// It registers two datapaths, xdp-native (driver mode) and xdp-generic (SKB
// mode). Both run xdp_fwd on the In port, which redirects every frame through
// a devmap to the Out port with the MACs rewritten toward the wire across
// Out.
//
// Native XDP over veth: a frame redirected into a veth is delivered only if
// the veth at the other end of that wire has a NAPI instance, that is an XDP
// program attached or GRO on; otherwise the kernel drops it silently while
// xdp_fwd counts a redirect. An XDP program on the Out device itself does not
// help (TestEndToEndNative measures all four cases), so Attach does not add
// one. The receiving side of the wire is not the DUT's to change: the lab (GRO
// on its veths) or the generator's XDP sink provides that NAPI. PassProgram
// attaches a pass-everything program for tests and tools that need one.
//
// The package owns the BPF objects it loads and the XDP links it creates, and
// nothing else: it never creates interfaces or namespaces and never changes
// sysctls or GRO (that is internal/lab's job).
package xdp
