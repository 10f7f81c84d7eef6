package ethtool

import (
	"runtime"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/dutlab/dutlab/internal/testenv"
)

func TestIfreqSize(t *testing.T) {
	require.Equal(t, unsafe.Sizeof(unix.Ifreq{}), unsafe.Sizeof(ifreqData{}))
}

func TestSetFeaturesOnVeth(t *testing.T) {
	testenv.RequireRoot(t)
	name := testenv.UniqueName("dle")
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends in the new namespace
		h, err := netns.NewNamed(name)
		if err == nil {
			h.Close()
			err = netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "e0"}, PeerName: "e1"})
		}
		done <- err
	}()
	require.NoError(t, <-done)
	t.Cleanup(func() { _ = netns.DeleteNamed(name) })

	was, err := SetGRO(name, "e0", true)
	require.NoError(t, err)
	on, err := GRO(name, "e0")
	require.NoError(t, err)
	require.True(t, on)
	was2, err := SetGRO(name, "e0", was)
	require.NoError(t, err)
	require.True(t, was2)
	on, err = GRO(name, "e0")
	require.NoError(t, err)
	require.Equal(t, was, on)

	_, err = SetGRO(name, "nosuchdev", true)
	require.ErrorIs(t, err, unix.ENODEV)

	// veth offers TSO on by default; off and back on again.
	was, err = SetTSO(name, "e0", false)
	require.NoError(t, err)
	require.True(t, was)
	on, err = TSO(name, "e0")
	require.NoError(t, err)
	require.False(t, on)
	_, err = SetTSO(name, "e0", true)
	require.NoError(t, err)
	on, err = TSO(name, "e0")
	require.NoError(t, err)
	require.True(t, on)
}
