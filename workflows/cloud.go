package workflows

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	hclload "github.com/microseg/microseg/hcl"
	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/providers"
)

// cloudState returns the target's compiled state, read by hash (or compiled from
// the bundle, for a job from before states were stored), and its provider.
func (a *Activities) cloudState(ctx context.Context, job CloudJob) (*model.DesiredState, providers.Provider, error) {
	st, err := a.compiledState(ctx, job)
	if err != nil {
		return nil, nil, err
	}
	p, err := a.Providers.New(ctx, st.Target, job.PolicyHash[:12])
	if errors.Is(err, providers.ErrNoProvider) {
		return nil, nil, temporal.NewNonRetryableApplicationError(err.Error(), "NoProvider", err)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("provider of target %s: %w", job.Target, err)
	}
	return st, p, nil
}

// targetState is the job's target state as the job wants it enforced: read by hash,
// and under break-glass (job.Audit) with every segment in audit mode. The one place
// break-glass changes what a target enforces, for hosts and clouds alike.
func targetState(ctx context.Context, store Store, target, stateHash string, audit bool) (*model.DesiredState, error) {
	var st model.DesiredState
	if err := getJSON(ctx, store, KindTargetState, stateHash, &st); err != nil {
		return nil, err
	}
	if st.Target == nil || st.Target.Name != target {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("the stored state %.12s is not target %s's", stateHash, target), "WrongState", nil)
	}
	if audit {
		return st.WithMode(model.ModeAudit), nil
	}
	return &st, nil
}

func (a *Activities) compiledState(ctx context.Context, job CloudJob) (*model.DesiredState, error) {
	if job.StateHash != "" {
		return targetState(ctx, a.Store, job.Target, job.StateHash, job.Audit)
	}
	sources := map[string][]byte{}
	if err := getJSON(ctx, a.Store, KindBundle, job.PolicyHash, &sources); err != nil {
		return nil, err
	}
	loaded, diags := hclload.LoadSources(sources)
	if diags.HasErrors() {
		return nil, temporal.NewNonRetryableApplicationError("the policy bundle does not load: "+diags.Error(), "InvalidPolicy", nil)
	}
	states, err := model.Compile(loaded.Policy)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), "InvalidPolicy", err)
	}
	st, ok := states[job.Target]
	if !ok {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("no target %q in the policy bundle", job.Target), "UnknownTarget", nil)
	}
	if job.Audit { // a job from before states were stored
		st = st.WithMode(model.ModeAudit)
	}
	return st, nil
}

// PlanCloud observes a cloud target through its provider and diffs it with the policy.
func (a *Activities) PlanCloud(ctx context.Context, job CloudJob) (cp CloudPlan, err error) {
	err = heartbeating(ctx, func() error {
		cp, err = a.planCloud(ctx, job)
		return err
	})
	return cp, err
}

func (a *Activities) planCloud(ctx context.Context, job CloudJob) (CloudPlan, error) {
	st, p, err := a.cloudState(ctx, job)
	if err != nil {
		return CloudPlan{}, err
	}
	pl, err := cloudPlan(ctx, job, st, p)
	if err != nil {
		return CloudPlan{}, err
	}
	plan, obs := pl.Plan, pl.Observed
	var b strings.Builder
	plan.Render(&b)
	text, err := a.Store.Put(ctx, KindPlanText, []byte(b.String()))
	if err != nil {
		return CloudPlan{}, err
	}
	add, change, remove := plan.Counts()
	return CloudPlan{Target: job.Target, Kind: st.Target.Kind, Add: add, Change: change, Remove: remove, TextHash: text,
		Observed: digestObjects(obs.Objects), Findings: obs.Findings}, nil
}

func cloudPlan(ctx context.Context, job CloudJob, st *model.DesiredState, p providers.Provider) (*providers.Planned, error) {
	obs, err := p.Observe(ctx)
	if err != nil {
		return nil, err
	}
	want, err := p.Desired(ctx, st, obs)
	if err != nil {
		// Quotas and the like: retrying cannot fix the policy.
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), "PlanRefused", err)
	}
	return &providers.Planned{Observed: obs, Want: want, Plan: model.Diff(string(st.Target.Kind)+"."+job.Target, want.Objects, obs.Objects)}, nil
}

// ApplyCloud applies the policy to a cloud target if it still holds what the plan
// observed.
func (a *Activities) ApplyCloud(ctx context.Context, job CloudJob, observed string) (changes int, err error) {
	err = heartbeating(ctx, func() error {
		changes, err = a.applyCloud(ctx, job, observed)
		return err
	})
	return changes, err
}

func (a *Activities) applyCloud(ctx context.Context, job CloudJob, observed string) (int, error) {
	st, p, err := a.cloudState(ctx, job)
	if err != nil {
		return 0, err
	}
	pl, err := cloudPlan(ctx, job, st, p)
	if err != nil {
		return 0, err
	}
	if pl.Plan.Empty() {
		return 0, nil // already applied (a retry)
	}
	if digestObjects(pl.Observed.Objects) != observed {
		return 0, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("target %s changed since the plan: plan again", job.Target), ErrStalePlan, nil)
	}
	if err := pl.Apply(ctx, p); err != nil {
		return 0, err
	}
	return len(pl.Plan.Changes), nil
}

// cloudHeartbeat is how often a cloud plan or apply tells Temporal its worker is
// alive: Azure and GCP writes are long-running operations, and a large AWS apply
// makes thousands of calls; a worker that dies is noticed within cloudOptions'
// heartbeat timeout and the activity retried on another.
const cloudHeartbeat = 10 * time.Second

// heartbeating runs work, heartbeating while it runs when ctx is an activity's.
func heartbeating(ctx context.Context, work func() error) error {
	if !activity.IsActivity(ctx) {
		return work()
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		tick := time.NewTicker(cloudHeartbeat)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				activity.RecordHeartbeat(ctx)
			}
		}
	}()
	return work()
}
