package buildinfo

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestLinkerFlagsWin: what the Makefile sets with -X is what Get reports,
// whatever Go's own VCS stamp says.
func TestLinkerFlagsWin(t *testing.T) {
	defer func(v, c, d string) { Version, Commit, Date = v, c, d }(Version, Commit, Date)
	Version, Commit, Date = "v0.3.0-2-gabc1234", "abc1234def", "2026-12-03T17:00:00Z"
	got := Get()
	require.Equal(t, Info{Version: Version, Commit: Commit, Date: Date, GoVersion: runtime.Version()}, got)
}

// TestFallback: without linker flags Get still names the Go version and
// never marks an unknown commit dirty.
func TestFallback(t *testing.T) {
	defer func(v, c, d string) { Version, Commit, Date = v, c, d }(Version, Commit, Date)
	Version, Commit, Date = "", "", ""
	got := Get()
	require.Equal(t, runtime.Version(), got.GoVersion)
	require.NotEqual(t, "-dirty", got.Commit)
}
