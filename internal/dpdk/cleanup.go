package dpdk

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// PrefixBase starts every EAL --file-prefix dutlab uses, so Cleanup can find
// what a killed process left behind.
const PrefixBase = "dl-"

// Leftover locations: the EAL runtime directory and hugetlbfs mounts.
var (
	runtimeDir = "/var/run/dpdk"
	hugeDirs   = []string{"/dev/hugepages", "/dev/hugepages1G", "/mnt/huge"}
)

// FilePrefix returns a unique EAL file prefix for this process: dl-<tag>-<pid>.
func FilePrefix(tag string) string {
	if tag == "" {
		return fmt.Sprintf("%s%d", PrefixBase, os.Getpid())
	}
	return fmt.Sprintf("%s%s-%d", PrefixBase, tag, os.Getpid())
}

// Cleanup removes /var/run/dpdk/dl-* directories and dl-* hugepage files left
// by DPDK processes that are gone. Entries whose trailing pid is a live
// process are kept. It needs no cgo; `dutlab down` calls it.
func Cleanup() error {
	var errs []error
	dirs := append([]string{runtimeDir}, hugeDirs...)
	for _, dir := range dirs {
		matches, _ := filepath.Glob(filepath.Join(dir, PrefixBase+"*"))
		for _, m := range matches {
			if pidAlive(filepath.Base(m)) {
				continue
			}
			if err := os.RemoveAll(m); err != nil {
				errs = append(errs, fmt.Errorf("remove %s: %w", m, err))
			}
		}
	}
	return errors.Join(errs...)
}

// pidAlive reports whether name ends in -<pid> or dl-<pid> of a live process.
func pidAlive(name string) bool {
	// Hugepage files are <prefix>map_<n>; the pid sits before "map_".
	name = strings.SplitN(strings.TrimPrefix(name, PrefixBase), "map_", 2)[0]
	if i := strings.LastIndexByte(name, '-'); i >= 0 {
		name = name[i+1:]
	}
	pid, err := strconv.Atoi(name)
	if err != nil || pid <= 0 {
		return false
	}
	err = syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// RemoveRuntime removes the EAL runtime directory of prefix; a process calls
// it for its own prefix after EALCleanup (the EAL leaves the directory behind).
func RemoveRuntime(prefix string) error {
	if prefix == "" || !strings.HasPrefix(prefix, PrefixBase) {
		return fmt.Errorf("remove runtime dir: prefix %q is not dutlab's", prefix)
	}
	return os.RemoveAll(filepath.Join(runtimeDir, prefix))
}
