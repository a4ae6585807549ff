package workflows

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/onprem"
)

// HostActivities run on the agent of one host, where the ruleset lives.
type HostActivities struct {
	Target, Host string
	Enforcer     *onprem.Enforcer
	Store        Store
	// FlowDir is the host's flow spool (onprem.FlowSpool), which audits read.
	FlowDir string
	// LogGroup, when set, is told the NFLOG group of each policy the host is asked
	// about, so that the agent's flow spool listens where the rules log.
	LogGroup func(group uint16)

	mu      sync.Mutex
	pending *onprem.Pending // the last commit-confirmed change, until confirmed
}

// ErrStalePlan is the failure type of an apply whose host changed since the plan.
const ErrStalePlan = "StalePlan"

// desired checks that the job is this host's and returns the ruleset it asks for.
func (h *HostActivities) desired(ctx context.Context, job HostJob) (*onprem.Ruleset, error) {
	if job.Target != h.Target || job.Host != h.Host {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("job for %s/%s reached the agent of %s/%s", job.Target, job.Host, h.Target, h.Host), "WrongHost", nil)
	}
	hp, err := h.hostPolicy(ctx, job)
	if err != nil {
		return nil, err
	}
	if h.LogGroup != nil && hp.LogGroup != 0 {
		h.LogGroup(hp.LogGroup)
	}
	return onprem.Build(hp), nil
}

// hostPolicy is the host's share of its target's state, which the agent derives
// itself from the target's state (break-glass applied there, as for clouds); a job
// from before target states were stored carries the host's policy instead.
func (h *HostActivities) hostPolicy(ctx context.Context, job HostJob) (*onprem.HostPolicy, error) {
	if job.StateHash != "" {
		st, err := targetState(ctx, h.Store, job.Target, job.StateHash, job.Audit)
		if err != nil {
			return nil, err
		}
		hp, err := onprem.ForHost(st, h.Host)
		if err != nil {
			return nil, temporal.NewNonRetryableApplicationError(err.Error(), "InvalidPolicy", err)
		}
		return hp, nil
	}
	var hp onprem.HostPolicy
	if err := getJSON(ctx, h.Store, KindHostPolicy, job.PolicyHash, &hp); err != nil {
		return nil, err
	}
	if job.Audit && len(hp.Segments) > 0 {
		hp.Mode = model.ModeAudit
	}
	return &hp, nil
}

// PlanHost observes the host and diffs it with the job's policy.
func (h *HostActivities) PlanHost(ctx context.Context, job HostJob) (HostPlan, error) {
	desired, err := h.desired(ctx, job)
	if err != nil {
		return HostPlan{}, err
	}
	observed, err := h.Enforcer.Observe()
	if err != nil {
		return HostPlan{}, err
	}
	objs := observed.Objects()
	plan := model.Diff(job.Host, desired.Objects(), objs)
	var b strings.Builder
	plan.Render(&b)
	add, change, remove := plan.Counts()
	text, err := h.Store.Put(ctx, KindPlanText, []byte(b.String()))
	if err != nil {
		return HostPlan{}, err
	}
	return HostPlan{Target: job.Target, Host: job.Host, Add: add, Change: change, Remove: remove, TextHash: text, Observed: digestObjects(objs)}, nil
}

// digestObjects fingerprints an observed state, so that Apply can tell whether the
// host changed since its plan.
func digestObjects(objs []model.Object) string {
	h := sha256.New()
	for _, o := range objs {
		fmt.Fprintf(h, "%d\x00%s\x00", o.Kind, o.Key)
		for _, f := range o.Fields {
			fmt.Fprintf(h, "%s=%s\x00", f.Name, f.Value)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// ApplyHost applies the job's policy if the host still holds what the plan saw
// (observed), keeping the previous ruleset until ConfirmHost: if the workflow cannot
// reach the agent again within confirmTimeout, the host rolls the change back.
func (h *HostActivities) ApplyHost(ctx context.Context, job HostJob, observed string, confirmTimeout time.Duration) (onprem.ApplyStats, error) {
	desired, err := h.desired(ctx, job)
	if err != nil {
		return onprem.ApplyStats{}, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	current, err := h.Enforcer.Observe()
	if err != nil {
		return onprem.ApplyStats{}, err
	}
	if digestObjects(current.Objects()) != observed {
		// Already applied (a retry after the agent answered late) is success.
		if model.Diff(job.Host, desired.Objects(), current.Objects()).Empty() {
			return onprem.ApplyStats{}, nil
		}
		return onprem.ApplyStats{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("host %s/%s changed since the plan: plan again", job.Target, job.Host), ErrStalePlan, nil)
	}
	pending, stats, err := h.Enforcer.ApplyConfirmed(desired, confirmTimeout)
	if err != nil {
		return onprem.ApplyStats{}, err
	}
	h.pending = pending
	return stats, nil
}

// ConfirmHost keeps the last change. It reaching the agent proves that the host
// still talks to the server after the change.
func (h *HostActivities) ConfirmHost(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.pending == nil {
		return nil // nothing to confirm: a retry, or the change needed none
	}
	err := h.pending.Confirm()
	h.pending = nil
	if errors.Is(err, onprem.ErrRolledBack) {
		return temporal.NewNonRetryableApplicationError("the change was rolled back before it could be confirmed", "RolledBack", err)
	}
	return err
}
