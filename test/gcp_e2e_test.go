package test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	compute "cloud.google.com/go/compute/apiv1"
	"cloud.google.com/go/compute/apiv1/computepb"

	"github.com/microseg/microseg/test/gceemu"
)

// TestEngineGCPEndToEnd runs plan, apply, drift, remediation by a reconcile loop
// and break-glass of a gcp target through the embedded server and the worker,
// against the Compute Engine emulator, configured as a user configures one: the
// target's endpoint and a service-account key in GOOGLE_APPLICATION_CREDENTIALS.
func TestEngineGCPEndToEnd(t *testing.T) {
	temporal := temporalBin(t)
	srv, err := gceemu.NewServer(gceemu.Options{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	emu := srv.Emulator
	if err := emu.AddNetwork("prod-vpc"); err != nil {
		t.Fatal(err)
	}
	for name, tier := range map[string]string{"web-1": "web", "app-1": "app"} {
		if err := emu.AddInstance("europe-west1-b", name, gceemu.InstanceSpec{Network: "prod-vpc", Labels: map[string]string{"tier": tier},
			IP: map[string]string{"web": "10.0.1.10", "app": "10.0.2.10"}[tier], Tags: []string{"ssh"}}); err != nil {
			t.Fatal(err)
		}
	}
	key := filepath.Join(t.TempDir(), "key.json")
	if err := srv.WriteServiceAccountKey(key); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	policy := fmt.Sprintf(`target "gcp" "prod" {
  project  = %q
  network  = "prod-vpc"
  endpoint = %q
}
network "internet" { cidrs = ["0.0.0.0/0"] }
service "https" { ports = ["tcp/443"] }
service "app" { ports = ["tcp/8080"] }
segment "web" {
  target = target.gcp.prod
  members { labels = { tier = "web" } }
}
segment "app" {
  target = target.gcp.prod
  members { labels = { tier = "app" } }
  cidrs   = ["10.0.2.0/24"]
}
allow "internet-to-web" {
  from     = [network.internet]
  to       = [segment.web]
  services = [service.https]
}
allow "web-to-app" {
  from     = [segment.web]
  to       = [segment.app]
  services = [service.app]
  owner    = "team-payments"
  ticket   = "SEC-142"
}
`, emu.Project(), srv.URL)
	if err := os.WriteFile(filepath.Join(dir, "policy.hcl"), []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprint(50000 + os.Getpid()%10000)
	e := cloudEngine(t, temporal, port, "GOOGLE_APPLICATION_CREDENTIALS="+key)

	out, code := e.run("plan", "-detailed-exitcode", dir)
	t.Logf("plan:\n%s", out)
	if code != 2 || !strings.Contains(out, "# prod") || !strings.Contains(out, "+ rule web ingress from 0.0.0.0/0 tcp/443") ||
		!strings.Contains(out, "+ rule web egress to 10.0.2.0/24 tcp/8080") || !strings.Contains(out, "+ rule web ingress deny all") ||
		!strings.Contains(out, "+ member web europe-west1-b/web-1") {
		t.Fatalf("plan = %d:\n%s", code, out)
	}
	emu.ResetCalls()
	out, code = e.run("apply", "-auto-approve", dir)
	if code != 0 || !strings.Contains(out, "prod: ") || !strings.Contains(out, "verified=true") {
		t.Fatalf("apply = %d:\n%s", code, out)
	}
	t.Logf("apply (plan, apply, verify) of a 2-segment network: %d Compute Engine calls %v", sumCalls(emu.Calls()), emu.Calls())
	if tags := emu.InstanceTags("europe-west1-b", "web-1"); !slices.Equal(tags, []string{"microseg-web", "ssh"}) {
		t.Errorf("web-1's tags after apply: %v", tags)
	}
	if out, code := e.run("drift", "-detailed-exitcode", dir); code != 0 {
		t.Fatalf("drift after apply = %d:\n%s", code, out)
	}

	// Drift behind microseg's back, through the API: web-1's segment tag taken off.
	ctx := context.Background()
	instances, err := compute.NewInstancesRESTClient(ctx, srv.ClientOptions(key)...)
	if err != nil {
		t.Fatal(err)
	}
	vm, err := instances.Get(ctx, &computepb.GetInstanceRequest{Project: emu.Project(), Zone: "europe-west1-b", Instance: "web-1"})
	if err != nil {
		t.Fatal(err)
	}
	op, err := instances.SetTags(ctx, &computepb.SetTagsInstanceRequest{Project: emu.Project(), Zone: "europe-west1-b", Instance: "web-1",
		TagsResource: &computepb.Tags{Items: []string{"ssh"}, Fingerprint: vm.GetTags().Fingerprint}})
	if err == nil && !op.Done() {
		err = op.Wait(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	out, code = e.run("drift", "-detailed-exitcode", dir)
	if code != 2 || !strings.Contains(out, "+ member web europe-west1-b/web-1") {
		t.Fatalf("drift = %d:\n%s", code, out)
	}
	tagged := func() bool { return slices.Contains(emu.InstanceTags("europe-west1-b", "web-1"), "microseg-web") }
	_, workerOut, _ := e.background("worker")
	if out, code := e.run("reconcile", "start", "-target", "prod", "-every", "1s", "-remediate", dir); code != 0 {
		t.Fatalf("reconcile start = %d:\n%s\nworker:\n%s", code, out, workerOut.String())
	}
	waitFor(t, "the reconcile loop tags web-1 again", time.Minute, tagged, workerOut.String)
	if out, code := e.run("reconcile", "stop", "-target", "prod", dir); code != 0 {
		t.Fatalf("reconcile stop = %d:\n%s", code, out)
	}

	// Break-glass: the deny rules go while it is on, and come back after.
	denies := func() int {
		n := 0
		for _, f := range emu.Firewalls() {
			if len(f.Denied) > 0 {
				n++
			}
		}
		return n
	}
	// Eight: in and out, IPv4 and IPv6, for web and app.
	breakGlassRoundTrip(t, e, "prod", dir, denies, 8, workerOut.String)
}
