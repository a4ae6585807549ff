package workflows

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/microseg/microseg/report"
)

// What the workflows record in the results history besides audits: drift events
// (when a reconcile check found drift, and when it was gone) and policy updates (when
// an apply began and when the target was verified), for the report's time to
// remediate and time to update policy. Recording is best effort: a history that is
// down must not stop a reconcile loop or fail an apply that worked.

// recordsHistory reports whether this workflow run records history: runs from before
// the change replay as they were.
func recordsHistory(ctx workflow.Context) bool {
	return workflow.GetVersion(ctx, "results-history", workflow.DefaultVersion, 1) == 1
}

func historyOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:           TaskQueue,
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 3},
	})
}

// recordDrift stores one drift event of a reconcile loop.
func recordDrift(ctx workflow.Context, target string, e DriftEvent) {
	var a *Activities
	ev := report.DriftEvent{
		ID:         workflow.GetInfo(ctx).WorkflowExecution.ID + "/" + fmt.Sprint(e.When.UnixNano()),
		Target:     target,
		Detected:   e.When,
		Changes:    e.Changes,
		Summary:    driftSummary(e),
		Remediated: e.Remediated,
	}
	_ = workflow.ExecuteActivity(historyOptions(ctx), a.RecordDrift, ev).Get(ctx, nil)
}

// driftSummary says in one line which hosts drifted and by how much.
func driftSummary(e DriftEvent) string {
	parts := make([]string, 0, len(e.Hosts)+len(e.Clouds))
	for _, h := range e.Hosts {
		name := h.Target
		if h.Host != "" {
			name += "/" + h.Host
		}
		parts = append(parts, fmt.Sprintf("%s: %d to add, %d to change, %d to remove", name, h.Add, h.Change, h.Remove))
	}
	for _, c := range e.Clouds {
		parts = append(parts, fmt.Sprintf("%s: %d to add, %d to change, %d to remove", c.Target, c.Add, c.Change, c.Remove))
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}

// recordUpdate stores when an apply of a policy to its targets began and, when it
// was verified everywhere, when it ended.
func recordUpdate(ctx workflow.Context, plan Plan, jobs []HostJob, clouds []CloudJob, enforced time.Time) {
	var a *Activities
	if plan.PolicyHash == "" {
		return // a remediation replays the policy in force; it is not an update
	}
	seen := map[string]bool{}
	targets := make([]string, 0, len(jobs)+len(clouds))
	for _, j := range jobs {
		targets = append(targets, j.Target)
	}
	for _, j := range clouds {
		targets = append(targets, j.Target)
	}
	for _, t := range targets {
		if seen[t] {
			continue
		}
		seen[t] = true
		u := report.PolicyUpdate{PolicyHash: plan.PolicyHash, Target: t, Submitted: plan.Created, Enforced: enforced}
		_ = workflow.ExecuteActivity(historyOptions(ctx), a.RecordPolicyUpdate, u).Get(ctx, nil)
	}
}

// RecordDrift stores a drift event in the results history.
func (a *Activities) RecordDrift(ctx context.Context, e report.DriftEvent) error {
	if a.Results == nil {
		return nil
	}
	return a.Results.SaveDriftEvent(ctx, e)
}

// recordFindings stores what a reconcile check saw kept by design on the target's
// hosts and clouds. Runs from before findings were recorded replay as they were.
func recordFindings(ctx workflow.Context, target string, seen time.Time, plan Plan) {
	var findings []report.Finding
	for _, c := range plan.Clouds {
		for _, f := range c.Findings {
			findings = append(findings, report.Finding{Target: target, Subject: f.Subject, Message: f.Message})
		}
	}
	if len(findings) == 0 || workflow.GetVersion(ctx, "record-findings", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return
	}
	var a *Activities
	_ = workflow.ExecuteActivity(historyOptions(ctx), a.RecordFindings, target, seen, findings).Get(ctx, nil)
}

// RecordFindings stores the findings a check saw at seen in the results history.
func (a *Activities) RecordFindings(ctx context.Context, target string, seen time.Time, findings []report.Finding) error {
	if a.Results == nil {
		return nil
	}
	return a.Results.SaveFindings(ctx, target, seen, findings)
}

// RecordPolicyUpdate stores a policy update in the results history.
func (a *Activities) RecordPolicyUpdate(ctx context.Context, u report.PolicyUpdate) error {
	if a.Results == nil {
		return nil
	}
	return a.Results.SavePolicyUpdate(ctx, u)
}
