package xdp

// The BPF objects and their Go bindings are generated and committed, so
// `go build` needs no clang. Regenerate with `go generate ./dut/xdp/...`
// (clang 14, libbpf-dev, llvm-strip); the output is byte-for-byte the same on
// every run and in any checkout path, so CI regenerates and diffs it.
// `go run` takes bpf2go at the cilium/ebpf version go.mod pins.
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang -cflags "-O2 -g -Wall -mcpu=v3 -I/usr/include/x86_64-linux-gnu" -target bpfel -type datarec fwd bpf/fwd.c
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang -cflags "-O2 -g -Wall -mcpu=v3 -I/usr/include/x86_64-linux-gnu" -target bpfel -type pol_config -type pol_rule -type lpm_key4 -type lpm_key6 -type vip_key -type vip_val -type backend -type flow_key policy bpf/policy.c
