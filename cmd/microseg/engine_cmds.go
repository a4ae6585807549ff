package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/onprem"
	"github.com/microseg/microseg/workflows"
)

// planFile is what `plan -out` saves and `apply FILE` reads.
type planFile struct {
	Plan   workflows.Plan
	Jobs   []workflows.HostJob
	Clouds []workflows.CloudJob `json:",omitempty"`
	Dir    string
}

func runPlan(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	target := fs.String("target", "", "plan only this target")
	bundle := fs.String("bundle", "", "plan the policy bundle with this hash (as a previous plan printed) instead of DIR")
	out := fs.String("out", "", "save the plan to `FILE`, for microseg apply FILE")
	detailed := fs.Bool("detailed-exitcode", false, "exit 2 when the plan changes anything")
	asJSON := fs.Bool("json", false, "print the plan as JSON")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: microseg plan [-target NAME] [-bundle HASH] [-out FILE] [-detailed-exitcode] [-json] [DIR]\n\nObserves every host of the policy's hosts targets through their agents, and every cloud\ntarget through its provider, and prints what applying the policy would change, host by\nhost and target by target, with what each keeps by design (notes, not changes).\n\nflags:")
		fs.PrintDefaults()
	}
	dir, code, ok := policyArgs(fs, args, stderr)
	if !ok {
		return code
	}
	pf, ok := planned("plan", dir, *bundle, *target, stderr)
	if !ok {
		return exitError
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(pf.Plan)
	} else {
		printPlan(stdout, pf.Plan)
	}
	if *out != "" {
		data, _ := json.MarshalIndent(pf, "", "  ")
		if err := os.WriteFile(*out, data, 0o644); err != nil {
			fmt.Fprintln(stderr, "microseg plan:", err)
			return exitError
		}
		fmt.Fprintf(stdout, "saved the plan to %s; apply it with: microseg apply %s\n", *out, *out)
	}
	if add, change, remove := pf.Plan.Counts(); *detailed && add+change+remove > 0 {
		return exitFindings
	}
	return exitOK
}

// planned connects and plans the policy in dir (or the bundle), reporting failures
// as the command called name.
func planned(name, dir, bundle, target string, stderr io.Writer) (*planFile, bool) {
	c, err := connect(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "microseg %s: %v\n", name, err)
		return nil, false
	}
	defer c.Close()
	var pf *planFile
	if bundle != "" {
		pf, err = runPlanWorkflow(c, workflows.PlanRequest{Bundle: bundle, Target: target})
	} else {
		pf, err = makePlan(c, dir, target)
	}
	if err != nil {
		fmt.Fprintf(stderr, "microseg %s: %s\n", name, workflowError(err))
		return nil, false
	}
	return pf, true
}

// makePlan runs the Plan workflow (with an in-process worker when embedded).
func makePlan(c client.Client, dir, target string) (*planFile, error) {
	abs, err := absDir(dir)
	if err != nil {
		return nil, err
	}
	pf, err := runPlanWorkflow(c, workflows.PlanRequest{Dir: abs, Target: target})
	if pf != nil {
		pf.Dir = abs
	}
	return pf, err
}

func runPlanWorkflow(c client.Client, req workflows.PlanRequest) (*planFile, error) {
	var pf planFile
	err := withWorker(c, func() error {
		ctx, stop := signalContext()
		defer stop()
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: fmt.Sprintf("plan/%d", time.Now().UnixNano()), TaskQueue: workflows.TaskQueue,
			WorkflowExecutionTimeout: 10 * time.Minute,
		}, workflows.PlanWorkflow, req)
		if err != nil {
			return err
		}
		return run.Get(ctx, &pf.Plan)
	})
	if err != nil {
		return nil, err
	}
	pf.Jobs, pf.Clouds = pf.Plan.Jobs, pf.Plan.CloudJobs
	return &pf, nil
}

func absDir(dir string) (string, error) {
	info, err := os.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("policy directory: %w", err)
	}
	if !info.IsDir() {
		return "", fmt.Errorf("policy directory: %s is not a directory", dir)
	}
	wd, _ := os.Getwd()
	if strings.HasPrefix(dir, "/") {
		return dir, nil
	}
	return wd + "/" + dir, nil
}

func printPlan(w io.Writer, p workflows.Plan) {
	store := contentStore()
	section := func(name, textHash string, add, change, remove int) {
		fmt.Fprintf(w, "# %s\n", name)
		text, err := store.Get(context.Background(), workflows.KindPlanText, textHash)
		if err != nil {
			fmt.Fprintf(w, "  %d to add, %d to change, %d to remove (the full plan is not readable here: %v)\n", add, change, remove, err)
		} else {
			w.Write(text)
		}
	}
	for _, h := range p.Hosts {
		section(placeName(h.Target, h.Host), h.TextHash, h.Add, h.Change, h.Remove)
	}
	for _, c := range p.Clouds {
		section(c.Target, c.TextHash, c.Add, c.Change, c.Remove)
		printFindings(w, c.Findings)
	}
	if len(p.Unplanned) > 0 {
		fmt.Fprintf(w, "Not planned (this version has no provider for them yet): %s\n", strings.Join(p.Unplanned, ", "))
	}
	add, change, remove := p.Counts()
	fmt.Fprintf(w, "Plan: %d to add, %d to change, %d to remove, on %s.\nPolicy bundle: %s\n", add, change, remove, countPlaces(p.Hosts, p.Clouds), p.PolicyHash)
}

// placeName names where a plan applies: a host as TARGET/HOST, a cloud target by
// its name.
func placeName(target, host string) string {
	if host == "" {
		return target
	}
	return target + "/" + host
}

// countPlaces says how many hosts and cloud targets plans cover: "3 hosts and 1
// cloud target".
func countPlaces(hostPlans []workflows.HostPlan, cloudPlans []workflows.CloudPlan) string {
	hosts, clouds := len(hostPlans), len(cloudPlans)
	for _, h := range hostPlans {
		if h.Host == "" { // a cloud target, in a plan recorded before CloudPlan
			hosts, clouds = hosts-1, clouds+1
		}
	}
	switch {
	case clouds == 0:
		return plural(hosts, "host", "hosts")
	case hosts == 0:
		return plural(clouds, "cloud target", "cloud targets")
	}
	return plural(hosts, "host", "hosts") + " and " + plural(clouds, "cloud target", "cloud targets")
}

// plural counts n things: "1 host", "3 hosts".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// printFindings lists what a target keeps by design but an operator should know;
// they are not changes, and no exit code counts them.
func printFindings(w io.Writer, findings []model.Finding) {
	for _, f := range findings {
		fmt.Fprintf(w, "  note (not a change): %s\n", f)
	}
}

func runApply(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("apply", flag.ContinueOnError)
	auto := fs.Bool("auto-approve", false, "apply a plan that removes something without waiting for microseg approve")
	target := fs.String("target", "", "apply only this target (without a plan file)")
	confirm := fs.Duration("confirm-timeout", onprem.DefaultConfirmTimeout, "how long a host keeps a change the server has not confirmed")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: microseg apply [-auto-approve] [FILE | DIR]\n\nApplies a saved plan (FILE, from plan -out), or plans DIR (default .) and applies that.\nA plan that removes anything waits for `microseg approve apply/TARGET` unless -auto-approve.\nA host or target whose state changed since the plan is refused as stale. Exits 1 when the\nplan after the apply is not empty (verified=false), printing what is still different.\n\nflags:")
		fs.PrintDefaults()
	}
	positional, code, ok := parseArgs(fs, args, stderr)
	if !ok {
		return code
	}
	arg := "."
	if len(positional) > 0 {
		arg = positional[0]
	}
	c, err := connect(stderr)
	if err != nil {
		fmt.Fprintln(stderr, "microseg apply:", err)
		return exitError
	}
	defer c.Close()
	var pf *planFile
	if info, err := os.Stat(arg); err == nil && !info.IsDir() {
		data, err := os.ReadFile(arg)
		if err == nil {
			pf = &planFile{}
			err = json.Unmarshal(data, pf)
		}
		if err != nil {
			fmt.Fprintf(stderr, "microseg apply: read plan %s: %v\n", arg, err)
			return exitError
		}
	} else {
		if pf, err = makePlan(c, arg, *target); err != nil {
			fmt.Fprintln(stderr, "microseg apply:", workflowError(err))
			return exitError
		}
	}
	printPlan(stdout, pf.Plan)
	if add, change, remove := pf.Plan.Counts(); add+change+remove == 0 {
		fmt.Fprintln(stdout, "Nothing to apply.")
		return exitOK
	}
	var results []workflows.ApplyResult
	err = withWorker(c, func() error {
		ctx, stop := signalContext()
		defer stop()
		// One apply workflow per target: its ID is the lock against concurrent applies.
		byTarget := map[string][]workflows.HostJob{}
		cloudJob := map[string][]workflows.CloudJob{}
		var targets []string
		for _, j := range pf.Jobs {
			if _, ok := byTarget[j.Target]; !ok {
				targets = append(targets, j.Target)
			}
			byTarget[j.Target] = append(byTarget[j.Target], j)
		}
		for _, j := range pf.Clouds {
			if _, ok := cloudJob[j.Target]; !ok {
				targets = append(targets, j.Target)
			}
			cloudJob[j.Target] = append(cloudJob[j.Target], j)
		}
		for _, t := range targets {
			id := workflows.ApplyWorkflowID(t)
			run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
				ID: id, TaskQueue: workflows.TaskQueue,
				WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
				WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
				// Without it the SDK would hand back the running apply and wait for it.
				WorkflowExecutionErrorWhenAlreadyStarted: true,
			}, workflows.ApplyWorkflow, workflows.ApplyRequest{Plan: pf.Plan, Jobs: byTarget[t], Clouds: cloudJob[t], AutoApprove: *auto, ConfirmTimeout: *confirm})
			if err != nil {
				var started *serviceerror.WorkflowExecutionAlreadyStarted
				if errors.As(err, &started) {
					return fmt.Errorf("another apply is running on target %s (workflow %s): wait for it, or see `temporal workflow describe -w %s`", t, id, id)
				}
				return err
			}
			if _, _, remove := pf.Plan.Counts(); remove > 0 && !*auto {
				fmt.Fprintf(stdout, "The plan removes something: waiting for approval. Approve it with:\n  microseg approve %s\n", id)
			}
			stopProgress := showProgress(ctx, c, id, stdout)
			var res workflows.ApplyResult
			err = run.Get(ctx, &res)
			stopProgress()
			if err != nil {
				return err
			}
			results = append(results, res)
		}
		return nil
	})
	if err != nil {
		fmt.Fprintln(stderr, "microseg apply:", workflowError(err))
		return exitError
	}
	var unverified []string
	applied := map[string]bool{} // target -> every host and cloud of it verified
	for _, res := range results {
		for _, h := range res.Hosts {
			if _, seen := applied[h.Target]; !seen {
				applied[h.Target] = true
			}
			if !h.Verified {
				applied[h.Target] = false
			}
		}
		for _, c := range res.Clouds {
			applied[c.Target] = c.Verified
		}
		for _, h := range res.Hosts {
			fmt.Fprintf(stdout, "%s/%s: %s, confirmed, verified=%v\n", h.Target, h.Host, describeStats(h.Stats), h.Verified)
			if !h.Verified {
				unverified = append(unverified, placeName(h.Target, h.Host))
				printRemaining(stdout, h.Remaining)
			}
		}
		for _, c := range res.Clouds {
			fmt.Fprintf(stdout, "%s: %s, verified=%v\n", c.Target, plural(c.Changes, "change", "changes"), c.Verified)
			if !c.Verified {
				unverified = append(unverified, c.Target)
				printRemaining(stdout, c.Remaining)
			}
		}
	}
	var repaired []string
	for _, t := range model.SortedKeys(applied) {
		if applied[t] {
			repaired = append(repaired, t)
		}
	}
	if err := recordRepaired(repaired, time.Now()); err != nil {
		fmt.Fprintln(stderr, "microseg apply: the repair is not in the results history:", err)
	}
	if len(unverified) > 0 {
		// As Terraform does when an apply leaves the state unconverged: the change
		// was made, but the target is not the policy yet.
		fmt.Fprintf(stderr, "microseg apply: applied, but %s still differ from the policy (shown above): run apply again, or look for what keeps changing them\n", strings.Join(unverified, ", "))
		return exitError
	}
	fmt.Fprintln(stdout, "Apply complete.")
	return exitOK
}

// printRemaining prints what the verifying plan after an apply still found.
func printRemaining(w io.Writer, textHash string) {
	if textHash == "" {
		return
	}
	text, err := contentStore().Get(context.Background(), workflows.KindPlanText, textHash)
	if err != nil {
		fmt.Fprintf(w, "  (what is still different is not readable here: %v)\n", err)
		return
	}
	fmt.Fprintln(w, "  still different after the apply:")
	w.Write(text)
}

func runApprove(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("approve", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: microseg approve RUN\n\nLets a waiting apply that removes something go ahead; RUN is the workflow ID apply prints\n(apply/TARGET).")
	}
	positional, code, ok := parseArgs(fs, args, stderr)
	if !ok {
		return code
	}
	if len(positional) != 1 {
		fs.Usage()
		return exitError
	}
	c, err := connect(stderr)
	if err != nil {
		fmt.Fprintln(stderr, "microseg approve:", err)
		return exitError
	}
	defer c.Close()
	if err := c.SignalWorkflow(context.Background(), positional[0], "", workflows.ApproveSignal, nil); err != nil {
		fmt.Fprintf(stderr, "microseg approve: %s: %v\n", positional[0], err)
		return exitError
	}
	fmt.Fprintf(stdout, "approved %s\n", positional[0])
	return exitOK
}

func runWorker(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: microseg worker\n\nRuns the microseg worker (the workflows, and loading and compiling policies) until\ninterrupted. Run as many as you like against a Temporal cluster (TEMPORAL_ADDRESS).")
	}
	if _, code, ok := parseArgs(fs, args, stderr); !ok {
		return code
	}
	c, err := connect(stderr)
	if err != nil {
		fmt.Fprintln(stderr, "microseg worker:", err)
		return exitError
	}
	defer c.Close()
	fmt.Fprintf(stderr, "microseg worker: serving task queue %s\n", workflows.TaskQueue)
	if err := newWorker(c).Run(worker.InterruptCh()); err != nil {
		fmt.Fprintln(stderr, "microseg worker:", err)
		return exitError
	}
	return exitOK
}

func runAgent(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	var h hostFlags
	h.register(fs)
	group := fs.Uint("nflog-group", onprem.DefaultLogGroup, "the NFLOG group the host's log rules send to (the target's flow_logs { nflog_group })")
	flows := fs.String("flows", "", "the directory of the host's flow spool, which audits read (default: flows/TARGET/HOST in the state directory; \"off\" keeps none)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: microseg agent -target NAME -host NAME [-netns NS] [-nflog-group N] [-flows DIR]\n\nRuns the agent of one host: a worker on task queue host/TARGET/HOST that observes and\napplies the host's ruleset for the plan and apply workflows, confirms commit-confirmed\nchanges once it reaches the server again, and keeps the packets the ruleset drops (or\nwould drop, in audit mode) in a flow spool for audits.\n\nflags:")
		fs.PrintDefaults()
	}
	if _, code, ok := parseArgs(fs, args, stderr); !ok {
		return code
	}
	if h.target == "" || h.host == "" {
		fmt.Fprintln(stderr, "microseg agent: -target and -host are required")
		return exitError
	}
	c, err := connect(stderr)
	if err != nil {
		fmt.Fprintln(stderr, "microseg agent:", err)
		return exitError
	}
	defer c.Close()
	e := onprem.NewEnforcer(h.netns)
	defer e.Close()
	queue := workflows.HostQueue(h.target, h.host)
	w := worker.New(c, queue, worker.Options{})
	flowDir := *flows
	switch flowDir {
	case "":
		flowDir = filepath.Join(stateDir(), "flows", h.target, h.host)
	case "off":
		flowDir = ""
	}
	acts := &workflows.HostActivities{Target: h.target, Host: h.host, Enforcer: e, Store: contentStore(), FlowDir: flowDir}
	if flowDir != "" {
		sp, err := onprem.NewFlowSpooler(onprem.FlowLogConfig{Group: uint16(*group), NetNS: h.netns, Target: h.target, Host: h.host}, flowDir,
			func(msg string) { fmt.Fprintln(stderr, "microseg agent:", msg) })
		if err != nil {
			// Enforcement matters more than evidence: run without the spool, loudly.
			fmt.Fprintf(stderr, "microseg agent: warning: no flow spool, audits of %s/%s will find nothing: %v\n", h.target, h.host, err)
		} else {
			defer sp.Stop()
			acts.LogGroup = sp.Listen
		}
	}
	w.RegisterActivity(acts)
	fmt.Fprintf(stderr, "microseg agent: %s/%s serving task queue %s\n", h.target, h.host, queue)
	if err := w.Run(worker.InterruptCh()); err != nil {
		fmt.Fprintln(stderr, "microseg agent:", err)
		return exitError
	}
	return exitOK
}

func runDrift(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("drift", flag.ContinueOnError)
	target := fs.String("target", "", "check only this target")
	bundle := fs.String("bundle", "", "check against the policy bundle with this hash instead of DIR")
	detailed := fs.Bool("detailed-exitcode", false, "exit 2 when any host or cloud target drifted (findings do not count)")
	asJSON := fs.Bool("json", false, "print the drifted hosts' and targets' plans, and the findings, as JSON")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: microseg drift [-target NAME] [-bundle HASH] [-detailed-exitcode] [-json] [DIR]\n\nObserves every host through its agent and every cloud target through its provider, and\nreports those whose live state differs from the policy, with what it would take to make\nthem the policy again, and apart from them the findings: what targets keep by design.\n\nflags:")
		fs.PrintDefaults()
	}
	dir, code, ok := policyArgs(fs, args, stderr)
	if !ok {
		return code
	}
	pf, ok := planned("drift", dir, *bundle, *target, stderr)
	if !ok {
		return exitError
	}
	// Drifted hosts and cloud targets, each with its plan's text.
	type driftedPlace struct {
		name, textHash string
		plan           any // the HostPlan or CloudPlan, for -json
	}
	var drifted []driftedPlace
	type finding struct {
		Target, Finding string
	}
	findings := []finding{}
	found := map[string]*driftFound{}
	note := func(target, place string, add, change, remove int) {
		if found[target] == nil {
			found[target] = &driftFound{}
		}
		found[target].changes += add + change + remove
		found[target].parts = append(found[target].parts, fmt.Sprintf("%s: %d to add, %d to change, %d to remove", place, add, change, remove))
	}
	for _, h := range pf.Plan.Hosts {
		if h.Add+h.Change+h.Remove > 0 {
			drifted = append(drifted, driftedPlace{placeName(h.Target, h.Host), h.TextHash, h})
			note(h.Target, h.Host, h.Add, h.Change, h.Remove)
		}
	}
	for _, c := range pf.Plan.Clouds {
		if c.Add+c.Change+c.Remove > 0 {
			drifted = append(drifted, driftedPlace{c.Target, c.TextHash, c})
			note(c.Target, c.Target, c.Add, c.Change, c.Remove)
		}
		for _, f := range c.Findings {
			findings = append(findings, finding{c.Target, f.String()})
		}
	}
	if *asJSON {
		plans := make([]any, len(drifted))
		for i, d := range drifted {
			plans[i] = d.plan
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(map[string]any{"policy": pf.Plan.PolicyHash, "checked": len(pf.Plan.Hosts) + len(pf.Plan.Clouds), "drifted": plans, "findings": findings})
	} else {
		store := contentStore()
		for _, d := range drifted {
			fmt.Fprintf(stdout, "# %s drifted\n", d.name)
			if text, err := store.Get(context.Background(), workflows.KindPlanText, d.textHash); err == nil {
				stdout.Write(text)
			}
		}
		if len(findings) > 0 {
			fmt.Fprintln(stdout, "Findings (kept by design, not drift):")
			for _, f := range findings {
				fmt.Fprintf(stdout, "  %s: %s\n", f.Target, f.Finding)
			}
		}
		fmt.Fprintf(stdout, "Drift: %d of %s differ from the policy (bundle %.12s).\n", len(drifted), countPlaces(pf.Plan.Hosts, pf.Plan.Clouds), pf.Plan.PolicyHash)
	}
	if err := recordDriftFound(found, time.Now()); err != nil {
		fmt.Fprintln(stderr, "microseg drift: the drift found is not in the results history:", err)
	}
	if *detailed && len(drifted) > 0 {
		return exitFindings
	}
	return exitOK
}

// showProgress prints the apply's state (waiting for approval, applying a host) each
// time it changes, until stopped: applies to many hosts take a while.
func showProgress(ctx context.Context, c client.Client, id string, w io.Writer) func() {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		last := ""
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			v, err := c.QueryWorkflow(ctx, id, "", workflows.StatusQuery)
			if err != nil {
				continue
			}
			var state string
			if v.Get(&state) == nil && state != last && state != "starting" && state != "done" && state != "waiting for approval" {
				fmt.Fprintf(w, "  %s: %s\n", id, state)
				last = state
			}
		}
	}()
	return func() { cancel(); <-done }
}
