package workflows

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/microseg/microseg/onprem"
)

func TestLoadPolicy(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	store := DirStore{Dir: t.TempDir()}
	acts := &Activities{Store: store}
	env.RegisterActivity(acts)

	val, err := env.ExecuteActivity(acts.LoadPolicy, PlanRequest{Dir: "../examples/three-tier"})
	if err != nil {
		t.Fatal(err)
	}
	var ref PolicyRef
	if err := val.Get(&ref); err != nil {
		t.Fatal(err)
	}
	var hosts []string
	for _, j := range ref.Jobs {
		hosts = append(hosts, j.Target+"/"+j.Host)
	}
	if got := strings.Join(hosts, " "); got != "dc1/db-01 dc1/db-02 dc1/mon-01" {
		t.Errorf("jobs = %s", got)
	}
	if got := strings.Join(ref.Unplanned, " "); got != "aws.prod-use1 azure.prod-weu gcp.prod" {
		t.Errorf("unplanned = %s", got)
	}
	// The host's compiled policy and the policy's bundle are in the store.
	var hp onprem.HostPolicy
	if err := getJSON(context.Background(), store, KindHostPolicy, ref.Jobs[0].PolicyHash, &hp); err != nil || hp.Host != "db-01" || len(hp.Ingress) == 0 {
		t.Errorf("stored host policy = %+v, %v", hp, err)
	}
	again, err := env.ExecuteActivity(acts.LoadPolicy, PlanRequest{Bundle: ref.Hash, Target: "dc1"})
	if err != nil {
		t.Fatalf("load by bundle: %v", err)
	}
	var byBundle PolicyRef
	again.Get(&byBundle)
	if byBundle.Hash != ref.Hash || len(byBundle.Jobs) != 3 || byBundle.Jobs[0].PolicyHash != ref.Jobs[0].PolicyHash {
		t.Errorf("by bundle = %+v", byBundle)
	}

	// A policy that does not load fails for good, with its diagnostics.
	_, err = env.ExecuteActivity(acts.LoadPolicy, PlanRequest{Dir: "../cmd/microseg/testdata/broken"})
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || !app.NonRetryable() || !strings.Contains(err.Error(), "Unknown segment") {
		t.Errorf("broken policy: %v", err)
	}
	_, err = env.ExecuteActivity(acts.LoadPolicy, PlanRequest{Dir: "../examples/three-tier", Target: "dc2"})
	if err == nil || !strings.Contains(err.Error(), `no target "dc2"`) {
		t.Errorf("unknown target: %v", err)
	}
}
