package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// newRoot builds the command tree. Commands write their one result to
// stdout and everything else (progress, notes, the table when JSON owns
// stdout) to stderr.
func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "dutlab",
		Short: "Emulate network appliances on one machine and measure them",
		Long: `dutlab brings up labs of network namespaces and veth pairs (or physical
ports), runs a device under test on one of several datapaths (the Linux
kernel, XDP, DPDK), loads it with a traffic generator (XDP live frames or
DPDK) and measures throughput, loss, CPU and latency side by side.`,
		Example: `  sudo dutlab compare                      # every datapath on the built-in veth lab
  sudo dutlab run --datapath xdp-native --rate 1Mpps --duration 5s
  dutlab check my-topology.yaml my-profile.yaml`,
		Args:          args(cobra.NoArgs),
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SetOut(stderr)
			_ = cmd.Help()
			return usagef("a command is needed")
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &flagError{err} })
	root.AddCommand(
		newCompareCmd("compare", stdout, stderr),
		newCompareCmd("run", stdout, stderr),
		newBenchCmd(stdout, stderr),
		newUpCmd(stdout),
		newDownCmd(stdout),
		newShowCmd(stdout),
		newCheckCmd(stdout, stderr),
		newPolicyCmd(stdout, stderr),
		newTopologiesCmd(stdout),
		newDatapathsCmd(stdout),
		newVersionCmd(stdout),
	)
	return root
}

// jsonDoc writes v as one JSON document with schema and type first.
func jsonDoc(w io.Writer, typ string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(b, &fields) != nil {
		// Not an object: wrap it.
		fields = map[string]json.RawMessage{"items": b}
	}
	fields["schema"] = json.RawMessage("1")
	t, _ := json.Marshal(typ)
	fields["type"] = t
	out, err := json.MarshalIndent(fields, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(out, '\n'))
	return err
}

// jsonFlag adds --json FILE to cmd: the command's result as JSON in FILE,
// or on stdout for "-", in place of the text (which then goes to stderr).
func jsonFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "json", "", "write the result as JSON (with schema and type fields) to `FILE`; - for stdout, the text then goes to stderr")
}

// writeJSONTo writes one JSON document of type typ to path ("-": stdout).
func writeJSONTo(stdout io.Writer, path, typ string, v any) error {
	if path == "-" {
		return jsonDoc(stdout, typ, v)
	}
	var b bytes.Buffer
	if err := jsonDoc(&b, typ, v); err != nil {
		return err
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("--json: %w", err)
	}
	return nil
}
