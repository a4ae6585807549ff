package gceemu_test

import (
	"net/http"
	"strings"
	"testing"

	"cloud.google.com/go/compute/apiv1/computepb"

	"github.com/microseg/microseg/test/gceemu"
)

// TestRateLimitNeedsRetries: the client does not retry 403 rateLimitExceeded,
// so about 30% of calls fail and the product must retry them itself.
func TestRateLimitNeedsRetries(t *testing.T) {
	e := newEnv(t, gceemu.Options{RateLimit: 0.3, Seed: 7})
	const n = 100
	failed := 0
	for i := 0; i < n; i++ {
		_, err := e.projects.Get(ctx(t), &computepb.GetProjectRequest{Project: project})
		if err == nil {
			continue
		}
		failed++
		g := apiErr(t, err)
		if g.Code != http.StatusForbidden || g.Errors[0].Reason != gceemu.ReasonRateLimitExceeded || !strings.Contains(g.Body, `"domain":"usageLimits"`) {
			t.Fatalf("unexpected error: %v", err)
		}
	}
	if failed < 15 || failed > 45 {
		t.Fatalf("%d of %d calls rate limited, want about 30", failed, n)
	}
	if got := e.emu.Calls()["GET projects"]; got != n {
		t.Fatalf("%d calls for %d gets: the client retried", got, n)
	}
	// Token requests and operation polls are never faulted.
	e.emu.SetFaults(1, 0, 0)
	if _, err := e.globalOps.Get(ctx(t), &computepb.GetGlobalOperationRequest{Project: project, Operation: "operation-none"}); apiErr(t, err).Code != http.StatusNotFound {
		t.Fatalf("poll was faulted: %v", err)
	}
}

func TestTooManyRequests(t *testing.T) {
	e := newEnv(t, gceemu.Options{TooMany: 1})
	_, err := e.firewalls.Insert(ctx(t), &computepb.InsertFirewallRequest{Project: project, FirewallResource: ssh("x")})
	wantErr(t, err, http.StatusTooManyRequests, gceemu.ReasonRateLimitExceeded)
	if len(e.emu.Firewalls()) != 0 {
		t.Fatal("a faulted insert changed state")
	}
}

// TestServerErrors: reads are retried by the client on 503 (and 504), not on
// 500; writes on neither.
func TestServerErrors(t *testing.T) {
	e := newEnv(t, gceemu.Options{ServerError: 1, Seed: 3})
	for i := 0; i < 10; i++ {
		_, err := e.firewalls.Insert(ctx(t), &computepb.InsertFirewallRequest{Project: project, FirewallResource: ssh("x")})
		if code := apiErr(t, err).Code; code != 500 && code != 503 {
			t.Fatalf("insert: %v", err)
		}
	}
	if n := e.emu.Calls()["INSERT firewalls"]; n != 10 {
		t.Fatalf("%d insert calls for 10 inserts: writes were retried", n)
	}
	for i := 0; i < 10; i++ {
		_, err := e.firewalls.Get(ctx(t), &computepb.GetFirewallRequest{Project: project, Firewall: "x"})
		wantErr(t, err, http.StatusInternalServerError, gceemu.ReasonBackendError)
	}
	if n := e.emu.Calls()["GET firewalls"]; n <= 10 {
		t.Fatalf("%d get calls for 10 gets: 503 was not retried", n)
	}
}
