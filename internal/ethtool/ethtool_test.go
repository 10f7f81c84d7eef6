package ethtool

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestIfreqSize(t *testing.T) {
	require.Equal(t, unsafe.Sizeof(unix.Ifreq{}), unsafe.Sizeof(ifreqData{}))
}
