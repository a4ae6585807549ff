package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/microseg/microseg/workflows"
)

// policyName names a policy in workflow IDs: its directory's name.
func policyName(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return filepath.Base(dir)
	}
	return filepath.Base(abs)
}

// warnIfNoWorker tells the user when no microseg worker polls the task queue:
// long-running workflows (reconcile, schedules, break-glass) need one running.
func warnIfNoWorker(c client.Client, stderr io.Writer) {
	resp, err := c.DescribeTaskQueue(context.Background(), workflows.TaskQueue, enumspb.TASK_QUEUE_TYPE_WORKFLOW)
	if err == nil && len(resp.GetPollers()) == 0 {
		fmt.Fprintln(stderr, "note: no microseg worker is running; the loop runs once one is: start it with `microseg worker`")
	}
}

func runReconcile(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: microseg reconcile start|stop|status|schedule -target NAME [flags] [DIR]")
		return exitError
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("reconcile "+sub, flag.ContinueOnError)
	target := fs.String("target", "", "the target (required)")
	every := fs.Duration("every", 5*time.Minute, "check interval (start, schedule)")
	remediate := fs.Bool("remediate", false, "apply the policy when a host drifted (start, schedule)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: microseg reconcile start|stop|status|schedule -target NAME [-every 5m] [-remediate] [DIR]\n\n"+
			"  start     run the reconcile loop of the target (workflow reconcile/POLICY/TARGET)\n"+
			"  stop      stop it\n"+
			"  status    print its state: checks, drift events, break-glass\n"+
			"  schedule  check the target every -every with a Temporal Schedule instead of a loop\n\nflags:")
		fs.PrintDefaults()
	}
	dir, code, ok := policyArgs(fs, args, stderr)
	if !ok {
		return code
	}
	if *target == "" {
		fmt.Fprintln(stderr, "microseg reconcile: -target is required")
		return exitError
	}
	abs, err := absDir(dir)
	if err != nil {
		fmt.Fprintln(stderr, "microseg reconcile:", err)
		return exitError
	}
	c, err := connect(stderr)
	if err != nil {
		fmt.Fprintln(stderr, "microseg reconcile:", err)
		return exitError
	}
	defer c.Close()
	id := workflows.ReconcileWorkflowID(policyName(dir), *target)
	req := workflows.ReconcileRequest{Dir: abs, Target: *target, Interval: *every, Remediate: *remediate}
	ctx := context.Background()
	switch sub {
	case "start":
		_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: id, TaskQueue: workflows.TaskQueue,
			WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
			WorkflowExecutionErrorWhenAlreadyStarted: true,
		}, workflows.ReconcileWorkflow, req)
		var started *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &started) {
			fmt.Fprintf(stderr, "microseg reconcile: %s is already running\n", id)
			return exitError
		}
		if err != nil {
			fmt.Fprintln(stderr, "microseg reconcile:", err)
			return exitError
		}
		fmt.Fprintf(stdout, "started %s: every %s, remediate=%v\n", id, *every, *remediate)
		warnIfNoWorker(c, stderr)
	case "stop":
		if err := c.CancelWorkflow(ctx, id, ""); err != nil {
			fmt.Fprintf(stderr, "microseg reconcile: stop %s: %v\n", id, err)
			return exitError
		}
		fmt.Fprintf(stdout, "stopped %s\n", id)
	case "status":
		v, err := c.QueryWorkflow(ctx, id, "", workflows.StatusQuery)
		if err != nil {
			fmt.Fprintf(stderr, "microseg reconcile: status of %s: %v\n", id, err)
			return exitError
		}
		var s workflows.ReconcileState
		if err := v.Get(&s); err != nil {
			fmt.Fprintln(stderr, "microseg reconcile:", err)
			return exitError
		}
		printReconcileState(stdout, id, s)
	case "schedule":
		sid := "drift/" + policyName(dir) + "/" + *target
		_, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{
			ID:   sid,
			Spec: client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: *every}}},
			Action: &client.ScheduleWorkflowAction{
				ID: sid, Workflow: workflows.CheckWorkflow, Args: []any{req}, TaskQueue: workflows.TaskQueue,
			},
		})
		if err != nil {
			fmt.Fprintf(stderr, "microseg reconcile: schedule %s: %v\n", sid, err)
			return exitError
		}
		fmt.Fprintf(stdout, "scheduled %s: a drift check every %s, remediate=%v (delete it with: temporal schedule delete -s %s)\n", sid, *every, *remediate, sid)
		warnIfNoWorker(c, stderr)
	default:
		fs.Usage()
		return exitError
	}
	return exitOK
}

func printReconcileState(w io.Writer, id string, s workflows.ReconcileState) {
	fmt.Fprintf(w, "%s: %d checks, last %s, paused=%v\n", id, s.Checks, s.LastCheck.UTC().Format(time.RFC3339), s.Paused)
	if s.Breakglass.On {
		fmt.Fprintf(w, "BREAK-GLASS ON since %s by %s: %s\n", s.Breakglass.When.UTC().Format(time.RFC3339), s.Breakglass.Who, s.Breakglass.Reason)
	}
	if s.LastError != "" {
		fmt.Fprintf(w, "last error: %s\n", s.LastError)
	}
	for _, e := range s.Events {
		remediated := "not remediated"
		if !e.Remediated.IsZero() {
			remediated = fmt.Sprintf("remediated in %s", e.Remediated.Sub(e.When).Round(time.Millisecond))
		}
		fmt.Fprintf(w, "drift %s: %d changes on %s, %s\n", e.When.UTC().Format(time.RFC3339), e.Changes, countPlaces(e.Hosts, e.Clouds), remediated)
		for _, h := range e.Hosts {
			fmt.Fprintf(w, "  %s: %d to add, %d to change, %d to remove\n", placeName(h.Target, h.Host), h.Add, h.Change, h.Remove)
		}
		for _, c := range e.Clouds {
			fmt.Fprintf(w, "  %s: %d to add, %d to change, %d to remove\n", c.Target, c.Add, c.Change, c.Remove)
		}
	}
}

func runBreakglass(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "on" && args[0] != "off") {
		fmt.Fprintln(stderr, "usage: microseg breakglass on|off -target NAME -reason TEXT [DIR]")
		return exitError
	}
	on := args[0] == "on"
	fs := flag.NewFlagSet("breakglass", flag.ContinueOnError)
	target := fs.String("target", "", "the target (required)")
	reason := fs.String("reason", "", "why (required; recorded with who and when)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: microseg breakglass on|off -target NAME -reason TEXT [DIR]\n\n"+
			"on switches every segment of the target to audit mode at once: traffic flows and what the\n"+
			"policy would drop is logged. off restores enforcement. Both are recorded in the target's\n"+
			"reconcile workflow, which is started if it is not running.\n\nflags:")
		fs.PrintDefaults()
	}
	dir, code, ok := policyArgs(fs, args[1:], stderr)
	if !ok {
		return code
	}
	if *target == "" || *reason == "" {
		fmt.Fprintln(stderr, "microseg breakglass: -target and -reason are required")
		return exitError
	}
	abs, err := absDir(dir)
	if err != nil {
		fmt.Fprintln(stderr, "microseg breakglass:", err)
		return exitError
	}
	c, err := connect(stderr)
	if err != nil {
		fmt.Fprintln(stderr, "microseg breakglass:", err)
		return exitError
	}
	defer c.Close()
	who := os.Getenv("USER")
	if u, err := user.Current(); err == nil {
		who = u.Username
	}
	id := workflows.ReconcileWorkflowID(policyName(dir), *target)
	_, err = c.SignalWithStartWorkflow(context.Background(), id, workflows.BreakglassSignal,
		workflows.Breakglass{On: on, Who: who, Reason: *reason},
		client.StartWorkflowOptions{ID: id, TaskQueue: workflows.TaskQueue},
		workflows.ReconcileWorkflow, workflows.ReconcileRequest{Dir: abs, Target: *target, Interval: 5 * time.Minute})
	if err != nil {
		fmt.Fprintln(stderr, "microseg breakglass:", err)
		return exitError
	}
	fmt.Fprintf(stdout, "break-glass %s for target %s, recorded in %s (by %s: %s)\n", args[0], *target, id, who, *reason)
	warnIfNoWorker(c, stderr)
	return exitOK
}
