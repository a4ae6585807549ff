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

	"github.com/microseg/microseg/test/armemu"
)

// TestDiscoverAzureLabels runs `microseg discover -labels-from` with an azure
// target's inventory, read from the ARM emulator: the tags of NICs (and of their
// VMs) split the /24 that shop and billing share into two proposed segments.
func TestDiscoverAzureLabels(t *testing.T) {
	srv, err := armemu.NewServer(armemu.Options{Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	emu := srv.Emulator
	emu.AddResourceGroup("rg-prod", "westeurope")
	emu.AddVNet("rg-prod", "vnet-prod", []string{"10.0.0.0/16"})
	subnet := emu.AddSubnet("rg-prod", "vnet-prod", "app", "10.0.0.0/20")
	emu.AddVM("rg-prod", "shop-1", map[string]string{"app": "shop"})
	emu.AddNIC("rg-prod", "shop-1-nic", armemu.NICSpec{VM: "shop-1", Subnet: subnet, Addresses: []string{"10.0.1.10"}})
	emu.AddNIC("rg-prod", "shop-2-nic", armemu.NICSpec{Tags: map[string]string{"app": "shop"}, Subnet: subnet, Addresses: []string{"10.0.1.11"}})
	emu.AddNIC("rg-prod", "billing-nic", armemu.NICSpec{Tags: map[string]string{"app": "billing"}, Subnet: subnet, Addresses: []string{"10.0.1.20", "10.0.1.21"}})
	emu.AddNIC("rg-prod", "ledger-nic", armemu.NICSpec{Tags: map[string]string{"app": "ledger"}, Subnet: subnet, Addresses: []string{"10.0.2.10"}})

	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "targets.hcl"), fmt.Sprintf(`target "azure" "weu" {
  subscription_id = %q
  resource_group  = "rg-prod"
  location        = "westeurope"
  endpoint        = %q
}
`, emu.SubscriptionID(), srv.URL))
	flows := filepath.Join(t.TempDir(), "flows.log")
	writeTestFile(t, flows, labelsFlowLog())
	bin := buildMicroseg(t)
	env := append(os.Environ(), "MICROSEG_STATE="+t.TempDir())
	for k, v := range srv.Environ() {
		env = append(env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "discover", "-flows", flows, "-format", "aws", "-since", "0", "-labels-from", "weu", "-label-keys", "app", dir)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, &stdout, &stderr
	if err := cmd.Run(); err != nil || !strings.Contains(stderr.String(), "discover: inventory of target weu: 5 addresses of network interfaces, 5 of them with a grouping tag (app)") {
		t.Fatalf("discover: %v\n%s", err, stderr.String())
	}
	proposal := stdout.String()
	got := loadWithProposal(t, dir, proposal)
	for seg, tags := range map[string]map[string]string{"shop": {"app": "shop"}, "billing": {"app": "billing"}, "ledger": {"app": "ledger"}} {
		if s, ok := got.Segments[seg]; !ok || s.Target != "weu" || !maps.Equal(s.Members.Tags, tags) {
			t.Errorf("segment %s: %+v, want one of target weu selecting %v:\n%s", seg, s, tags, proposal)
		}
	}
	if a, b := proposedSegmentOf(got, "10.0.1.10"), proposedSegmentOf(got, "10.0.1.21"); a != "shop" || b != "billing" {
		t.Errorf("10.0.1.10 in %q, 10.0.1.21 in %q, want shop and billing", a, b)
	}
}
