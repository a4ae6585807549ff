package workflows

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.temporal.io/sdk/temporal"

	hclload "github.com/microseg/microseg/hcl"
	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/onprem"
	"github.com/microseg/microseg/providers"
)

// Activities run on the microseg worker.
type Activities struct {
	Store Store
	// Providers builds cloud targets' providers; nil plans hosts targets only.
	Providers ProviderFactory
}

// LoadPolicy loads and compiles the policy in dir and returns the job of every host
// of its hosts targets (of one target when target is set). A policy that does not
// load is a non-retryable failure: retrying cannot fix it.
func (a *Activities) LoadPolicy(ctx context.Context, req PlanRequest) (PolicyRef, error) {
	sources := map[string][]byte{}
	switch {
	case req.Bundle != "":
		if err := getJSON(ctx, a.Store, KindBundle, req.Bundle, &sources); err != nil {
			return PolicyRef{}, temporal.NewNonRetryableApplicationError(err.Error(), "UnknownBundle", err)
		}
	default:
		names, err := filepath.Glob(filepath.Join(req.Dir, "*.hcl"))
		if err != nil || len(names) == 0 {
			return PolicyRef{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("no policy files in %s", req.Dir), "InvalidPolicy", err)
		}
		for _, name := range names {
			src, err := os.ReadFile(name)
			if err != nil {
				return PolicyRef{}, fmt.Errorf("read policy: %w", err)
			}
			sources[filepath.Base(name)] = src
		}
	}
	// The bundle is the policy by content: a plan names it, and any worker can load
	// exactly that policy again by its hash.
	bundle, err := putJSON(ctx, a.Store, KindBundle, sources)
	if err != nil {
		return PolicyRef{}, err
	}
	loaded, diags := hclload.LoadSources(sources)
	if diags.HasErrors() {
		var b strings.Builder
		hclload.WriteDiagnostics(&b, loaded.Files, diags)
		return PolicyRef{}, temporal.NewNonRetryableApplicationError("the policy does not load:\n"+b.String(), "InvalidPolicy", nil)
	}
	states, err := model.Compile(loaded.Policy)
	if err != nil {
		return PolicyRef{}, temporal.NewNonRetryableApplicationError(err.Error(), "InvalidPolicy", err)
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
		if st.Target.Kind != model.KindHosts {
			if a.Providers == nil || !providers.Supported(st.Target.Kind) {
				ref.Unplanned = append(ref.Unplanned, string(st.Target.Kind)+"."+name)
				continue
			}
			// A cloud target is planned by the worker, from the bundle.
			ref.Jobs = append(ref.Jobs, HostJob{Target: name, PolicyHash: bundle})
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
			ref.Jobs = append(ref.Jobs, HostJob{Target: name, Host: host, PolicyHash: hash})
		}
	}
	slices.Sort(ref.Unplanned)
	return ref, nil
}
