// Package buildinfo says which source a binary was built from. The Makefile
// sets Version, Commit and Date with -ldflags -X; a plain `go build` in a git
// checkout falls back to the module version and VCS stamp Go embeds.
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Set by the Makefile: -X github.com/dutlab/dutlab/internal/buildinfo.Version=... .Commit=... .Date=...
var (
	Version string // git describe: the nearest tag, or the short commit without one
	Commit  string // git commit, with "-dirty" when the tree had changes
	Date    string // build date, RFC 3339 UTC
)

// Info is what a binary knows about its build.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Date      string `json:"build_date"`
	GoVersion string `json:"go_version"`
}

// Get returns the build info, from the linker flags or else from Go's VCS
// stamp; fields stay empty when neither says.
func Get() Info {
	in := Info{Version: Version, Commit: Commit, Date: Date, GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if in.Version == "" {
			in.Version = bi.Main.Version // a pseudo-version from the VCS stamp, or (devel)
		}
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
