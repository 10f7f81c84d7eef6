// Command dutlab brings up network labs, runs DUT datapaths in them and
// measures them. This package only parses the command line and calls into
// the packages; every command answers --help.
//
// Exit status: 0 success, 1 a failed run (or a row that failed or lost more
// than --max-loss), 2 a usage error, 130 interrupted (after cleaning up).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit statuses.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitInterrupted = 130
)

func main() {
	os.Exit(execute(os.Args[1:], os.Stdout, os.Stderr))
}

// execute runs the command line args and returns the exit status.
func execute(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	var ue *usageError
	switch {
	case errors.As(err, &ue) || isCobraUsage(err):
		fmt.Fprintf(stderr, "dutlab: %v\nsee '%s --help'\n", err, cmd.CommandPath())
		return exitUsage
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(stderr, "dutlab: interrupted; what this run created has been removed")
		return exitInterrupted
	}
	fmt.Fprintln(stderr, "dutlab:", err)
	return exitFailed
}

// usageError is a mistake on the command line (exit status 2).
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usagef returns a usage error.
func usagef(format string, a ...any) error {
	return &usageError{fmt.Errorf(format, a...)}
}

// isCobraUsage recognises the errors cobra itself returns for a bad command
// line (unknown command, bad arguments) before our code runs.
func isCobraUsage(err error) bool {
	var fe *flagError
	return errors.As(err, &fe)
}

// flagError wraps flag parsing errors (see newRoot's SetFlagErrorFunc).
type flagError struct{ err error }

func (e *flagError) Error() string { return e.err.Error() }
func (e *flagError) Unwrap() error { return e.err }

// args checks the number of positional arguments with a usage error.
func args(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := check(cmd, a); err != nil {
			return &usageError{err}
		}
		return nil
	}
}
