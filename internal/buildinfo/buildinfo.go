// Package buildinfo says which source a binary was built from. The Makefile
// sets Commit and Date with -ldflags -X; a plain `go build` in a git checkout
// falls back to the VCS stamp Go embeds.
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Set by the Makefile: -X github.com/dutlab/dutlab/internal/buildinfo.Commit=... .Date=...
var (
	Commit string // git commit, with "-dirty" when the tree had changes
	Date   string // build date, RFC 3339 UTC
)

// Info is what a binary knows about its build.
type Info struct {
	Commit    string `json:"commit"`
	Date      string `json:"build_date"`
	GoVersion string `json:"go_version"`
}

// Get returns the build info, from the linker flags or else from Go's VCS
// stamp; fields stay empty when neither says.
func Get() Info {
	in := Info{Commit: Commit, Date: Date, GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		var modified bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if in.Commit == "" {
					in.Commit = s.Value
				}
			case "vcs.time":
				if in.Date == "" {
					in.Date = s.Value
				}
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified && Commit == "" && in.Commit != "" {
			in.Commit += "-dirty"
		}
	}
	return in
}
