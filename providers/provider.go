// Package providers defines what an enforcement point is to the rest of microseg: a
// handful of methods that read and change the target in the canonical, keyed form of
// the model, so that one model.Diff plans every cloud and host. The packages below it
// implement it, one per cloud (onprem for hosts), and conformance holds the tests
// every one of them must pass.
package providers

import (
	"context"
	"errors"
	"fmt"

	"github.com/microseg/microseg/model"
)

// Observation is what a provider read from its target: the objects it manages and the
// membership of workloads, in canonical form, and what it saw that is kept by design
// but worth reporting (findings never count as changes).
type Observation struct {
	Objects  []model.Object
	Findings []model.Finding // sorted by subject, then message
	// State is the provider's own typed reading of the target (AWS: the group of
	// each segment, the groups on each interface, the running instances), which its
	// Desired and Apply take from here: a provider value keeps nothing between calls.
	State any
}

// Desired is what a target must enforce, in canonical form, and in the provider's
// own typed form of the whole (State) for a provider that writes its target whole:
// a host's ruleset in one transaction, an NSG in one PUT. nil State otherwise.
type Desired struct {
	Objects []model.Object
	State   any
}

// Provider is one target: a cloud account's network, or a host.
type Provider interface {
	// Observe reads what the target enforces now. The number of API calls grows with
	// pages of results, never with the number of rules.
	Observe(ctx context.Context) (Observation, error)
	// Desired is what the target must enforce, given the compiled policy and what was
	// observed (which workloads are members depends on the inventory). It fails,
	// naming the segment and the numbers, when the result would exceed the target's
	// quotas, before anything is changed.
	Desired(ctx context.Context, state *model.DesiredState, observed Observation) (Desired, error)
	// Apply carries out plan, made by model.Diff from want and observed, ordering and
	// batching its own calls make-before-break; the changes carry typed Content. It is
	// idempotent: applying a plan again, or after a retry that half succeeded,
	// converges.
	Apply(ctx context.Context, observed Observation, want Desired, plan *model.Plan) error
}

// Planned is one plan of a target: what was observed, what is wanted, and the diff.
type Planned struct {
	Observed Observation
	Want     Desired
	Plan     *model.Plan
}

// Plan observes the target through p and diffs it with state; name names the
// target in the plan.
func Plan(ctx context.Context, p Provider, state *model.DesiredState, name string) (*Planned, error) {
	obs, err := p.Observe(ctx)
	if err != nil {
		return nil, err
	}
	want, err := p.Desired(ctx, state, obs)
	if err != nil {
		return nil, err
	}
	return &Planned{Observed: obs, Want: want, Plan: model.Diff(name, want.Objects, obs.Objects)}, nil
}

// Apply carries out the plan it holds.
func (pl *Planned) Apply(ctx context.Context, p Provider) error {
	return p.Apply(ctx, pl.Observed, pl.Want, pl.Plan)
}

// Builder makes the provider of one target of its kind, with the SDK clients its
// caller wires (credentials, endpoints, retries); policy names the policy bundle the
// provider marks what it writes with.
type Builder func(ctx context.Context, target *model.Target, policy string) (Provider, error)

// ErrNoProvider is the error of a Registry asked for a kind of target it has no
// provider for.
var ErrNoProvider = errors.New("no provider")

// Registry holds the builder of each kind of target that has a provider: cmd fills
// it with the clouds it wires, and the engine plans a kind only when it is here.
type Registry map[model.TargetKind]Builder

// Supports reports whether the registry has a provider for kind.
func (r Registry) Supports(kind model.TargetKind) bool { return r[kind] != nil }

// New builds the provider of target t, or fails with ErrNoProvider.
func (r Registry) New(ctx context.Context, t *model.Target, policy string) (Provider, error) {
	b := r[t.Kind]
	if b == nil {
		return nil, fmt.Errorf("target %s: %w for %s targets in this version", t.Name, ErrNoProvider, t.Kind)
	}
	return b(ctx, t, policy)
}
