package kernel

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/dutlab/dutlab/internal/nsexec"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ensureRoute checks, inside netns, that the first address of dst is routed
// out ifname, and adds a link-scope route to dst through ifname if nothing
// routes it. A route through another interface is an error: it would need
// the lab's topology to be wrong.
func ensureRoute(netns, ifname string, dst netip.Prefix) (added bool, err error) {
	err = nsexec.Do(netns, func() error {
		link, err := netlink.LinkByName(ifname)
		if err != nil {
			return err
		}
		idx := link.Attrs().Index
		routes, err := netlink.RouteGet(net.IP(dst.Addr().AsSlice()))
		switch {
		case errors.Is(err, unix.ENETUNREACH) || errors.Is(err, unix.EHOSTUNREACH):
		case err != nil:
			return fmt.Errorf("look up route: %w", err)
		default:
			for _, rt := range routes {
				if rt.LinkIndex == idx {
					return nil
				}
			}
			if len(routes) > 0 && routes[0].Dst != nil && !isDefault(routes[0].Dst) {
				l, _ := netlink.LinkByIndex(routes[0].LinkIndex)
				name := fmt.Sprint(routes[0].LinkIndex)
				if l != nil {
					name = l.Attrs().Name
				}
				return fmt.Errorf("%s is routed via %s, not %s", dst, name, ifname)
			}
		}
		if err := netlink.RouteAdd(linkRoute(idx, dst)); err != nil {
			return fmt.Errorf("add route: %w", err)
		}
		added = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("ensure route to %s via %s: %w", dst, ifname, err)
	}
	return added, nil
}

// deleteRoute removes the route ensureRoute added.
func deleteRoute(netns, ifname string, dst netip.Prefix) error {
	return nsexec.Do(netns, func() error {
		link, err := netlink.LinkByName(ifname)
		if err != nil {
			return err
		}
		return netlink.RouteDel(linkRoute(link.Attrs().Index, dst))
	})
}

func linkRoute(idx int, dst netip.Prefix) *netlink.Route {
	return &netlink.Route{
		LinkIndex: idx,
		Scope:     netlink.SCOPE_LINK,
		Dst: &net.IPNet{
			IP:   net.IP(dst.Addr().AsSlice()),
			Mask: net.CIDRMask(dst.Bits(), dst.Addr().BitLen()),
		},
	}
}

func isDefault(n *net.IPNet) bool {
	ones, _ := n.Mask.Size()
	return ones == 0
}
