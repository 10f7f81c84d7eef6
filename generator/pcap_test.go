package generator

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dutlab/dutlab/internal/testenv"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// pcapTestFrames builds a few frames of different protocols and sizes.
func pcapTestFrames(t *testing.T) [][]byte {
	t.Helper()
	var frames [][]byte
	for i, proto := range protos {
		for _, ipv := range []int{4, 6} {
			s := frTestSpec(proto, ipv, uint16(i), KindTraffic)
			frame, _, err := BuildFrame(s, frTestSrcMAC, frTestDstMAC, 100+len(frames)*97)
			if err != nil {
				t.Fatal(err)
			}
			frames = append(frames, frame)
		}
	}
	return frames
}

func TestPcapRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rt.pcap")
	frames := pcapTestFrames(t)
	c, err := NewCapture(path, len(frames))
	if err != nil {
		t.Fatal(err)
	}
	base := time.Unix(1700000000, 123456789)
	for i, f := range frames {
		c.Add(base.Add(time.Duration(i)*time.Microsecond+time.Duration(i)), f)
	}
	c.Add(base, []byte("one too many"))
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	c.Add(base, frames[0]) // after Close: ignored, no panic

	got, err := ReadPcap(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(frames) {
		t.Fatalf("read %d frames, want %d", len(got), len(frames))
	}
	for i := range frames {
		want := frames[i][:min(len(frames[i]), CaptureSnaplen)] // longer frames are cut
		if !bytes.Equal(got[i], want) {
			t.Errorf("frame %d differs:\n got %x\nwant %x", i, got[i], want)
		}
	}

	// Timestamps keep their nanoseconds.
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	for i := range frames {
		_, ci, err := r.ReadPacketData()
		if err != nil {
			t.Fatal(err)
		}
		if want := base.Add(time.Duration(i)*time.Microsecond + time.Duration(i)); !ci.Timestamp.Equal(want) {
			t.Errorf("frame %d timestamp %v, want %v", i, ci.Timestamp, want)
		}
	}
}

// TestPcapCaptureConcurrent adds from many goroutines: exactly n frames land.
func TestPcapCaptureConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.pcap")
	const n = 100
	c, err := NewCapture(path, n)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			frame := bytes.Repeat([]byte{byte(g)}, 60)
			for range 50 {
				c.Add(time.Now(), frame)
			}
		}()
	}
	wg.Wait()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := ReadPcap(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Errorf("captured %d frames, want %d", len(got), n)
	}
	for i, f := range got {
		if !bytes.Equal(f, bytes.Repeat(f[:1], 60)) {
			t.Fatalf("frame %d is torn: %x", i, f)
		}
	}
}

func TestPcapNewCaptureErrors(t *testing.T) {
	if _, err := NewCapture(filepath.Join(t.TempDir(), "x.pcap"), 0); err == nil {
		t.Error("NewCapture(n=0) succeeded")
	}
	if _, err := NewCapture(filepath.Join(t.TempDir(), "no/such/dir/x.pcap"), 1); err == nil {
		t.Error("NewCapture in a missing directory succeeded")
	}
}

func TestPcapReadFormats(t *testing.T) {
	frames := pcapTestFrames(t)
	dir := t.TempDir()
	ts := time.Unix(1700000000, 0)

	pcapBytes := func(link layers.LinkType) []byte {
		var b bytes.Buffer
		w := pcapgo.NewWriter(&b)
		if err := w.WriteFileHeader(65535, link); err != nil {
			t.Fatal(err)
		}
		for _, f := range frames {
			if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(f), Length: len(f)}, f); err != nil {
				t.Fatal(err)
			}
		}
		return b.Bytes()
	}
	ngBytes := func(link layers.LinkType) []byte {
		var b bytes.Buffer
		w, err := pcapgo.NewNgWriter(&b, link)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range frames {
			if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(f), Length: len(f)}, f); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	gz := func(data []byte) []byte {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(data)
		zw.Close()
		return b.Bytes()
	}
	good := pcapBytes(layers.LinkTypeEthernet)

	tests := []struct {
		name      string
		data      []byte
		wantN     int
		wantErr   string
		notEthern bool
	}{
		{name: "pcap", data: good, wantN: len(frames)},
		{name: "pcapng", data: ngBytes(layers.LinkTypeEthernet), wantN: len(frames)},
		{name: "pcap.gz", data: gz(good), wantN: len(frames)},
		{name: "pcapng.gz", data: gz(ngBytes(layers.LinkTypeEthernet)), wantN: len(frames)},
		{name: "raw-ip", data: pcapBytes(layers.LinkTypeRaw), notEthern: true},
		{name: "ng-raw-ip", data: ngBytes(layers.LinkTypeRaw), notEthern: true},
		{name: "truncated", data: good[:len(good)-10], wantN: len(frames) - 1, wantErr: "frame 8"},
		{name: "empty", data: nil, wantErr: "too short"},
		{name: "garbage", data: []byte("this is not a capture file"), wantErr: "pcap header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name)
			if err := os.WriteFile(path, tt.data, 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := ReadPcap(path)
			switch {
			case tt.notEthern:
				if !errors.Is(err, ErrNotEthernet) || !strings.Contains(err.Error(), path) {
					t.Errorf("err = %v, want ErrNotEthernet naming %s", err, path)
				}
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path) {
					t.Errorf("err = %v, want one containing %q and the path", err, tt.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			}
			if len(got) != tt.wantN {
				t.Fatalf("read %d frames, want %d", len(got), tt.wantN)
			}
			for i := range got {
				if !bytes.Equal(got[i], frames[i]) {
					t.Errorf("frame %d differs", i)
				}
			}
		})
	}
	if _, err := ReadPcap(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// corpusDir is the tcpdump test captures (see /work/shared/corpus/README.md);
// DUTLAB_CORPUS points elsewhere.
func corpusDir() string {
	if d := os.Getenv("DUTLAB_CORPUS"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "shared", "corpus", "tcpdump")
}

// TestPcapCorpus reads every capture of the tcpdump corpus: many are
// malformed on purpose, so errors are allowed but panics are not.
func TestPcapCorpus(t *testing.T) {
	dir := corpusDir()
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		testenv.SkipOrFail(t, fmt.Sprintf("no captures in %s (set DUTLAB_CORPUS)", dir))
	}
	total, ethernetFiles, failed, verified := 0, 0, 0, 0
	for _, file := range files {
		frames, err := ReadPcap(file)
		if errors.Is(err, ErrNotEthernet) {
			t.Logf("%v", err)
			continue
		}
		ethernetFiles++
		total += len(frames)
		// VerifyFrame decodes whatever it is given: it may say no, never panic.
		for _, f := range frames {
			if VerifyFrame(f) == nil {
				verified++
			}
		}
		if err != nil {
			failed++
			t.Logf("%v (kept %d frames)", err, len(frames))
		}
	}
	t.Logf("%d files, %d Ethernet, %d frames, %d with errors; %d frames with every checksum right", len(files), ethernetFiles, total, failed, verified)
	if total < 7000 {
		t.Errorf("read %d frames from %d Ethernet captures, want at least 7000", total, ethernetFiles)
	}
}

// TestPcapCaptureCutFrames checks that a frame longer than the snap length
// is written cut, with its real length as the original length, under a
// header that declares the real snap length; tshark (when installed) reads
// the file the same way.
func TestPcapCaptureCutFrames(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cut.pcap")
	c, err := NewCapture(path, 3)
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte{0xab}, 1514)
	c.Add(time.Unix(1, 0), big)                           // cut here
	c.AddCut(time.Unix(2, 0), big[:CaptureSnaplen], 9000) // cut by an engine
	c.Add(time.Unix(3, 0), big[:60])                      // short: whole
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if r.Snaplen() != CaptureSnaplen {
		t.Errorf("header snaplen %d, want %d", r.Snaplen(), CaptureSnaplen)
	}
	for i, want := range []struct{ incl, orig int }{{CaptureSnaplen, 1514}, {CaptureSnaplen, 9000}, {60, 60}} {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			t.Fatal(err)
		}
		if len(data) != want.incl || ci.CaptureLength != want.incl || ci.Length != want.orig {
			t.Errorf("frame %d: %d bytes, caplen %d, len %d; want caplen %d of %d", i, len(data), ci.CaptureLength, ci.Length, want.incl, want.orig)
		}
	}
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Log("tshark is not installed: the Wireshark view is not checked")
		return
	}
	out, err := exec.Command(tshark, "-r", path, "-T", "fields", "-e", "frame.len", "-e", "frame.cap_len").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	if got := strings.Fields(string(out)); strings.Join(got, " ") != "1514 256 9000 256 60 60" {
		t.Errorf("tshark reads frame.len/cap_len %v, want 1514 256 9000 256 60 60", got)
	}
}
