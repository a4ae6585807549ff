package workflows

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.temporal.io/sdk/temporal"

	hclload "github.com/microseg/microseg/hcl"
	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/providers"
)

// cloudState loads the bundle and returns the target's compiled state and provider.
func (a *Activities) cloudState(ctx context.Context, job HostJob) (*model.DesiredState, providers.Provider, error) {
	sources := map[string][]byte{}
	if err := getJSON(ctx, a.Store, KindBundle, job.PolicyHash, &sources); err != nil {
		return nil, nil, err
	}
	loaded, diags := hclload.LoadSources(sources)
	if diags.HasErrors() {
		return nil, nil, temporal.NewNonRetryableApplicationError("the policy bundle does not load: "+diags.Error(), "InvalidPolicy", nil)
	}
	states, err := model.Compile(loaded.Policy)
	if err != nil {
		return nil, nil, temporal.NewNonRetryableApplicationError(err.Error(), "InvalidPolicy", err)
	}
	st, ok := states[job.Target]
	if !ok {
		return nil, nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("no target %q in the policy bundle", job.Target), "UnknownTarget", nil)
	}
	if job.Audit { // break-glass: every segment in audit mode, as on hosts
		st = st.WithMode(model.ModeAudit)
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

// PlanCloud observes a cloud target through its provider and diffs it with the policy.
func (a *Activities) PlanCloud(ctx context.Context, job HostJob) (HostPlan, error) {
	st, p, err := a.cloudState(ctx, job)
	if err != nil {
		return HostPlan{}, err
	}
	plan, obs, err := cloudPlan(ctx, job, st, p)
	if err != nil {
		return HostPlan{}, err
	}
	var b strings.Builder
	plan.Render(&b)
	text, err := a.Store.Put(ctx, KindPlanText, []byte(b.String()))
	if err != nil {
		return HostPlan{}, err
	}
	add, change, remove := plan.Counts()
	return HostPlan{Target: job.Target, Add: add, Change: change, Remove: remove, TextHash: text,
		Observed: digestObjects(obs.Objects), Findings: obs.Findings}, nil
}

func cloudPlan(ctx context.Context, job HostJob, st *model.DesiredState, p providers.Provider) (*model.Plan, providers.Observation, error) {
	obs, err := p.Observe(ctx)
	if err != nil {
		return nil, obs, err
	}
	desired, err := p.Desired(ctx, st, obs)
	if err != nil {
		// Quotas and the like: retrying cannot fix the policy.
		return nil, obs, temporal.NewNonRetryableApplicationError(err.Error(), "PlanRefused", err)
	}
	return model.Diff(string(st.Target.Kind)+"."+job.Target, desired, obs.Objects), obs, nil
}

// ApplyCloud applies the policy to a cloud target if it still holds what the plan
// observed.
func (a *Activities) ApplyCloud(ctx context.Context, job HostJob, observed string) (int, error) {
	st, p, err := a.cloudState(ctx, job)
	if err != nil {
		return 0, err
	}
	plan, obs, err := cloudPlan(ctx, job, st, p)
	if err != nil {
		return 0, err
	}
	if plan.Empty() {
		return 0, nil // already applied (a retry)
	}
	if digestObjects(obs.Objects) != observed {
		return 0, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("target %s changed since the plan: plan again", job.Target), ErrStalePlan, nil)
	}
	if err := p.Apply(ctx, plan); err != nil {
		return 0, err
	}
	return len(plan.Changes), nil
}
