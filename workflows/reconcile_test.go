package workflows

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/workflow"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/onprem"
)

// fakeHosts answers PlanHost and ApplyHost like agents whose hosts drift until
// applied. It records the modes it was asked to apply.
type fakeHosts struct {
	mu      sync.Mutex
	drifted map[string]bool
	modes   []model.Mode
	plans   int
}

func (f *fakeHosts) plan(_ context.Context, job HostJob) (HostPlan, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.plans++
	hp := HostPlan{Target: job.Target, Host: job.Host, Observed: "o"}
	if f.drifted[job.Host] {
		hp.Add = 1
	}
	return hp, nil
}

func (f *fakeHosts) apply(_ context.Context, job HostJob, _ string, _ time.Duration) (onprem.ApplyStats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.drifted[job.Host] = false
	mode := model.ModeEnforce
	if job.Audit {
		mode = model.ModeAudit
	}
	f.modes = append(f.modes, mode)
	return onprem.ApplyStats{ElementsAdded: 1}, nil
}

func reconcileEnv(t *testing.T, f *fakeHosts) (*testsuiteEnv, func() ReconcileState) {
	env := newEnv(t)
	var a *Activities
	var h *HostActivities
	env.OnActivity(a.LoadPolicy, mock.Anything, mock.Anything).Return(PolicyRef{Hash: "p", Jobs: []HostJob{
		{Target: "dc1", Host: "db-01", PolicyHash: "h1"},
	}}, nil)
	env.OnActivity(h.PlanHost, mock.Anything, mock.Anything).Return(f.plan)
	env.OnActivity(h.ApplyHost, mock.Anything, mock.Anything, mock.Anything, mock.Anything).Return(f.apply)
	env.OnActivity(h.ConfirmHost, mock.Anything).Return(nil)
	// Break-glass cancels the target's running apply, if any.
	env.OnRequestCancelExternalWorkflow(mock.Anything, "apply/dc1", "").Return(nil)
	status := func() ReconcileState {
		var s ReconcileState
		v, err := env.QueryWorkflow(StatusQuery)
		if err != nil {
			t.Fatal(err)
		}
		v.Get(&s)
		return s
	}
	return env, status
}

func TestReconcileRecordsAndRemediatesDrift(t *testing.T) {
	f := &fakeHosts{drifted: map[string]bool{"db-01": true}}
	env, status := reconcileEnv(t, f)
	env.RegisterDelayedCallback(func() {
		s := status()
		if s.Checks != 1 || len(s.Events) != 1 || s.Events[0].Remediated.IsZero() || s.Events[0].Hosts[0].Host != "db-01" {
			t.Errorf("after the first check: %+v", s)
		}
		f.mu.Lock()
		f.drifted["db-01"] = true // drifts again by hand
		f.mu.Unlock()
	}, 30*time.Second)
	env.RegisterDelayedCallback(func() {
		s := status()
		if s.Checks != 2 || len(s.Events) != 2 {
			t.Errorf("after the second check: %+v", s)
		}
		env.CancelWorkflow()
	}, 90*time.Second)
	env.ExecuteWorkflow(ReconcileWorkflow, ReconcileRequest{Dir: "p", Target: "dc1", Interval: time.Minute, Remediate: true})
	if len(f.modes) != 2 || f.modes[0] != model.ModeEnforce {
		t.Errorf("applied modes = %v, want two enforce applies", f.modes)
	}
}

func TestReconcileWithoutRemediateOnlyRecords(t *testing.T) {
	f := &fakeHosts{drifted: map[string]bool{"db-01": true}}
	env, status := reconcileEnv(t, f)
	env.RegisterDelayedCallback(func() {
		s := status()
		if len(s.Events) != 3 || !s.Events[0].Remediated.IsZero() {
			t.Errorf("state = %+v", s)
		}
		env.CancelWorkflow()
	}, 150*time.Second)
	env.ExecuteWorkflow(ReconcileWorkflow, ReconcileRequest{Dir: "p", Target: "dc1", Interval: time.Minute})
	if len(f.modes) != 0 {
		t.Errorf("applied without Remediate: %v", f.modes)
	}
}

func TestReconcilePauseResumeAndBreakglass(t *testing.T) {
	f := &fakeHosts{drifted: map[string]bool{}}
	env, status := reconcileEnv(t, f)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(PauseSignal, nil) }, 10*time.Second)
	env.RegisterDelayedCallback(func() {
		if s := status(); !s.Paused || s.Checks != 1 {
			t.Errorf("paused: %+v", s)
		}
		// Break-glass applies at once even while paused, in audit mode.
		f.mu.Lock()
		f.drifted["db-01"] = true
		f.mu.Unlock()
		env.SignalWorkflow(BreakglassSignal, Breakglass{On: true, Who: "alice", Reason: "outage INC-7"})
	}, 5*time.Minute)
	env.RegisterDelayedCallback(func() {
		s := status()
		if !s.Breakglass.On || s.Breakglass.Who != "alice" || s.Breakglass.When.IsZero() || len(s.BreakglassLog) != 1 {
			t.Errorf("break-glass state = %+v", s)
		}
		env.SignalWorkflow(ResumeSignal, nil)
	}, 6*time.Minute)
	env.RegisterDelayedCallback(func() {
		if s := status(); s.Paused || s.Checks < 3 {
			t.Errorf("resumed: %+v", s)
		}
		env.CancelWorkflow()
	}, 10*time.Minute)
	env.ExecuteWorkflow(ReconcileWorkflow, ReconcileRequest{Dir: "p", Target: "dc1", Interval: time.Minute, Remediate: true})
	if len(f.modes) == 0 || f.modes[0] != model.ModeAudit {
		t.Errorf("break-glass applied modes %v, want audit first", f.modes)
	}
}

func TestReconcileContinuesAsNewWithItsState(t *testing.T) {
	f := &fakeHosts{drifted: map[string]bool{"db-01": true}}
	env, _ := reconcileEnv(t, f)
	env.SetContinueAsNewSuggested(true)
	env.ExecuteWorkflow(ReconcileWorkflow, ReconcileRequest{Dir: "p", Target: "dc1", Interval: time.Minute, Remediate: true,
		State: ReconcileState{Checks: 41}})
	err := env.GetWorkflowError()
	var can *workflow.ContinueAsNewError
	if !errors.As(err, &can) {
		t.Fatalf("error = %v, want continue-as-new", err)
	}
	var next ReconcileRequest
	if err := decodeArg(can, &next); err != nil {
		t.Fatal(err)
	}
	if next.State.Checks != 42 || len(next.State.Events) != 1 || next.Interval != time.Minute {
		t.Errorf("carried state = %+v", next)
	}
}
