//go:build dpdk && cgo

package dpdk

// The external tests (package dpdk_test, which may import generator/dpdk)
// share the in-process EAL and ring helpers of the internal ones.
var (
	RequireEAL   = requireEAL
	RingLab      = ringLab
	RunGenFrames = runGen
)
