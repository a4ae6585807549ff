package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// temporalBinary finds Temporal's CLI: MICROSEG_TEMPORAL_BIN, next to the microseg
// binary (make puts both in bin/), or on the PATH.
func temporalBinary() (string, error) {
	if p := os.Getenv("MICROSEG_TEMPORAL_BIN"); p != "" {
		return p, nil
	}
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "temporal")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("temporal"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("no Temporal CLI found: run `make build` (it builds bin/temporal), or set MICROSEG_TEMPORAL_BIN, or TEMPORAL_ADDRESS to use a cluster")
}

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
	bin, err := temporalBinary()
	if err != nil {
		fmt.Fprintln(stderr, "microseg server:", err)
		return exitError
	}
	if err := os.MkdirAll(stateDir(), 0o755); err != nil {
		fmt.Fprintln(stderr, "microseg server:", err)
		return exitError
	}
	ctx, stop := signalContext()
	defer stop()
	serverArgs := []string{"server", "start-dev", "--ip", "127.0.0.1", "--port", embeddedPort(),
		"--db-filename", filepath.Join(stateDir(), "temporal.db"), "--log-level", "warn"}
	if *ui {
		serverArgs = append(serverArgs, "--ui-port", "8233")
	} else {
		serverArgs = append(serverArgs, "--headless")
	}
	// Supervise: a server that dies is restarted, with a growing pause so that one
	// that cannot start does not spin.
	backoff := time.Second
	for {
		start := time.Now()
		cmd := exec.CommandContext(ctx, bin, serverArgs...)
		cmd.Stdout, cmd.Stderr = stdout, stderr
		// Temporal dies with its supervisor, whatever kills the supervisor.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		fmt.Fprintf(stderr, "microseg server: Temporal on %s, state in %s\n", embeddedAddress(), stateDir())
		err := cmd.Run()
		if ctx.Err() != nil {
			return exitOK
		}
		if time.Since(start) > time.Minute {
			backoff = time.Second
		}
		fmt.Fprintf(stderr, "microseg server: Temporal exited (%v); restarting in %s\n", err, backoff)
		select {
		case <-ctx.Done():
			return exitOK
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}
