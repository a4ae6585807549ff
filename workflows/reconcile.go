package workflows

import (
	"errors"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Reconcile signals and queries.
const (
	PauseSignal         = "pause"
	ResumeSignal        = "resume"
	BreakglassSignal    = "breakglass"
	PolicyUpdatedSignal = "policy-updated"
)

// ReconcileWorkflowID is the ID of the one reconcile workflow of a target: the lock
// that keeps two reconcilers from fighting over it.
func ReconcileWorkflowID(policy, target string) string { return "reconcile/" + policy + "/" + target }

// ReconcileRequest configures a reconcile loop, and carries its state across
// continue-as-new.
type ReconcileRequest struct {
	Dir       string
	Target    string
	Interval  time.Duration
	Remediate bool
	State     ReconcileState
}

// Breakglass is an emergency switch of a target to audit mode: traffic flows, and
// everything the policy would drop is logged.
type Breakglass struct {
	On     bool
	Who    string
	Reason string
	When   time.Time
}

// DriftEvent records one check that found drift: when, where, by how much, and when
// it was remediated (zero if it was not).
type DriftEvent struct {
	When       time.Time
	Hosts      []HostPlan  // only the drifted hosts
	Clouds     []CloudPlan `json:",omitempty"` // and cloud targets
	Changes    int
	Remediated time.Time
}

// ReconcileState is what the status query answers.
type ReconcileState struct {
	Paused        bool
	Breakglass    Breakglass
	Checks        int
	LastCheck     time.Time
	LastError     string
	Events        []DriftEvent // the most recent, at most maxEvents
	BreakglassLog []Breakglass // every switch, on and off, most recent last
}

const maxEvents = 50

// ReconcileWorkflow keeps one target true to the policy: every Interval it plans, and
// when a host drifted it records a drift event and, with Remediate, applies. Signals
// pause and resume it, switch break-glass on and off (applied at once), or ask for a
// check now (policy-updated). It continues as new when Temporal suggests, carrying
// its state.
func ReconcileWorkflow(ctx workflow.Context, req ReconcileRequest) (ReconcileState, error) {
	state := req.State
	if err := workflow.SetQueryHandler(ctx, StatusQuery, func() (ReconcileState, error) { return state, nil }); err != nil {
		return state, err
	}
	pause := workflow.GetSignalChannel(ctx, PauseSignal)
	resume := workflow.GetSignalChannel(ctx, ResumeSignal)
	breakglass := workflow.GetSignalChannel(ctx, BreakglassSignal)
	updated := workflow.GetSignalChannel(ctx, PolicyUpdatedSignal)
	for {
		if ctx.Err() != nil {
			return state, ctx.Err() // cancelled: stop (reconcile stop)
		}
		if !state.Paused {
			check(ctx, req, &state)
		}
		if workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			req.State = state
			return state, workflow.NewContinueAsNewError(ctx, ReconcileWorkflow, req)
		}
		// Wait for the interval, or a signal that changes what to do.
		timerCtx, cancelTimer := workflow.WithCancel(ctx)
		sel := workflow.NewSelector(ctx)
		sel.AddFuture(workflow.NewTimer(timerCtx, req.Interval), func(workflow.Future) {})
		sel.AddReceive(pause, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil); state.Paused = true })
		sel.AddReceive(resume, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil); state.Paused = false })
		sel.AddReceive(updated, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil) })
		sel.AddReceive(breakglass, func(c workflow.ReceiveChannel, _ bool) {
			var bg Breakglass
			c.Receive(ctx, &bg)
			bg.When = workflow.Now(ctx)
			state.Breakglass = bg
			state.BreakglassLog = append(state.BreakglassLog, bg)
			// Break-glass takes effect now, whatever Remediate says.
			forced := req
			forced.Remediate = true
			if workflow.GetVersion(ctx, "breakglass-preempts-apply", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
				check(ctx, forced, &state)
				return
			}
			// An apply running or waiting for approval must not hold an emergency
			// back: cancel it, and check again until its lock is free.
			_ = workflow.RequestCancelExternalWorkflow(ctx, ApplyWorkflowID(req.Target), "").Get(ctx, nil)
			for range 30 {
				if !check(ctx, forced, &state) {
					break
				}
				_ = workflow.Sleep(ctx, time.Second)
			}
		})
		sel.Select(ctx)
		cancelTimer()
	}
}

// CheckWorkflow is one reconcile check, for Temporal Schedules.
func CheckWorkflow(ctx workflow.Context, req ReconcileRequest) (ReconcileState, error) {
	state := req.State
	check(ctx, req, &state)
	return state, nil
}

// check plans the target and records (and with Remediate, repairs) any drift. Errors
// are kept in the state rather than ending the loop: an agent that is down now may
// be up at the next check. It reports busy when remediation found another apply
// holding the target's lock.
func check(ctx workflow.Context, req ReconcileRequest, state *ReconcileState) (busy bool) {
	state.Checks++
	state.LastCheck = workflow.Now(ctx)
	state.LastError = ""
	var a *Activities
	var ref PolicyRef
	if err := workflow.ExecuteActivity(workerOptions(ctx), a.LoadPolicy, PlanRequest{Dir: req.Dir, Target: req.Target}).Get(ctx, &ref); err != nil {
		state.LastError = err.Error()
		return
	}
	jobs, clouds := withBreakglass(ref.Jobs, ref.Clouds, state.Breakglass.On)
	plan, err := planJobs(ctx, jobs, clouds)
	if err != nil {
		state.LastError = err.Error()
		return
	}
	if recordsHistory(ctx) {
		recordFindings(ctx, req.Target, state.LastCheck, plan)
	}
	event := DriftEvent{When: state.LastCheck}
	for _, h := range plan.Hosts {
		if n := h.Add + h.Change + h.Remove; n > 0 {
			event.Changes += n
			event.Hosts = append(event.Hosts, h)
		}
	}
	for _, c := range plan.Clouds {
		if n := c.Add + c.Change + c.Remove; n > 0 {
			event.Changes += n
			event.Clouds = append(event.Clouds, c)
		}
	}
	if event.Changes == 0 {
		// Drift that is gone (repaired by hand, or by an apply) ends its event.
		if last := len(state.Events) - 1; last >= 0 && state.Events[last].Remediated.IsZero() && recordsHistory(ctx) {
			state.Events[last].Remediated = state.LastCheck
			recordDrift(ctx, req.Target, state.Events[last])
		}
		return
	}
	if req.Remediate && workflow.GetVersion(ctx, "remediate-as-apply-child", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		// Histories from before remediation ran as a child apply.
		if _, _, err := applyJobs(ctx, plan, jobs, clouds, 0, nil); err != nil {
			state.LastError = err.Error()
		} else {
			event.Remediated = workflow.Now(ctx)
		}
	} else if req.Remediate {
		// Remediation is an apply like any other, under the same workflow ID
		// apply/<target>: the lock that keeps it from racing a manual apply. When one
		// runs, this check records that and leaves the drift to the next.
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID:            ApplyWorkflowID(req.Target),
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
			ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_REQUEST_CANCEL,
		})
		plan.Jobs, plan.CloudJobs = jobs, clouds
		err := workflow.ExecuteChildWorkflow(cctx, ApplyWorkflow, ApplyRequest{Plan: plan, Jobs: jobs, Clouds: clouds, AutoApprove: true}).Get(ctx, nil)
		var started *temporal.ChildWorkflowExecutionAlreadyStartedError
		busy = errors.As(err, &started)
		if err != nil {
			state.LastError = "remediation: " + err.Error()
		} else {
			event.Remediated = workflow.Now(ctx)
		}
	}
	state.Events = append(state.Events, event)
	if recordsHistory(ctx) {
		recordDrift(ctx, req.Target, event)
	}
	if len(state.Events) > maxEvents {
		state.Events = state.Events[len(state.Events)-maxEvents:]
	}
	return busy
}

// withBreakglass returns the jobs with every host and cloud target forced into audit
// mode when on.
func withBreakglass(jobs []HostJob, clouds []CloudJob, on bool) ([]HostJob, []CloudJob) {
	jobs, clouds = splitLegacy(jobs, clouds)
	if !on {
		return jobs, clouds
	}
	hosts := make([]HostJob, len(jobs))
	for i, j := range jobs {
		j.Audit = true
		hosts[i] = j
	}
	cs := make([]CloudJob, len(clouds))
	for i, j := range clouds {
		j.Audit = true
		cs[i] = j
	}
	return hosts, cs
}
