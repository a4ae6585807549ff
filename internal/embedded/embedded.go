// Package embedded runs microseg's embedded Temporal: Temporal's own dev server as a
// supervised child process, on loopback only, with its state in SQLite under the
// state directory; and starts it in the background for a command that needs it. It
// is a child process built from its own module (tools/temporal) because
// go.temporal.io/server does not compile in one module with the cloud SDKs.
package embedded

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Server is where the embedded server listens and keeps its state.
type Server struct {
	Port     string // on 127.0.0.1
	StateDir string // temporal.db and server.log live here
}

// Address is the server's host:port.
func (s Server) Address() string { return "127.0.0.1:" + s.Port }

// Listening reports whether something answers on the server's address.
func (s Server) Listening() bool {
	c, err := net.DialTimeout("tcp", s.Address(), 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// Ensure starts the server in the background unless something already listens on
// its address, and waits until it answers. start is the command that runs the
// supervisor (`microseg server`); it outlives the caller, logging to server.log in
// the state directory. What it started is said on log.
func (s Server) Ensure(start *exec.Cmd, log io.Writer) error {
	if s.Listening() {
		return nil
	}
	if err := os.MkdirAll(s.StateDir, 0o755); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	logPath := filepath.Join(s.StateDir, "server.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open %s: %w", logPath, err)
	}
	defer logFile.Close()
	start.Stdout, start.Stderr = logFile, logFile
	start.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // outlives this command
	if err := start.Start(); err != nil {
		return fmt.Errorf("start the embedded Temporal server: %w", err)
	}
	fmt.Fprintf(log, "started the embedded Temporal server (pid %d, state in %s; stop it with: kill %d)\n", start.Process.Pid, s.StateDir, start.Process.Pid)
	go start.Wait()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if s.Listening() {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("the embedded Temporal server did not come up within 60 s; see %s", logPath)
}

// FindTemporal finds Temporal's CLI: override when set (MICROSEG_TEMPORAL_BIN),
// next to the binary self (make puts both in bin/), or on the PATH.
func FindTemporal(override, self string) (string, error) {
	if override != "" {
		return override, nil
	}
	if self != "" {
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

// Supervise runs the Temporal CLI bin's dev server until ctx ends, restarting it when
// it dies, with a growing pause so that one that cannot start does not spin. ui
// also serves Temporal's web UI on 127.0.0.1:8233.
func (s Server) Supervise(ctx context.Context, bin string, ui bool, stdout, stderr io.Writer) error {
	if err := os.MkdirAll(s.StateDir, 0o755); err != nil {
		return err
	}
	args := []string{"server", "start-dev", "--ip", "127.0.0.1", "--port", s.Port,
		"--db-filename", filepath.Join(s.StateDir, "temporal.db"), "--log-level", "warn"}
	if ui {
		args = append(args, "--ui-port", "8233")
	} else {
		args = append(args, "--headless")
	}
	backoff := time.Second
	for {
		began := time.Now()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Stdout, cmd.Stderr = stdout, stderr
		// Temporal dies with its supervisor, whatever kills the supervisor.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		fmt.Fprintf(stderr, "microseg server: Temporal on %s, state in %s\n", s.Address(), s.StateDir)
		err := cmd.Run()
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(began) > time.Minute {
			backoff = time.Second
		}
		fmt.Fprintf(stderr, "microseg server: Temporal exited (%v); restarting in %s\n", err, backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}
