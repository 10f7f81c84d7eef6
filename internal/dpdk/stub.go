//go:build !dpdk || !cgo

package dpdk

// Built reports whether the binding was compiled in (build tag "dpdk").
const Built = false

// Init would initialise the EAL; without the "dpdk" tag it returns ErrNotBuilt.
func Init(args []string) error { return ErrNotBuilt }
