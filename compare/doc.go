// Package compare runs one workload through several DUT datapaths on the same
// lab and reports them side by side: throughput, loss, per-core CPU and which
// core ran what. It sees DUTs and generators only through the dut.Datapath and
// generator.Engine interfaces, and the lab only through internal/lab's Env.
package compare
