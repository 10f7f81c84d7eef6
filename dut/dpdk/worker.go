//go:build dpdk && cgo

package dpdk

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/dutlab/dutlab/internal/dpdk"
)

// RunWorker is `dutlab-dpdk fwd`: it starts the EAL, sets the ports and
// one forwarder per worker lcore up, forwards until cfg.DurationMS or
// SIGINT/SIGTERM, writing a "progress" line a second and a "final" line at
// the end, and closes everything.
func RunWorker(cfg dpdk.FwdConfig, out *dpdk.LineWriter) (err error) {
	if cfg.InPort == "" || cfg.OutPort == "" {
		return errors.New("fwd: in_port and out_port are required")
	}
	sigc, stopSig := dpdk.StopSignals()
	defer stopSig()
	s, err := dpdk.StartSession(cfg.EAL)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, s.Close()) }()

	lcores := dpdk.WorkerLcores()
	workers, err := setupFwd(s, cfg, lcores)
	if err != nil {
		return err
	}
	start := time.Now()
	go watchFwd(cfg, sigc, out, start, len(workers))
	if err := dpdk.RunLoops(lcores, dpdk.LaunchFwd, dpdk.RunFwd); err != nil {
		return err
	}
	out.Write(fwdFinal(s, cfg, lcores, len(workers), start))
	return nil
}

// setupFwd sets the pool, both ports and a forwarder per lcore up.
func setupFwd(s *dpdk.Session, cfg dpdk.FwdConfig, lcores []uint) ([]dpdk.FwdWorker, error) {
	nq, ring := uint16(len(lcores)), dpdk.RingSize(cfg.RingSize)
	pool, err := s.Pool("fwd", fwdPoolMbufs(ring, len(lcores)))
	if err != nil {
		return nil, err
	}
	in, err := s.Port(cfg.InPort, nq, ring, pool)
	if err != nil {
		return nil, err
	}
	outp, err := s.Port(cfg.OutPort, nq, ring, pool)
	if err != nil {
		return nil, err
	}
	var dst, src []byte
	if !cfg.NoRewrite {
		if dst, src, err = rewriteMACs(cfg, outp); err != nil {
			return nil, err
		}
	}
	workers := make([]dpdk.FwdWorker, len(lcores))
	for i := range workers {
		workers[i] = dpdk.FwdWorker{In: in, Out: outp, InQueue: uint16(i), OutQueue: uint16(i),
			Rewrite: !cfg.NoRewrite, DrainOut: in != outp, Dst: dst, Src: src}
	}
	return workers, dpdk.SetupFwd(workers)
}

// rewriteMACs are the Ethernet addresses forwarded frames get: dst_mac, and
// src_mac or else the Out port's own.
func rewriteMACs(cfg dpdk.FwdConfig, outp dpdk.Port) (dst, src []byte, err error) {
	if dst, err = parseMAC(cfg.DstMAC); err != nil {
		return nil, nil, fmt.Errorf("fwd: dst_mac: %w", err)
	}
	if cfg.SrcMAC != "" {
		src, err = parseMAC(cfg.SrcMAC)
	} else {
		src, err = outp.MAC()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("fwd: source mac: %w", err)
	}
	return dst, src, nil
}

// fwdSum is the counters of all n forwarders.
func fwdSum(n int) (c dpdk.Counters) {
	for i := 0; i < n; i++ {
		c = c.Add(dpdk.FwdCounters(i))
	}
	return c
}

// fwdLine is a stats line of the forwarder's counters c.
func fwdLine(kind string, c dpdk.Counters, el time.Duration) dpdk.StatsLine {
	return dpdk.StatsLine{Kind: kind, ElapsedNS: int64(el), RxPackets: c.RxPackets, RxBytes: c.RxBytes,
		TxPackets: c.TxPackets, TxBytes: c.TxBytes, DropPackets: c.FwdDropped}
}

// watchFwd writes a progress line a second and stops the loops at the
// configured duration or on a signal.
func watchFwd(cfg dpdk.FwdConfig, sigc <-chan os.Signal, out *dpdk.LineWriter, start time.Time, n int) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var end <-chan time.Time
	if cfg.DurationMS > 0 {
		end = time.After(time.Duration(cfg.DurationMS) * time.Millisecond)
	}
	for {
		select {
		case <-tick.C:
			out.Write(fwdLine("progress", fwdSum(n), time.Since(start)))
			continue
		case <-end:
		case <-sigc:
		}
		dpdk.Stop(true, true)
		return
	}
}

// fwdFinal is the "final" line: the whole run is the window.
func fwdFinal(s *dpdk.Session, cfg dpdk.FwdConfig, lcores []uint, n int, start time.Time) dpdk.StatsLine {
	c := fwdSum(n)
	final := fwdLine("final", c, time.Since(start))
	final.WindowNS = final.ElapsedNS
	final.Info = map[string]string{
		"lcores":     dpdk.JoinLcores(lcores),
		"main_lcore": strconv.Itoa(int(dpdk.MainLcore())),
		"vdevs":      strings.Join(cfg.EAL.VDevs, " "),
		"in_port":    cfg.InPort,
		"out_port":   cfg.OutPort,
		"rewrite":    strconv.FormatBool(!cfg.NoRewrite),
		"out_rx":     strconv.FormatUint(c.OutRx, 10),
	}
	s.PortInfo(final.Info)
	return final
}
