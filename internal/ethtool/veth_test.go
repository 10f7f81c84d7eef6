package ethtool_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/dutlab/dutlab/internal/ethtool"
	"github.com/dutlab/dutlab/internal/lab/labtest"
)

func TestSetFeaturesOnVeth(t *testing.T) {
	name := labtest.Netns(t, "dle")
	labtest.Veth(t, name, "e0", nil, name, "e1", nil)

	was, err := ethtool.SetGRO(name, "e0", true)
	require.NoError(t, err)
	on, err := ethtool.GRO(name, "e0")
	require.NoError(t, err)
	require.True(t, on)
	was2, err := ethtool.SetGRO(name, "e0", was)
	require.NoError(t, err)
	require.True(t, was2)
	on, err = ethtool.GRO(name, "e0")
	require.NoError(t, err)
	require.Equal(t, was, on)

	_, err = ethtool.SetGRO(name, "nosuchdev", true)
	require.ErrorIs(t, err, unix.ENODEV)

	// veth offers TSO on by default; off and back on again.
	was, err = ethtool.SetTSO(name, "e0", false)
	require.NoError(t, err)
	require.True(t, was)
	on, err = ethtool.TSO(name, "e0")
	require.NoError(t, err)
	require.False(t, on)
	_, err = ethtool.SetTSO(name, "e0", true)
	require.NoError(t, err)
	on, err = ethtool.TSO(name, "e0")
	require.NoError(t, err)
	require.True(t, on)
}
