//go:build !dpdk || !cgo

package main

import (
	"fmt"
	"os"

	"github.com/dutlab/dutlab/internal/dpdk"
)

func main() {
	fmt.Fprintln(os.Stderr, "dutlab-dpdk:", dpdk.ErrNotBuilt)
	os.Exit(2)
}
