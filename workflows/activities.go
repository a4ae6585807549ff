package workflows

import (
	"context"
	"fmt"
	"slices"

	"go.temporal.io/sdk/temporal"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/onprem"
	"github.com/microseg/microseg/providers"
)

// Activities run on the microseg worker.
type Activities struct {
	Store Store
	// Providers builds cloud targets' providers, wired by cmd with the clouds' SDK
	// clients, so that workflows depend on the providers interface only; the kinds
	// it lacks (all, when nil) are listed as not planned.
	Providers providers.Registry
	// Results is the results history; nil keeps none (audits still report).
	Results Results
	// FlowSources opens cloud targets' flow logs for audits; nil audits hosts only.
	FlowSources FlowSourceFactory
}

// storedState is st as a cloud job stores it: with only the allows its rules name,
// not the whole policy's.
func storedState(st *model.DesiredState) *model.DesiredState {
	c := *st
	c.Allows = map[string]*model.Allow{}
	for _, r := range st.Rules {
		for _, name := range r.Allows {
			if a := st.Allows[name]; a != nil {
				c.Allows[name] = a
			}
		}
	}
	return &c
}

// LoadPolicy loads and compiles the policy in dir and returns the job of every host
// of its hosts targets (of one target when target is set). A policy that does not
// load is a non-retryable failure: retrying cannot fix it.
func (a *Activities) LoadPolicy(ctx context.Context, req PlanRequest) (PolicyRef, error) {
	sources, bundle, err := a.readPolicy(ctx, req)
	if err != nil {
		return PolicyRef{}, err
	}
	states, err := compiledBundles.entry(bundle).compiled(func() (map[string][]byte, error) { return sources, nil })
	if err != nil {
		return PolicyRef{}, err
	}
	if req.Target != "" {
		if _, ok := states[req.Target]; !ok {
			return PolicyRef{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("no target %q in the policy", req.Target), "UnknownTarget", nil)
		}
	}
	ref := PolicyRef{Hash: bundle}
	for _, name := range model.SortedKeys(states) {
		st := states[name]
		if req.Target != "" && name != req.Target {
			continue
		}
		// Every target's compiled state is stored once, here, and read by hash by
		// the worker (clouds) and the agents (hosts) after.
		stateHash := ""
		if st.Target.Kind == model.KindHosts || a.Providers.Supports(st.Target.Kind) {
			if stateHash, err = putJSON(ctx, a.Store, KindTargetState, storedState(st)); err != nil {
				return PolicyRef{}, err
			}
		}
		if st.Target.Kind != model.KindHosts {
			if !a.Providers.Supports(st.Target.Kind) {
				ref.Unplanned = append(ref.Unplanned, string(st.Target.Kind)+"."+name)
				continue
			}
			// A cloud target is planned by the worker.
			ref.Clouds = append(ref.Clouds, CloudJob{Target: name, Kind: st.Target.Kind, PolicyHash: bundle, StateHash: stateHash})
			continue
		}
		for _, host := range model.SortedKeys(st.Target.Hosts.Hosts) {
			hp, err := onprem.ForHost(st, host)
			if err != nil {
				return PolicyRef{}, temporal.NewNonRetryableApplicationError(err.Error(), "InvalidPolicy", err)
			}
			hash, err := putJSON(ctx, a.Store, KindHostPolicy, hp)
			if err != nil {
				return PolicyRef{}, err
			}
			ref.Jobs = append(ref.Jobs, HostJob{Target: name, Host: host, PolicyHash: hash, StateHash: stateHash})
		}
	}
	slices.Sort(ref.Unplanned)
	return ref, nil
}
