package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/microseg/microseg/internal/embedded"
)

func runServer(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	ui := fs.Bool("ui", false, "also serve Temporal's web UI on 127.0.0.1:8233")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: microseg server [-ui]\n\nRuns the embedded Temporal server (Temporal's own dev server) on 127.0.0.1:7233 (or\nMICROSEG_TEMPORAL_PORT) with its\nstate in SQLite under the state directory (MICROSEG_STATE, default .microseg), and restarts\nit if it dies. Commands that need it start it themselves when it is not running.\n\nflags:")
		fs.PrintDefaults()
	}
	if _, code, ok := parseArgs(fs, args, stderr); !ok {
		return code
	}
	self, _ := os.Executable()
	bin, err := embedded.FindTemporal(os.Getenv("MICROSEG_TEMPORAL_BIN"), self)
	if err != nil {
		fmt.Fprintln(stderr, "microseg server:", err)
		return exitError
	}
	ctx, stop := signalContext()
	defer stop()
	if err := embeddedServer().Supervise(ctx, bin, *ui, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "microseg server:", err)
		return exitError
	}
	return exitOK
}
