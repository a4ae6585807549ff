package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/microseg/microseg/workflows"
	"github.com/microseg/microseg/workflows/results"
)

// embeddedPort is the embedded Temporal server's port on 127.0.0.1 (loopback only):
// MICROSEG_TEMPORAL_PORT, or Temporal's usual 7233.
func embeddedPort() string {
	if p := os.Getenv("MICROSEG_TEMPORAL_PORT"); p != "" {
		return p
	}
	return "7233"
}

func embeddedAddress() string { return "127.0.0.1:" + embeddedPort() }

// stateDir is where microseg keeps its state (the embedded server's database, its
// log, saved plans): MICROSEG_STATE, or .microseg in the current directory.
func stateDir() string {
	if d := os.Getenv("MICROSEG_STATE"); d != "" {
		return d
	}
	return ".microseg"
}

// contentStore is where plans and compiled host policies are kept by hash:
// MICROSEG_STORE, or the store directory under the state directory. The worker, the
// agents and the CLI must all reach it (the same machine, or shared storage).
func contentStore() workflows.DirStore {
	if d := os.Getenv("MICROSEG_STORE"); d != "" {
		return workflows.DirStore{Dir: d}
	}
	return workflows.DirStore{Dir: filepath.Join(stateDir(), "store")}
}

// embedded reports whether microseg runs against its embedded server: when
// TEMPORAL_ADDRESS does not point it at a cluster.
func embedded() bool { return os.Getenv("TEMPORAL_ADDRESS") == "" }

// quietLogger keeps the SDK's logs to warnings and errors, on stderr.
func quietLogger(w io.Writer) tlog.Logger {
	return tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn})))
}

// connect returns a Temporal client: for TEMPORAL_ADDRESS with the SDK's standard
// environment configuration (TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*,
// TEMPORAL_PROFILE and the config file), or for the embedded server, which it starts
// in the background when it is not running.
func connect(stderr io.Writer) (client.Client, error) {
	opts, err := envconfig.LoadDefaultClientOptions()
	if err != nil {
		return nil, fmt.Errorf("read Temporal client configuration: %w", err)
	}
	if embedded() {
		if err := ensureServer(stderr); err != nil {
			return nil, err
		}
		opts.HostPort = embeddedAddress()
	}
	opts.Logger = quietLogger(stderr)
	c, err := client.Dial(opts)
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s: %w", opts.HostPort, err)
	}
	return c, nil
}

// ensureServer starts `microseg server` in the background unless something already
// listens on the embedded address, and waits until it answers.
func ensureServer(stderr io.Writer) error {
	if listening(embeddedAddress()) {
		return nil
	}
	if err := os.MkdirAll(stateDir(), 0o755); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the microseg binary: %w", err)
	}
	logPath := filepath.Join(stateDir(), "server.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open %s: %w", logPath, err)
	}
	defer logFile.Close()
	cmd := exec.Command(self, "server")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // outlives this command
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the embedded Temporal server: %w", err)
	}
	fmt.Fprintf(stderr, "started the embedded Temporal server (pid %d, state in %s; stop it with: kill %d)\n", cmd.Process.Pid, stateDir(), cmd.Process.Pid)
	go cmd.Wait()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if listening(embeddedAddress()) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("the embedded Temporal server did not come up within 60 s; see %s", logPath)
}

func listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// workflowError is the message of the first application error in err (what the
// workflow said went wrong), without the layers of workflow and activity errors
// Temporal wraps it in.
func workflowError(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	return err.Error()
}

// newWorker returns the microseg worker: the workflows and the activities that load
// and compile policies.
func newWorker(c client.Client) worker.Worker {
	w := worker.New(c, workflows.TaskQueue, worker.Options{})
	workflows.RegisterWorkflows(w)
	acts := &workflows.Activities{Store: contentStore(), Providers: cloudProviders, FlowSources: cloudFlowSources}
	if db := workerResults(); db != nil {
		acts.Results = db
	}
	w.RegisterActivity(acts)
	return w
}

var (
	resultsOnce sync.Once
	resultsDB   *results.DB
)

// workerResults opens the results history once per process, for the worker's
// activities. A history that cannot be opened is reported, and the worker runs
// without one: plans and applies matter more than their record.
func workerResults() *results.DB {
	resultsOnce.Do(func() {
		db, err := results.Open(context.Background(), resultsDSN())
		if err != nil {
			fmt.Fprintln(os.Stderr, "microseg worker: warning: no results history:", err)
			return
		}
		resultsDB = db
	})
	return resultsDB
}

// withWorker runs fn with an in-process microseg worker when microseg runs embedded,
// so that a single command works on a fresh machine; against a cluster, workers are
// run with `microseg worker`.
func withWorker(c client.Client, fn func() error) error {
	if !embedded() {
		return fn()
	}
	w := newWorker(c)
	if err := w.Start(); err != nil {
		return fmt.Errorf("start the in-process worker: %w", err)
	}
	defer w.Stop()
	return fn()
}
