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

func main() {
	out := dpdk.NewLineWriter(os.Stdout)
	if err := run(os.Args[1:], os.Stdin, out); err != nil {
		out.Write(dpdk.StatsLine{Kind: "error", Error: err.Error()})
		fmt.Fprintln(os.Stderr, "dutlab-dpdk:", err)
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader, out *dpdk.LineWriter) error {
	if len(args) == 0 || (args[0] != "gen" && args[0] != "fwd") {
		return errors.New("usage: dutlab-dpdk gen|fwd [--netns NAME] [--config FILE|-]")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	ns := fs.String("netns", "", "network namespace to enter before the EAL starts (name under /run/netns or path)")
	cfgPath := fs.String("config", "-", "JSON configuration file, - for stdin")
	if err := fs.Parse(args[1:]); err != nil {
		return err
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
