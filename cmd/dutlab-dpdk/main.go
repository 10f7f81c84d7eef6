//go:build dpdk && cgo

package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"

	dutdpdk "github.com/dutlab/dutlab/dut/dpdk"
	gendpdk "github.com/dutlab/dutlab/generator/dpdk"
	"github.com/dutlab/dutlab/internal/dpdk"
)

// The main goroutine stays on the main thread: it enters the namespace, runs
// the EAL there (the main lcore) and makes every control-plane DPDK call.
func init() { runtime.LockOSThread() }

const usage = `dutlab-dpdk: the DPDK worker that dutlab starts; not meant to be run by hand.

Usage:
  dutlab-dpdk gen [--netns NAME] [--config FILE|-]   the dpdk generator engine
  dutlab-dpdk fwd [--netns NAME] [--config FILE|-]   the dpdk forwarder datapath

It reads one JSON configuration (dpdk.GenConfig or dpdk.FwdConfig) and writes
JSON lines (kind info, stats, final or error) on stdout.

Flags:
  --netns NAME    network namespace to enter before the EAL starts (name under /run/netns or path)
  --config FILE   JSON configuration file, - for stdin (default -)
`

// errUsage marks a bad command line (exit status 2).
var errUsage = errors.New("usage")

func main() {
	args := os.Args[1:]
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		fmt.Print(usage)
		return
	}
	out := dpdk.NewLineWriter(os.Stdout)
	err := run(args, os.Stdin, out)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Print(usage)
	case errors.Is(err, errUsage):
		fmt.Fprintf(os.Stderr, "dutlab-dpdk: %v\nsee 'dutlab-dpdk --help'\n", err)
		os.Exit(2)
	case err != nil:
		out.Write(dpdk.StatsLine{Kind: "error", Error: err.Error()})
		fmt.Fprintln(os.Stderr, "dutlab-dpdk:", err)
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader, out *dpdk.LineWriter) error {
	if len(args) == 0 || (args[0] != "gen" && args[0] != "fwd") {
		return fmt.Errorf("%w: want gen or fwd", errUsage)
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	ns := fs.String("netns", "", "network namespace to enter before the EAL starts (name under /run/netns or path)")
	cfgPath := fs.String("config", "-", "JSON configuration file, - for stdin")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	raw, err := readConfig(*cfgPath, stdin)
	if err != nil {
		return err
	}
	if *ns != "" {
		if err := dpdk.EnterNetns(*ns); err != nil {
			return err
		}
	}
	if args[0] == "gen" {
		var cfg dpdk.GenConfig
		if err := json.Unmarshal(raw, &cfg); err != nil {
			return fmt.Errorf("parse gen config: %w", err)
		}
		return gendpdk.RunWorker(cfg, out)
	}
	var cfg dpdk.FwdConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return fmt.Errorf("parse fwd config: %w", err)
	}
	return dutdpdk.RunWorker(cfg, out)
}

func readConfig(path string, stdin io.Reader) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(stdin)
	}
	return os.ReadFile(path)
}
