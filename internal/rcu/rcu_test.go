package rcu

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The knob and the state live in a temporary folder: holders share the
// setting, the last one to leave restores it, and Restore mends what a
// killed holder left.
func TestHolders(t *testing.T) {
	dir := t.TempDir()
	Knob, StateDir = filepath.Join(dir, "rcu_expedited"), filepath.Join(dir, "run")
	read := func() string {
		b, err := os.ReadFile(Knob)
		require.NoError(t, err)
		return strings.TrimSpace(string(b))
	}
	require.NoError(t, os.WriteFile(Knob, []byte("0\n"), 0o644))

	a, err := Expedite()
	require.NoError(t, err)
	require.Equal(t, "0", a.Before)
	require.Equal(t, "1", read())
	b, err := Expedite()
	require.NoError(t, err)
	require.Equal(t, "0", b.Before, "the second holder sees the value before the first")

	require.NoError(t, a.Release())
	require.Equal(t, "1", read(), "b still holds it")
	require.NoError(t, Restore())
	require.Equal(t, "1", read(), "Restore leaves a held setting alone")
	require.NoError(t, b.Release())
	require.Equal(t, "0", read(), "the last holder restores")
	require.NoError(t, b.Release(), "a second release is a no-op")

	// A killed holder: the saved value stays until Restore.
	c, err := Expedite()
	require.NoError(t, err)
	// The process died: its lock is gone and nobody released.
	require.NoError(t, held.Close())
	held, holders = nil, 0
	_ = c
	require.Equal(t, "1", read())
	require.NoError(t, Restore())
	require.Equal(t, "0", read())
	_, err = os.Stat(savedPath())
	require.ErrorIs(t, err, os.ErrNotExist)
	require.NoError(t, Restore(), "nothing saved: nothing to do")

	Knob = filepath.Join(dir, "missing")
	_, err = Expedite()
	require.Error(t, err)
}
