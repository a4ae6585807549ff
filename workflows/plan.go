package workflows

import (
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// agentOptions are the activity options of calls to a host's agent. A short
// schedule-to-start timeout makes a plan fail fast, naming the host, when its agent
// is not running, instead of waiting for it forever.
func agentOptions(ctx workflow.Context, job HostJob) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:              HostQueue(job.Target, job.Host),
		ScheduleToStartTimeout: 30 * time.Second,
		StartToCloseTimeout:    5 * time.Minute,
		RetryPolicy:            &temporal.RetryPolicy{MaximumAttempts: 3, InitialInterval: time.Second},
	})
}

// cloudOptions are for a cloud target's plan and apply on the worker: a large apply
// makes thousands of calls, throttled ones retried by the SDK, and heartbeats
// (cloudHeartbeat) so that a dead worker is noticed long before the 30 minutes.
func cloudOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:           TaskQueue,
		StartToCloseTimeout: 30 * time.Minute,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 3, InitialInterval: 5 * time.Second},
	})
}

func workerOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:           TaskQueue,
		StartToCloseTimeout: 2 * time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 3},
	})
}

// PlanWorkflow loads the policy, observes every host of it in parallel and returns
// the plan: what each host lacks and has too much of.
func PlanWorkflow(ctx workflow.Context, req PlanRequest) (Plan, error) {
	var a *Activities
	var ref PolicyRef
	if err := workflow.ExecuteActivity(workerOptions(ctx), a.LoadPolicy, req).Get(ctx, &ref); err != nil {
		return Plan{}, err
	}
	plan, err := planJobs(ctx, ref.Jobs, ref.Clouds)
	if err != nil {
		return Plan{}, err
	}
	plan.PolicyHash, plan.Jobs, plan.CloudJobs, plan.Unplanned = ref.Hash, ref.Jobs, ref.Clouds, ref.Unplanned
	return plan, nil
}

// planJobs asks every host's agent and the worker for every cloud target's plan, all
// at once, and collects them in the jobs' order.
func planJobs(ctx workflow.Context, jobs []HostJob, clouds []CloudJob) (Plan, error) {
	var h *HostActivities
	var a *Activities
	jobs, clouds = splitLegacy(jobs, clouds)
	hostFutures := make([]workflow.Future, len(jobs))
	for i, job := range jobs {
		hostFutures[i] = workflow.ExecuteActivity(agentOptions(ctx, job), h.PlanHost, job)
	}
	cloudFutures := make([]workflow.Future, len(clouds))
	for i, job := range clouds {
		cloudFutures[i] = workflow.ExecuteActivity(cloudOptions(ctx), a.PlanCloud, job)
	}
	plan := Plan{Created: workflow.Now(ctx)}
	for i, f := range hostFutures {
		var hp HostPlan
		if err := f.Get(ctx, &hp); err != nil {
			return Plan{}, hostError(jobs[i], "plan", err)
		}
		plan.Hosts = append(plan.Hosts, hp)
	}
	for i, f := range cloudFutures {
		var cp CloudPlan
		if err := f.Get(ctx, &cp); err != nil {
			return Plan{}, cloudError(clouds[i], "plan", err)
		}
		plan.Clouds = append(plan.Clouds, cp)
	}
	return plan, nil
}

// splitLegacy moves the cloud targets of jobs recorded before CloudJob existed
// (HostJobs without a Host) to the cloud jobs.
func splitLegacy(jobs []HostJob, clouds []CloudJob) ([]HostJob, []CloudJob) {
	hosts := jobs[:0:0]
	for _, j := range jobs {
		if j.Host == "" {
			clouds = append(clouds, CloudJob{Target: j.Target, PolicyHash: j.PolicyHash, StateHash: j.StateHash, Audit: j.Audit})
			continue
		}
		hosts = append(hosts, j)
	}
	return hosts, clouds
}

// cloudError names the cloud target an activity failed on.
func cloudError(job CloudJob, what string, err error) error {
	msg := err.Error()
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		msg = app.Message()
	}
	return temporal.NewApplicationErrorWithCause(what+" target "+job.Target+": "+msg, "TargetFailed", err)
}

// hostError names the host an activity failed on, and says what to do when the
// reason is that no agent serves it.
func hostError(job HostJob, what string, err error) error {
	var timeout *temporal.TimeoutError
	if errors.As(err, &timeout) && timeout.TimeoutType() == enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"%s host %s/%s: no agent answered on task queue %s; start one on the host: microseg agent -target %s -host %s",
			what, job.Target, job.Host, HostQueue(job.Target, job.Host), job.Target, job.Host), "NoAgent", nil)
	}
	msg := err.Error()
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		msg = app.Message()
	}
	return temporal.NewApplicationErrorWithCause(what+" host "+job.Target+"/"+job.Host+": "+msg, "HostFailed", err)
}
