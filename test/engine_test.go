package test

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/microseg/microseg/internal/netlab"
)

// engine runs microseg against its embedded Temporal server on a port of its own,
// with state in a temporary directory.
type engine struct {
	cli
	env  []string
	port string
}

func (e engine) run(args ...string) (string, int) {
	e.t.Helper()
	cmd := exec.Command(e.bin, args...)
	cmd.Env = append(os.Environ(), e.env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("microseg %s: %v", strings.Join(args, " "), err)
	}
	return string(out), code
}

// background starts microseg and stops it when the test ends.
func (e engine) background(args ...string) (*exec.Cmd, *syncBuffer, <-chan struct{}) {
	e.t.Helper()
	cmd := exec.Command(e.bin, args...)
	cmd.Env = append(os.Environ(), e.env...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	// Dies with the test, even when a timeout kills the test before its cleanup.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	e.t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	return cmd, out, done
}

type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func temporalBin(t *testing.T) string {
	bin, err := filepath.Abs("../bin/temporal")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Skip("no bin/temporal: `make build` builds it (make test does)")
	}
	return bin
}

func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool, show func() string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v\n%s", what, limit, show())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestEngineEndToEnd runs the embedded Temporal server, an agent per namespace host,
// and plan / apply / drift / remediate / approve as a user would.
func TestEngineEndToEnd(t *testing.T) {
	netlab.NeedRoot(t)
	temporal := temporalBin(t)
	l := netlab.New(t, "web-01", "app-01", "db-01")
	l.Serve("app-01", 8080)
	l.Serve("db-01", 5432)
	port := fmt.Sprint(20000 + os.Getpid()%10000)
	e := engine{cli{t, buildMicroseg(t)}, []string{
		"MICROSEG_STATE=" + t.TempDir(),
		"MICROSEG_TEMPORAL_BIN=" + temporal,
		"MICROSEG_TEMPORAL_PORT=" + port,
		"TEMPORAL_ADDRESS=",
	}, port}
	start := time.Now()
	_, serverOut, _ := e.background("server")
	waitFor(t, "embedded server", time.Minute, func() bool {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, serverOut.String)
	t.Logf("embedded server listening %v after start", time.Since(start).Round(time.Millisecond))
	agents := map[string]*syncBuffer{}
	for _, h := range []string{"web-01", "app-01", "db-01"} {
		_, agents[h], _ = e.background("agent", "-target", "lab", "-host", h, "-netns", l.Hosts[h].NS)
	}
	policy := "../onprem/testdata/lab"
	fail := func(format string, args ...any) {
		t.Helper()
		for h, out := range agents {
			t.Logf("agent %s:\n%s", h, out.String())
		}
		t.Logf("server:\n%s", serverOut.String())
		t.Fatalf(format, args...)
	}

	out, code := e.run("plan", "-detailed-exitcode", policy)
	if code != 2 || !strings.Contains(out, "# lab/app-01") || !strings.Contains(out, "+ segment table inet microseg") {
		fail("first plan = %d:\n%s", code, out)
	}
	out, code = e.run("apply", "-auto-approve", policy)
	if code != 0 || !strings.Contains(out, "Apply complete.") || strings.Contains(out, "verified=false") {
		fail("apply = %d:\n%s", code, out)
	}
	if err := l.Probe("web-01", "tcp", "10.99.0.12:8080"); err != nil {
		t.Errorf("web -> app after apply: %v", err)
	}
	if err := l.Probe("web-01", "tcp", "10.99.0.13:5432"); err == nil {
		t.Error("web -> db passes after apply")
	}
	out, code = e.run("plan", "-detailed-exitcode", policy)
	if code != 0 {
		fail("plan after apply = %d:\n%s", code, out)
	}
	// The probe web -> db was dropped by web-01's rules and logged to NFLOG; its agent
	// spooled it, and an audit finds it blocked, as intended.
	waitFor(t, "the audit finds the dropped probe", 30*time.Second, func() bool {
		out, code := e.run("audit", "-json", "-target", "lab", "-rescan", policy)
		return code == 0 && auditCount(t, out, "nflog:web-01", "blocked") > 0
	}, func() string { out, _ := e.run("audit", "-json", "-target", "lab", "-rescan", policy); return out })
	// The same policy, planned again by the bundle hash the plan printed.
	_, bundle, _ := strings.Cut(out, "Policy bundle: ")
	bundle = strings.TrimSpace(bundle)
	if out, code := e.run("plan", "-detailed-exitcode", "-bundle", bundle); code != 0 || !strings.Contains(out, "Policy bundle: "+bundle) {
		fail("plan -bundle %s = %d:\n%s", bundle, code, out)
	}

	// Drift by hand: detected by plan, remediated by apply.
	l.Nft("app-01", "delete", "element", "inet", "microseg", "in4_exact", "{ 10.99.0.11 . tcp . 8080 }")
	out, code = e.run("plan", "-detailed-exitcode", policy)
	if code != 2 || !strings.Contains(out, "+ rule element in4_exact 10.99.0.11 . tcp . 8080") {
		fail("plan after drift = %d:\n%s", code, out)
	}
	if out, code := e.run("apply", "-auto-approve", policy); code != 0 {
		fail("remediate = %d:\n%s", code, out)
	}
	if err := l.Probe("web-01", "tcp", "10.99.0.12:8080"); err != nil {
		t.Errorf("web -> app after remediation: %v", err)
	}

	// A plan that removes something waits for approval.
	l.Nft("db-01", "add", "element", "inet", "microseg", "in4_exact", "{ 10.99.0.11 . tcp . 5432 }")
	l.Nft("web-01", "add", "element", "inet", "microseg", "out4_exact", "{ 10.99.0.13 . tcp . 5432 }")
	_, applyOut, applied := e.background("apply", policy)
	waitFor(t, "apply waiting for approval", 2*time.Minute, func() bool {
		return strings.Contains(applyOut.String(), "microseg approve apply/lab")
	}, applyOut.String)
	time.Sleep(time.Second)
	if err := l.Probe("web-01", "tcp", "10.99.0.13:5432"); err != nil {
		t.Errorf("before approval the hand-added elements should still be in force: %v", err)
	}
	// The waiting apply holds the target's lock: a second apply is refused.
	if out, code := e.run("apply", "-auto-approve", policy); code != 1 || !strings.Contains(out, "another apply is running on target lab") {
		fail("concurrent apply = %d:\n%s", code, out)
	}
	if out, code := e.run("approve", "apply/lab"); code != 0 {
		fail("approve = %d:\n%s", code, out)
	}
	select {
	case <-applied:
	case <-time.After(2 * time.Minute):
		fail("approved apply did not finish:\n%s", applyOut.String())
	}
	if !strings.Contains(applyOut.String(), "Apply complete.") {
		fail("approved apply:\n%s", applyOut.String())
	}
	if err := l.Probe("web-01", "tcp", "10.99.0.13:5432"); err == nil {
		t.Error("after the approved apply web still reaches db")
	}

	// Reconcile every 5 s with remediation, run by a long-running worker.
	_, workerOut, _ := e.background("worker")
	if out, code := e.run("reconcile", "start", "-target", "lab", "-every", "5s", "-remediate", policy); code != 0 {
		fail("reconcile start = %d:\n%s\nworker:\n%s", code, out, workerOut.String())
	}
	time.Sleep(2 * time.Second) // let its first check pass
	l.Nft("app-01", "delete", "element", "inet", "microseg", "in4_exact", "{ 10.99.0.11 . tcp . 8080 }")
	drifted := time.Now()
	waitFor(t, "reconcile remediates drift", 30*time.Second, func() bool {
		return l.Probe("web-01", "tcp", "10.99.0.12:8080") == nil
	}, workerOut.String)
	t.Logf("drift remediated by the 5 s reconcile loop %v after the hand change", time.Since(drifted).Round(time.Millisecond))
	// The loop records the event once the remediating apply has verified the hosts.
	waitFor(t, "reconcile status shows the remediated drift", 30*time.Second, func() bool {
		out, code = e.run("reconcile", "status", "-target", "lab", policy)
		return code == 0 && strings.Contains(out, "reconcile/lab/lab") && strings.Contains(out, "remediated in")
	}, func() string { return out + "\nworker:\n" + workerOut.String() })

	// Break-glass: audit mode within seconds, recorded; off restores enforcement. An
	// apply waiting for approval must not hold it back: it is cancelled.
	l.Nft("db-01", "add", "element", "inet", "microseg", "in4_exact", "{ 10.99.0.11 . tcp . 5555 }")
	_, blockedOut, blockedDone := e.background("apply", policy)
	waitFor(t, "an apply waiting for approval", 2*time.Minute, func() bool {
		return strings.Contains(blockedOut.String(), "microseg approve apply/lab")
	}, blockedOut.String)
	began := time.Now()
	if out, code := e.run("breakglass", "on", "-target", "lab", "-reason", "INC-42 outage", policy); code != 0 {
		fail("breakglass on = %d:\n%s", code, out)
	}
	waitFor(t, "break-glass lets denied traffic through", 30*time.Second, func() bool {
		return l.Probe("web-01", "tcp", "10.99.0.13:5432") == nil
	}, workerOut.String)
	t.Logf("break-glass in force %v after the command (cancelling a waiting apply)", time.Since(began).Round(time.Millisecond))
	select {
	case <-blockedDone:
		if !strings.Contains(blockedOut.String(), "cancel") {
			t.Errorf("the waiting apply ended without saying it was cancelled:\n%s", blockedOut.String())
		}
	case <-time.After(30 * time.Second):
		fail("the waiting apply was not cancelled by break-glass:\n%s", blockedOut.String())
	}
	out, _ = e.run("reconcile", "status", "-target", "lab", policy)
	if !strings.Contains(out, "BREAK-GLASS ON") || !strings.Contains(out, "INC-42 outage") {
		fail("status during break-glass:\n%s", out)
	}
	if out, code := e.run("breakglass", "off", "-target", "lab", "-reason", "INC-42 resolved", policy); code != 0 {
		fail("breakglass off = %d:\n%s", code, out)
	}
	waitFor(t, "break-glass off restores enforcement", 30*time.Second, func() bool {
		return l.Probe("web-01", "tcp", "10.99.0.13:5432") != nil
	}, workerOut.String)
	if out, code := e.run("reconcile", "stop", "-target", "lab", policy); code != 0 {
		fail("reconcile stop = %d:\n%s", code, out)
	}

	// A Temporal Schedule runs drift checks without a loop.
	if out, code := e.run("reconcile", "schedule", "-target", "lab", "-every", "2s", policy); code != 0 {
		fail("reconcile schedule = %d:\n%s", code, out)
	}
	waitFor(t, "a scheduled check ran", 30*time.Second, func() bool {
		out, _ := exec.Command(temporal, "workflow", "list", "--address", "127.0.0.1:"+port,
			"--query", "WorkflowType='CheckWorkflow' AND ExecutionStatus='Completed'").CombinedOutput()
		return strings.Contains(string(out), "CheckWorkflow")
	}, workerOut.String)
	exec.Command(temporal, "schedule", "delete", "--address", "127.0.0.1:"+port, "-s", "drift/lab/lab").Run()
	recordHistories(t, temporal, port, "PlanWorkflow", "ApplyWorkflow", "ReconcileWorkflow", "CheckWorkflow")

	// Durability: against the server as a cluster (no in-process worker), the worker
	// is killed while an apply is in flight and a new one finishes it.
	cluster := engine{e.cli, append(append([]string(nil), e.env...), "TEMPORAL_ADDRESS=127.0.0.1:"+port), port}
	workerA, _, workerADone := cluster.background("worker")
	l.Nft("db-01", "add", "element", "inet", "microseg", "in4_exact", "{ 10.99.0.11 . tcp . 5432 }")
	l.Nft("web-01", "add", "element", "inet", "microseg", "out4_exact", "{ 10.99.0.13 . tcp . 5432 }")
	_, applyOut, applied = cluster.background("apply", policy)
	waitFor(t, "apply waiting for approval", 2*time.Minute, func() bool {
		return strings.Contains(applyOut.String(), "microseg approve apply/lab")
	}, applyOut.String)
	workerA.Process.Kill()
	<-workerADone
	cluster.background("worker")
	if out, code := cluster.run("approve", "apply/lab"); code != 0 {
		fail("approve after the worker was killed = %d:\n%s", code, out)
	}
	select {
	case <-applied:
	case <-time.After(2 * time.Minute):
		fail("apply did not finish after the worker was replaced:\n%s", applyOut.String())
	}
	if !strings.Contains(applyOut.String(), "Apply complete.") || strings.Contains(applyOut.String(), "verified=false") {
		fail("apply across a killed worker:\n%s", applyOut.String())
	}
	if out, code := cluster.run("drift", "-detailed-exitcode", policy); code != 0 {
		fail("drift after the apply across a killed worker = %d:\n%s", code, out)
	}

	// Time from apply to enforced (plan, apply, confirm, verify on 3 hosts).
	var times []time.Duration
	for i := range 10 {
		l.Nft("app-01", "delete", "element", "inet", "microseg", "in4_exact", "{ 10.99.0.11 . tcp . 8080 }")
		began := time.Now()
		if out, code := e.run("apply", "-auto-approve", policy); code != 0 {
			fail("apply %d = %d:\n%s", i, code, out)
		}
		times = append(times, time.Since(began))
	}
	// The report reads the history the engine kept: the audit's flows, the reconcile
	// loop's drift event with its remediation, and the applies' policy updates.
	out, code = e.run("report", "-format", "json", "-since", "1d", policy)
	var rep struct {
		Header struct {
			Totals map[string]uint64 `json:"totals"`
		} `json:"header"`
		Drift struct {
			Events []struct {
				Target string `json:"target"`
				Open   bool   `json:"open"`
			} `json:"events"`
		} `json:"drift"`
		PolicyUpdates struct {
			Complete int `json:"complete"`
		} `json:"policy_updates"`
	}
	if err := json.Unmarshal([]byte(out), &rep); code != 0 || err != nil {
		fail("report = %d, %v:\n%s", code, err, out)
	}
	closed := 0
	for _, ev := range rep.Drift.Events {
		if ev.Target == "lab" && !ev.Open {
			closed++
		}
	}
	if rep.Header.Totals["blocked"] == 0 || closed == 0 || rep.PolicyUpdates.Complete == 0 {
		fail("report: blocked %d, remediated drift events %d, complete policy updates %d; want each > 0:\n%s",
			rep.Header.Totals["blocked"], closed, rep.PolicyUpdates.Complete, out)
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	t.Logf("microseg apply to enforced (a process start, plan, apply, confirm, verify on 3 hosts), 10 runs: median %v, min %v, max %v",
		((times[4] + times[5]) / 2).Round(time.Millisecond), times[0].Round(time.Millisecond), times[9].Round(time.Millisecond))
}

// recordHistories saves the histories of real runs, for the replay tests in
// workflows/, when MICROSEG_RECORD_HISTORIES names a directory.
// Each entry is a workflow type, saved as TYPE.json, or TYPE:NAME, saved as NAME.json.
func recordHistories(t *testing.T, temporal, port string, workflowTypes ...string) {
	dir := os.Getenv("MICROSEG_RECORD_HISTORIES")
	if dir == "" {
		return
	}
	for _, entry := range workflowTypes {
		wf, name, ok := strings.Cut(entry, ":")
		if !ok {
			name = wf
		}
		out, err := exec.Command(temporal, "workflow", "list", "--address", "127.0.0.1:"+port, "--limit", "1",
			"--query", "WorkflowType='"+wf+"'", "-o", "json").Output()
		if err != nil {
			t.Fatalf("list %s: %v", wf, err)
		}
		var runs []struct {
			Execution struct{ WorkflowID, RunID string } `json:"execution"`
		}
		if err := json.Unmarshal(out, &runs); err != nil || len(runs) == 0 {
			t.Fatalf("list %s: %v\n%s", wf, err, out)
		}
		hist, err := exec.Command(temporal, "workflow", "show", "--address", "127.0.0.1:"+port,
			"-w", runs[0].Execution.WorkflowID, "-r", runs[0].Execution.RunID, "-o", "json").Output()
		if err != nil {
			t.Fatalf("show %s: %v", wf, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".json"), hist, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// auditCount reads the flows of a class that `microseg audit -json` found in a source.
func auditCount(t *testing.T, out, source, class string) uint64 {
	t.Helper()
	var res struct {
		Runs []struct {
			Source  string
			Classes map[string]uint64
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		return 0
	}
	for _, r := range res.Runs {
		if r.Source == source {
			return r.Classes[class]
		}
	}
	return 0
}
