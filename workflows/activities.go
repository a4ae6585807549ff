package workflows

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"go.temporal.io/sdk/temporal"

	hclload "github.com/microseg/microseg/hcl"
	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/onprem"
)

// Activities run on the microseg worker.
type Activities struct {
	Store Store
}

// LoadPolicy loads and compiles the policy in dir and returns the job of every host
// of its hosts targets (of one target when target is set). A policy that does not
// load is a non-retryable failure: retrying cannot fix it.
func (a *Activities) LoadPolicy(ctx context.Context, req PlanRequest) (PolicyRef, error) {
	loaded, diags := hclload.LoadDir(req.Dir)
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
	ref := PolicyRef{Hash: hashFiles(loaded.Files)}
	for _, name := range model.SortedKeys(states) {
		st := states[name]
		if (req.Target != "" && name != req.Target) || st.Target.Kind != model.KindHosts {
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
	return ref, nil
}

// hashFiles is the content hash of a policy: its files' names and bytes, in order.
func hashFiles(files map[string]*hcl.File) string {
	h := sha256.New()
	for _, name := range model.SortedKeys(files) {
		src := files[name].Bytes
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.Base(name), len(src))
		h.Write(src)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
