package xdp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/dutlab/dutlab/internal/testenv"
)

// corpusDir is the shared capture corpus; DUTLAB_CORPUS overrides it.
func corpusDir() string {
	if d := os.Getenv("DUTLAB_CORPUS"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "..", "shared", "corpus", "tcpdump")
}

// maxTestFrame is the largest frame BPF_PROG_TEST_RUN hands a non-frags XDP
// program in one buffer: a 4 KiB page minus XDP_PACKET_HEADROOM and the
// skb_shared_info tailroom (3,520 bytes on x86-64), rounded down generously.
const maxTestFrame = 3000

// corpusFrame is one captured frame and where it came from.
type corpusFrame struct {
	file     string
	index    int
	linkType layers.LinkType
	data     []byte
}

// packetSource is what pcapgo's pcap and pcapng readers have in common.
type packetSource interface {
	ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	LinkType() layers.LinkType
}

// readCorpus reads every frame of every capture in dir (pcap or pcapng, any
// link type).
func readCorpus(t *testing.T, dir string) (frames []corpusFrame, badFiles map[string]error, badFrames int) {
	// Unreadable files and damaged records are logged, not fatal.
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*"))
	require.NoError(t, err)
	sort.Strings(names)
	badFiles = map[string]error{}
	for _, name := range names {
		raw, err := os.ReadFile(name)
		if err != nil {
			badFiles[name] = err
			continue
		}
		src, err := openCapture(raw)
		if err != nil {
			badFiles[name] = err
			continue
		}
		for i := 0; ; i++ {
			data, _, err := src.ReadPacketData()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				// A damaged record ends what can be read of the file.
				t.Logf("%s: stopped at record %d: %v", filepath.Base(name), i, err)
				badFrames++
				break
			}
			frames = append(frames, corpusFrame{file: filepath.Base(name), index: i, linkType: src.LinkType(), data: data})
		}
	}
	return frames, badFiles, badFrames
}

// openCapture opens raw as pcap, or as pcapng if it is not pcap.
func openCapture(raw []byte) (packetSource, error) {
	if r, err := pcapgo.NewReader(bytes.NewReader(raw)); err == nil {
		return r, nil
	}
	r, err := pcapgo.NewNgReader(bytes.NewReader(raw), pcapgo.DefaultNgReaderOptions)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// TestXDPFwdCorpus runs every frame of the capture corpus through xdp_fwd,
// with and without dec_ttl, whatever its link type: the program must never
// abort, must redirect or drop, and a redirected frame must carry the Out
// MACs and otherwise be unchanged (dec_ttl: only the TTL/hop limit and the
// IPv4 checksum may change, and a valid checksum must stay valid).
func TestXDPFwdCorpus(t *testing.T) {
	dir := corpusDir()
	if _, err := os.Stat(dir); err != nil {
		testenv.SkipOrFail(t, "capture corpus not found (set DUTLAB_CORPUS): "+err.Error())
	}
	frames, badFiles, badFrames := readCorpus(t, dir)
	for name, err := range badFiles {
		t.Logf("skipped unreadable capture %s: %v", filepath.Base(name), err)
	}
	l2 := loadTestForwarder(t, false).XdpFwd
	ttl := loadTestForwarder(t, true).XdpFwd

	var ran, runts, tooBig, redirected, dropped, ttlDropped, csumChecked int
	linkTypes := map[layers.LinkType]int{}
	for _, f := range frames {
		linkTypes[f.linkType]++
		verdict, out, err := runFrame(l2, f.data)
		if err != nil && len(f.data) < 14 {
			// The kernel refuses test input under 14 bytes.
			require.ErrorIs(t, err, unix.EINVAL, "%s #%d", f.file, f.index)
			runts++
			continue
		}
		if err != nil && len(f.data) > maxTestFrame {
			// Above one page minus head- and tailroom the kernel builds a
			// multi-buffer frame, which a program without xdp.frags may
			// not see (EINVAL) or which does not fit (ENOMEM).
			t.Logf("%s #%d: %d-byte frame not runnable: %v", f.file, f.index, len(f.data), err)
			tooBig++
			continue
		}
		require.NoError(t, err, "%s #%d", f.file, f.index)
		ran++
		require.NotEqual(t, uint32(xdpAborted), verdict, "%s #%d aborted", f.file, f.index)
		switch verdict {
		case xdpRedirect:
			redirected++
			require.Equal(t, rewritten(f.data), out, "%s #%d output", f.file, f.index)
		case xdpDrop:
			dropped++
			require.Equal(t, f.data, out, "%s #%d dropped frame changed", f.file, f.index)
		default:
			t.Fatalf("%s #%d: verdict %d, want redirect or drop", f.file, f.index, verdict)
		}

		verdict, out, err = runFrame(ttl, f.data)
		require.NoError(t, err, "%s #%d (dec_ttl)", f.file, f.index)
		switch verdict {
		case xdpDrop:
			ttlDropped++
			require.Equal(t, f.data, out, "%s #%d dropped frame changed (dec_ttl)", f.file, f.index)
		case xdpRedirect:
			if checkTTLRewrite(t, f, out) {
				csumChecked++
			}
		default:
			t.Fatalf("%s #%d: verdict %d with dec_ttl, want redirect or drop", f.file, f.index, verdict)
		}
	}
	t.Logf("corpus %s: %d frames read (%d unreadable files, %d damaged records), %d run: %d redirected, %d dropped; "+
		"not runnable: %d runts, %d over a page; dec_ttl: %d dropped, %d IPv4 checksums verified; link types %v",
		dir, len(frames), len(badFiles), badFrames, ran, redirected, dropped, runts, tooBig, ttlDropped, csumChecked, linkTypes)
	require.GreaterOrEqual(t, ran, 7000, "frames run through xdp_fwd")
}

// checkTTLRewrite checks a frame redirected by the dec_ttl program against
// its input, parsing the way bpf/parsing.h does (up to two VLAN tags). It
// returns true when it verified an IPv4 header checksum.
func checkTTLRewrite(t *testing.T, f corpusFrame, out []byte) bool {
	t.Helper()
	in := f.data
	require.Len(t, out, len(in))
	require.Equal(t, rewritten(in)[:12], out[:12], "%s #%d MACs", f.file, f.index)
	want := append([]byte{}, in...)
	copy(want, out[:12])

	off, etype := 12, binary.BigEndian.Uint16(in[12:14])
	off += 2
	for i := 0; i < 2 && (etype == 0x8100 || etype == 0x88a8); i++ {
		if len(in) < off+4 {
			break
		}
		etype = binary.BigEndian.Uint16(in[off+2:])
		off += 4
	}
	verified := false
	switch {
	case etype == 0x0800 && len(in) >= off+20 && in[off]&0x0f >= 5 && len(in) >= off+int(in[off]&0x0f)*4:
		hl := int(in[off]&0x0f) * 4
		require.Greater(t, in[off+8], uint8(1), "%s #%d: expired TTL redirected", f.file, f.index)
		want[off+8] = in[off+8] - 1
		copy(want[off+10:off+12], out[off+10:off+12]) // checksum checked below
		if ipChecksumOK(in[off : off+hl]) {
			require.True(t, ipChecksumOK(out[off:off+hl]), "%s #%d: checksum broken by TTL rewrite", f.file, f.index)
			verified = true
		}
	case etype == 0x86dd && len(in) >= off+40:
		require.Greater(t, in[off+7], uint8(1), "%s #%d: expired hop limit redirected", f.file, f.index)
		want[off+7] = in[off+7] - 1
	}
	require.Equal(t, want, out, "%s #%d (dec_ttl)", f.file, f.index)
	return verified
}

// ipChecksumOK reports whether an IPv4 header sums to 0xffff (RFC 1071).
func ipChecksumOK(h []byte) bool {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return sum == 0xffff
}
