package test

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/microseg/microseg/test/gceemu"
)

// TestDiscoverGCPLabels runs `microseg discover -labels-from` with a gcp target's
// inventory, read from the Compute Engine emulator: the instances' labels split
// the /24 that shop and billing share into two proposed segments.
func TestDiscoverGCPLabels(t *testing.T) {
	srv, err := gceemu.NewServer(gceemu.Options{Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	emu := srv.Emulator
	if err := emu.AddNetwork("prod-vpc"); err != nil {
		t.Fatal(err)
	}
	for _, in := range []struct{ zone, name, app, ip string }{
		{"europe-west1-b", "shop-1", "shop", "10.0.1.10"}, {"europe-west1-c", "shop-2", "shop", "10.0.1.11"},
		{"europe-west1-b", "billing-1", "billing", "10.0.1.20"}, {"europe-west1-b", "billing-2", "billing", "10.0.1.21"},
		{"europe-west1-b", "ledger-1", "ledger", "10.0.2.10"},
	} {
		if err := emu.AddInstance(in.zone, in.name, gceemu.InstanceSpec{Network: "prod-vpc", Labels: map[string]string{"app": in.app}, IP: in.ip}); err != nil {
			t.Fatal(err)
		}
	}
	key := filepath.Join(t.TempDir(), "key.json")
	if err := srv.WriteServiceAccountKey(key); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "targets.hcl"), fmt.Sprintf("target \"gcp\" \"prod\" {\n  project  = %q\n  network  = \"prod-vpc\"\n  endpoint = %q\n}\n", emu.Project(), srv.URL))
	flows := filepath.Join(t.TempDir(), "flows.log")
	writeTestFile(t, flows, labelsFlowLog())

	var stdout, stderr bytes.Buffer
	cmd := exec.Command(buildMicroseg(t), "discover", "-flows", flows, "-format", "aws", "-since", "0", "-labels-from", "gcp.prod", "-label-keys", "app", dir)
	cmd.Env = append(os.Environ(), "MICROSEG_STATE="+t.TempDir(), "GOOGLE_APPLICATION_CREDENTIALS="+key)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || !strings.Contains(stderr.String(), "discover: inventory of target prod: 5 addresses of instances, 5 of them with a grouping tag (app)") {
		t.Fatalf("discover: %v\n%s", err, stderr.String())
	}
	got := loadWithProposal(t, dir, stdout.String())
	for seg, labels := range map[string]map[string]string{"shop": {"app": "shop"}, "billing": {"app": "billing"}, "ledger": {"app": "ledger"}} {
		if s, ok := got.Segments[seg]; !ok || s.Target != "prod" || !maps.Equal(s.Members.Labels, labels) {
			t.Errorf("segment %s: %+v, want one of target prod selecting %v:\n%s", seg, s, labels, stdout.String())
		}
	}
	if a, b := proposedSegmentOf(got, "10.0.1.11"), proposedSegmentOf(got, "10.0.1.20"); a != "shop" || b != "billing" {
		t.Errorf("10.0.1.11 in %q, 10.0.1.20 in %q, want shop and billing", a, b)
	}
}
