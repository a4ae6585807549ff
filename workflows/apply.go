package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// ApplyWorkflow applies a plan host by host, in the plan's order: it waits for the
// approve signal first when the plan removes anything (unless auto-approved), applies
// each host's change commit-confirmed, confirms it once the host's agent answers
// again, and plans the host once more to verify that nothing is left to do. A host
// that changed since the plan fails the apply as stale; hosts already applied keep
// their change.
//
// Start it with the workflow ID "apply/<target>" for each target it touches: the ID
// is the lock that keeps two applies from racing on one target.
func ApplyWorkflow(ctx workflow.Context, req ApplyRequest) (ApplyResult, error) {
	var result ApplyResult
	state := "starting"
	if err := workflow.SetQueryHandler(ctx, StatusQuery, func() (string, error) { return state, nil }); err != nil {
		return result, err
	}
	if _, _, remove := req.Plan.Counts(); remove > 0 {
		if req.AutoApprove {
			result.Approved = "auto"
		} else {
			state = "waiting for approval"
			// Wait for approval, or for cancellation (break-glass preempts a waiting apply).
			sel := workflow.NewSelector(ctx)
			sel.AddReceive(workflow.GetSignalChannel(ctx, ApproveSignal), func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil) })
			sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {})
			sel.Select(ctx)
			if ctx.Err() != nil {
				return result, temporal.NewCanceledError("cancelled while waiting for approval (break-glass or an operator)")
			}
			result.Approved = "signal"
		}
	}
	state = "applying"
	hosts, clouds, err := applyJobs(ctx, req.Plan, req.Jobs, req.Clouds, req.ConfirmTimeout, func(s string) { state = s })
	result.Hosts, result.Clouds = hosts, clouds
	if recordsHistory(ctx) {
		var enforced time.Time
		if err == nil {
			enforced = workflow.Now(ctx)
		}
		recordUpdate(ctx, req.Plan, req.Jobs, req.Clouds, enforced)
	}
	if err != nil {
		return result, err
	}
	state = "done"
	return result, nil
}

// applyJobs applies the plan's changes host by host (commit-confirmed, confirmed once
// the agent answers again, and verified by planning the host once more), then cloud
// target by cloud target (through its provider, verified by planning it again).
func applyJobs(ctx workflow.Context, plan Plan, jobs []HostJob, clouds []CloudJob, confirmTimeout time.Duration, progress func(string)) ([]HostApplied, []CloudApplied, error) {
	jobs, clouds = splitLegacy(jobs, clouds)
	var h *HostActivities
	plans := map[string]HostPlan{}
	cloudPlans := map[string]CloudPlan{}
	for _, hp := range plan.Hosts {
		if hp.Host == "" { // a cloud target's plan, recorded before CloudPlan existed
			cloudPlans[hp.Target] = CloudPlan{Target: hp.Target, Add: hp.Add, Change: hp.Change, Remove: hp.Remove, TextHash: hp.TextHash, Observed: hp.Observed}
			continue
		}
		plans[hp.Target+"/"+hp.Host] = hp
	}
	for _, cp := range plan.Clouds {
		cloudPlans[cp.Target] = cp
	}
	var done []HostApplied
	for _, job := range jobs {
		hp, ok := plans[job.Target+"/"+job.Host]
		if !ok || hp.Add+hp.Change+hp.Remove == 0 {
			continue
		}
		actx := agentOptions(ctx, job)
		if progress != nil {
			progress("applying " + job.Target + "/" + job.Host)
		}
		applied := HostApplied{Target: job.Target, Host: job.Host}
		if err := workflow.ExecuteActivity(actx, h.ApplyHost, job, hp.Observed, confirmTimeout).Get(ctx, &applied.Stats); err != nil {
			return done, nil, hostError(job, "apply", err)
		}
		if err := workflow.ExecuteActivity(actx, h.ConfirmHost).Get(ctx, nil); err != nil {
			return done, nil, hostError(job, "confirm", err)
		}
		var verify HostPlan
		if err := workflow.ExecuteActivity(actx, h.PlanHost, job).Get(ctx, &verify); err != nil {
			return done, nil, hostError(job, "verify", err)
		}
		applied.Verified = verify.Add+verify.Change+verify.Remove == 0
		if !applied.Verified {
			applied.Remaining = verify.TextHash
		}
		done = append(done, applied)
	}
	var cloudDone []CloudApplied
	for _, job := range clouds {
		cp, ok := cloudPlans[job.Target]
		if !ok || cp.Add+cp.Change+cp.Remove == 0 {
			continue
		}
		if progress != nil {
			progress("applying " + job.Target)
		}
		applied, err := applyCloud(ctx, job, cp)
		if err != nil {
			return done, cloudDone, err
		}
		cloudDone = append(cloudDone, applied)
	}
	return done, cloudDone, nil
}

// applyCloud applies a cloud target through its provider on the worker, and plans it
// again to verify.
func applyCloud(ctx workflow.Context, job CloudJob, cp CloudPlan) (CloudApplied, error) {
	var a *Activities
	cctx := cloudOptions(ctx)
	applied := CloudApplied{Target: job.Target}
	if err := workflow.ExecuteActivity(cctx, a.ApplyCloud, job, cp.Observed).Get(ctx, &applied.Changes); err != nil {
		return applied, cloudError(job, "apply", err)
	}
	var verify CloudPlan
	if err := workflow.ExecuteActivity(cctx, a.PlanCloud, job).Get(ctx, &verify); err != nil {
		return applied, cloudError(job, "verify", err)
	}
	applied.Verified = verify.Add+verify.Change+verify.Remove == 0
	if !applied.Verified {
		applied.Remaining = verify.TextHash
	}
	return applied, nil
}
