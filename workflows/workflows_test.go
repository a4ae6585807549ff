package workflows

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/microseg/microseg/onprem"
)

func jobs() []HostJob {
	return []HostJob{
		{Target: "dc1", Host: "db-01", PolicyHash: "h1"},
		{Target: "dc1", Host: "db-02", PolicyHash: "h2"},
	}
}

func newEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterActivity(&Activities{})
	env.RegisterActivity(&HostActivities{})
	env.RegisterWorkflow(ApplyWorkflow)
	return env
}

func TestPlanWorkflowAsksEveryHost(t *testing.T) {
	env := newEnv(t)
	var a *Activities
	var h *HostActivities
	env.OnActivity(a.LoadPolicy, mock.Anything, PlanRequest{Dir: "p"}).Return(PolicyRef{Hash: "abc", Jobs: jobs()}, nil)
	env.OnActivity(h.PlanHost, mock.Anything, mock.Anything).Return(func(_ context.Context, job HostJob) (HostPlan, error) {
		return HostPlan{Target: job.Target, Host: job.Host, Add: 2, Observed: "o-" + job.Host}, nil
	})
	env.ExecuteWorkflow(PlanWorkflow, PlanRequest{Dir: "p"})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var plan Plan
	env.GetWorkflowResult(&plan)
	if plan.PolicyHash != "abc" || len(plan.Hosts) != 2 || plan.Hosts[0].Host != "db-01" || plan.Hosts[1].Observed != "o-db-02" {
		t.Errorf("plan = %+v", plan)
	}
	if add, _, _ := plan.Counts(); add != 4 {
		t.Errorf("adds = %d, want 4", add)
	}
}

func TestPlanWorkflowNamesTheFailingHost(t *testing.T) {
	env := newEnv(t)
	var a *Activities
	var h *HostActivities
	env.OnActivity(a.LoadPolicy, mock.Anything, mock.Anything).Return(PolicyRef{Jobs: jobs()}, nil)
	env.OnActivity(h.PlanHost, mock.Anything, mock.Anything).Return(func(_ context.Context, job HostJob) (HostPlan, error) {
		if job.Host == "db-02" {
			return HostPlan{}, temporal.NewNonRetryableApplicationError("netlink: permission denied", "Denied", nil)
		}
		return HostPlan{Target: job.Target, Host: job.Host}, nil
	})
	env.ExecuteWorkflow(PlanWorkflow, PlanRequest{Dir: "p"})
	err := env.GetWorkflowError()
	if err == nil || !contains(err.Error(), "plan host dc1/db-02") {
		t.Fatalf("error = %v, want it to name dc1/db-02", err)
	}
}

func plan(remove int) Plan {
	return Plan{Hosts: []HostPlan{
		{Target: "dc1", Host: "db-01", Add: 1, Remove: remove, Observed: "o1"},
		{Target: "dc1", Host: "db-02"}, // nothing to do: not touched
	}}
}

func TestApplyWorkflowWaitsForApprovalWhenRemoving(t *testing.T) {
	env := newEnv(t)
	var h *HostActivities
	applied := 0
	env.OnActivity(h.ApplyHost, mock.Anything, mock.Anything, "o1", time.Duration(0)).Return(func(_ context.Context, job HostJob, _ string, _ time.Duration) (onprem.ApplyStats, error) {
		applied++
		return onprem.ApplyStats{ElementsAdded: 1, ElementsRemoved: 1}, nil
	})
	env.OnActivity(h.ConfirmHost, mock.Anything).Return(nil)
	env.OnActivity(h.PlanHost, mock.Anything, mock.Anything).Return(HostPlan{}, nil)
	env.RegisterDelayedCallback(func() {
		var status string
		v, err := env.QueryWorkflow(StatusQuery)
		if err != nil {
			t.Error(err)
		} else {
			v.Get(&status)
		}
		if status != "waiting for approval" || applied != 0 {
			t.Errorf("before approval: status %q, %d hosts applied", status, applied)
		}
		env.SignalWorkflow(ApproveSignal, nil)
	}, time.Hour)
	env.ExecuteWorkflow(ApplyWorkflow, ApplyRequest{Plan: plan(1), Jobs: jobs()})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res ApplyResult
	env.GetWorkflowResult(&res)
	if res.Approved != "signal" || len(res.Hosts) != 1 || !res.Hosts[0].Verified || res.Hosts[0].Host != "db-01" || applied != 1 {
		t.Errorf("result = %+v, applied %d", res, applied)
	}
}

func TestApplyWorkflowAutoApproveAndAddOnlyNeedNoSignal(t *testing.T) {
	for _, tt := range []struct {
		name   string
		req    ApplyRequest
		wanted string
	}{
		{"auto-approve", ApplyRequest{Plan: plan(1), Jobs: jobs(), AutoApprove: true}, "auto"},
		{"only adds", ApplyRequest{Plan: plan(0), Jobs: jobs()}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t)
			var h *HostActivities
			env.OnActivity(h.ApplyHost, mock.Anything, mock.Anything, mock.Anything, mock.Anything).Return(onprem.ApplyStats{}, nil)
			env.OnActivity(h.ConfirmHost, mock.Anything).Return(nil)
			env.OnActivity(h.PlanHost, mock.Anything, mock.Anything).Return(HostPlan{}, nil)
			env.ExecuteWorkflow(ApplyWorkflow, tt.req)
			if err := env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			var res ApplyResult
			env.GetWorkflowResult(&res)
			if res.Approved != tt.wanted || len(res.Hosts) != 1 {
				t.Errorf("result = %+v", res)
			}
		})
	}
}

func TestApplyWorkflowRefusesStalePlan(t *testing.T) {
	env := newEnv(t)
	var h *HostActivities
	env.OnActivity(h.ApplyHost, mock.Anything, mock.Anything, mock.Anything, mock.Anything).Return(onprem.ApplyStats{},
		temporal.NewNonRetryableApplicationError("host dc1/db-01 changed since the plan: plan again", ErrStalePlan, nil))
	env.ExecuteWorkflow(ApplyWorkflow, ApplyRequest{Plan: plan(0), Jobs: jobs()})
	err := env.GetWorkflowError()
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || !contains(err.Error(), "changed since the plan") {
		t.Fatalf("error = %v, want a stale plan", err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func TestPlanWorkflowSaysWhenNoAgentRuns(t *testing.T) {
	env := newEnv(t)
	var a *Activities
	var h *HostActivities
	env.OnActivity(a.LoadPolicy, mock.Anything, mock.Anything).Return(PolicyRef{Jobs: jobs()}, nil)
	env.OnActivity(h.PlanHost, mock.Anything, mock.Anything).Return(HostPlan{}, temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START, nil))
	env.ExecuteWorkflow(PlanWorkflow, PlanRequest{Dir: "p"})
	err := env.GetWorkflowError()
	if err == nil || !strings.Contains(err.Error(), "no agent answered on task queue host/dc1/db-01; start one on the host: microseg agent -target dc1 -host db-01") {
		t.Fatalf("error = %v", err)
	}
}
