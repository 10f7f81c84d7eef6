// Package nsexec runs a function inside a network namespace on a locked OS
// thread. It owns nothing and changes nothing by itself: callers (the lab,
// DUT loaders, generator engines) decide what to do once inside.
package nsexec

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// Path returns the bind-mount path of a named namespace, as created by the lab.
func Path(name string) string { return "/run/netns/" + name }

// Do runs fn on a fresh OS thread switched into the network namespace at
// path (a bare name means one under /run/netns). An empty path runs fn in the
// current namespace, still on its own thread. The thread is never returned to
// the Go runtime (it exits with the goroutine), so fn may also pin it to a
// core or change other per-thread state without leaking that elsewhere.
func Do(path string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with this goroutine
		if path != "" {
			if path[0] != '/' {
				path = Path(path)
			}
			target, err := netns.GetFromPath(path)
			if err != nil {
				errc <- fmt.Errorf("open netns %s: %w", path, err)
				return
			}
			err = netns.Set(target)
			target.Close()
			if err != nil {
				errc <- fmt.Errorf("enter netns %s: %w", path, err)
				return
			}
		}
		errc <- fn()
	}()
	return <-errc
}
