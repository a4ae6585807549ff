package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/microseg/microseg/internal/embedded"
	"github.com/microseg/microseg/workflows"
	"github.com/microseg/microseg/workflows/results"
)

// embeddedServer is the embedded Temporal server: on 127.0.0.1 (loopback only),
// port MICROSEG_TEMPORAL_PORT or Temporal's usual 7233, state in the state directory.
func embeddedServer() embedded.Server {
	port := os.Getenv("MICROSEG_TEMPORAL_PORT")
	if port == "" {
		port = "7233"
	}
	return embedded.Server{Port: port, StateDir: stateDir()}
}

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

// embeddedMode reports whether microseg runs against its embedded server: when
// TEMPORAL_ADDRESS does not point it at a cluster.
func embeddedMode() bool { return os.Getenv("TEMPORAL_ADDRESS") == "" }

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
	if embeddedMode() {
		srv := embeddedServer()
		self, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find the microseg binary: %w", err)
		}
		if err := srv.Ensure(exec.Command(self, "server"), stderr); err != nil {
			return nil, err
		}
		opts.HostPort = srv.Address()
	}
	opts.Logger = quietLogger(stderr)
	c, err := client.Dial(opts)
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s: %w", opts.HostPort, err)
	}
	return c, nil
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
	if !embeddedMode() {
		return fn()
	}
	w := newWorker(c)
	if err := w.Start(); err != nil {
		return fmt.Errorf("start the in-process worker: %w", err)
	}
	defer w.Stop()
	return fn()
}
