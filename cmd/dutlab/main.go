// Command dutlab brings up network labs, runs DUT datapaths in them and
// measures them. main only parses flags and calls into the packages.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

const usage = `dutlab: emulate network appliances on one machine and measure them.

Usage:
  dutlab compare [flags]          measure several datapaths on one lab, side by side
  dutlab run [flags]              measure one datapath (--datapath, --rate, --duration, --json)
  dutlab bench dpdk [--json F]    our DPDK engine and forwarder against dpdk-testpmd, same run
  dutlab up TOPOLOGY              bring a lab up (a file, or a built-in name)
  dutlab down TOPOLOGY|NAME|--all take a lab down (also after a killed run)
  dutlab show                     list labs that are up
  dutlab check FILE...            validate topology and profile files
  dutlab topologies               list the built-in topologies
  dutlab datapaths                list the DUT datapaths
  dutlab version

Run 'dutlab COMMAND -h' for a command's flags.
`

func main() {
	if err := run(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(os.Stderr, "dutlab: interrupted; what this run created has been removed")
			os.Exit(130)
		}
		fmt.Fprintln(os.Stderr, "dutlab:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return flag.ErrHelp
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "compare", "run":
		return cmdCompare(ctx, cmd, rest)
	case "bench":
		return cmdBench(ctx, rest)
	case "up":
		return cmdUp(ctx, rest)
	case "down":
		return cmdDown(rest)
	case "show":
		return cmdShow(rest)
	case "check":
		return cmdCheck(rest)
	case "topologies":
		return cmdTopologies()
	case "datapaths":
		return cmdDatapaths()
	case "version":
		fmt.Println(version())
		return nil
	case "help", "-h", "--help":
		fmt.Print(usage)
		return nil
	}
	return fmt.Errorf("unknown command %q; commands are compare, run, bench, up, down, show, check, topologies, datapaths, version", cmd)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
