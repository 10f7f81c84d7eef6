package xdplive

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dutlab/dutlab/generator"
	"github.com/dutlab/dutlab/internal/testenv"
)

// TestLoopReplay replays frames read from a pcap as they are, in order, and
// checks that the receive side got them byte for byte.
func TestLoopReplay(t *testing.T) {
	requireBPF(t)
	testenv.SerializeMeasurement(t)
	var frames [][]byte
	for i := range 3 {
		tm, err := generator.BuildUDP(testStream(64+64*i, 1)) // under the 256-byte capture snap length
		require.NoError(t, err)
		frames = append(frames, tm.Frame)
	}
	dir := t.TempDir()
	c, err := generator.NewCapture(filepath.Join(dir, "replay.pcap"), len(frames))
	require.NoError(t, err)
	for _, f := range frames {
		c.Add(time.Now(), f)
	}
	require.NoError(t, c.Close())
	replay, err := generator.ReadPcap(filepath.Join(dir, "replay.pcap"))
	require.NoError(t, err)
	require.Len(t, replay, 3)

	lp := newLoop(t)
	rx, err := generator.NewCapture(filepath.Join(dir, "rx.pcap"), 6)
	require.NoError(t, err)
	job := lp.job(generator.Stream{Name: "replay", Frames: replay, RatePPS: 1000}, 0, 500*time.Millisecond)
	job.CaptureRX = rx
	st, err := New().Run(context.Background(), job)
	require.NoError(t, err)
	require.NoError(t, rx.Close())
	require.InDelta(t, 500, float64(st.TxPackets), 25, "1000 pps for 0.5 s")
	require.Equal(t, st.TxPackets, st.RxPackets)
	got, err := generator.ReadPcap(filepath.Join(dir, "rx.pcap"))
	require.NoError(t, err)
	require.Len(t, got, 6)
	for i, f := range got {
		require.Equal(t, frames[i%3], f, "frame %d", i)
	}

	// Replay runs as many frames per test run as a template stream: flat
	// out, every frame arrives and the bytes say the sizes took turns.
	st, err = New().Run(context.Background(), lp.job(generator.Stream{Name: "replay", Frames: replay}, 0, 300*time.Millisecond))
	require.NoError(t, err)
	require.Equal(t, st.TxPackets, st.RxPackets)
	require.Greater(t, st.TxPackets, uint64(100_000), "flat-out replay in 0.3 s")
	mean := float64(len(frames[0])+len(frames[1])+len(frames[2])) / 3
	require.InDelta(t, mean, float64(st.TxBytes)/float64(st.TxPackets), 0.01*mean)
}

func TestReplayRejectsBadFrames(t *testing.T) {
	_, err := loadReplay([][]byte{make([]byte, 60), make([]byte, 10)}, 0, nil)
	require.ErrorContains(t, err, "replay frame 1 is 10 bytes; want 14..3000")
}

// A replay stream leaves its bytes in the pages the scheduler hands to the
// other streams of the run. Mixed with a longer template stream (paced, so
// their frames interleave), every template frame that arrives is still the
// template: zero payload after the headers and right checksums.
func TestLoopReplayWithTemplate(t *testing.T) {
	requireBPF(t)
	lp := newLoop(t)
	junk := make([]byte, 240)
	for i := range junk {
		junk[i] = 0xff
	}
	copy(junk[12:], []byte{0x88, 0xb5}) // local experimental EtherType: no stream of ours
	tmpl := testStream(200, 4)          // longer than the 96 bytes xdp_gen copies
	tmpl.RatePPS = 20_000
	job := lp.job(generator.Stream{Name: "junk", Frames: [][]byte{junk}, RatePPS: 20_000}, 0, 200*time.Millisecond)
	job.Streams = append(job.Streams, tmpl)
	rxPath := filepath.Join(t.TempDir(), "rx.pcap")
	rx, err := generator.NewCapture(rxPath, 400)
	require.NoError(t, err)
	job.CaptureRX = rx
	st, err := New().Run(context.Background(), job)
	require.NoError(t, err)
	require.NoError(t, rx.Close())
	require.Equal(t, st.TxPackets, st.RxPackets)
	got, err := generator.ReadPcap(rxPath)
	require.NoError(t, err)
	require.Len(t, got, 400)
	var templates int
	for i, f := range got {
		if f[12] == 0x88 {
			require.Equal(t, junk, f, "frame %d", i)
			continue
		}
		templates++
		require.Len(t, f, 196, "frame %d", i)
		require.NoError(t, generator.VerifyFrame(f), "frame %d", i)
		require.Equal(t, make([]byte, 196-96), f[96:], "frame %d: payload after the headers", i)
	}
	require.InDelta(t, 200, templates, 20, "the two streams take turns")
}
