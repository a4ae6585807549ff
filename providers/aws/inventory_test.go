package aws

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"strings"
	"testing"
)

// TestInventory reads the inventory of a VPC from the emulator through the real SDK
// client: every address of every running instance of the VPC, with the instance's
// tags, and nothing of stopped instances or other VPCs.
func TestInventory(t *testing.T) {
	emu, client := emulated(t)
	emu.AddVPC("vpc-2")
	shopTags := map[string]string{"Name": "shop-1", "app": "shop", "tier": "web"}
	_, shopENI := emu.AddInstance("vpc-1", shopTags, "10.0.1.10")
	must(t, emu.AddAddresses(shopENI, "10.0.1.11", "2600:1f18:abcd:100::10"))
	emu.AddInstance("vpc-1", nil, "10.0.1.20") // untagged: a workload all the same
	_, oddENI := emu.AddInstance("vpc-1", map[string]string{"app": "odd"}, "10.0.3.10")
	must(t, emu.AddAddresses(oddENI, "10.0.3.999", "not-an-address", "fe80::zz", "", "10.0.3.11"))
	stopped, _ := emu.AddInstance("vpc-1", map[string]string{"app": "gone"}, "10.0.4.10")
	must(t, emu.SetInstanceState(stopped, "stopped"))
	emu.AddInstance("vpc-2", map[string]string{"app": "elsewhere"}, "10.0.5.10")
	// The same address claimed by two instances goes to the lower instance ID,
	// whatever the order of the pages.
	a, _ := emu.AddInstance("vpc-1", map[string]string{"app": "first"}, "10.0.6.10")
	b, _ := emu.AddInstance("vpc-1", map[string]string{"app": "second"}, "10.0.6.10")
	claim := map[string]string{a: "first", b: "second"}[min(a, b)]
	// More instances than one page of DescribeInstances holds (1000).
	for i := range 1005 {
		emu.AddInstance("vpc-1", map[string]string{"app": "fleet"}, fmt.Sprintf("10.2.%d.%d", i/250, 1+i%250))
	}

	target, _ := compile(t, policy)
	p, err := New(client, target, "test", DefaultQuotas)
	must(t, err)
	emu.ResetCalls()
	got, err := p.Inventory(context.Background())
	must(t, err)
	if n := emu.Calls()["DescribeInstances"]; n != 2 {
		t.Errorf("DescribeInstances called %d times, want 2 pages", n)
	}

	want := map[string]map[string]string{
		"10.0.1.10":              shopTags,
		"10.0.1.11":              shopTags,
		"2600:1f18:abcd:100::10": shopTags,
		"10.0.1.20":              {},
		"10.0.3.10":              {"app": "odd"},
		"10.0.3.11":              {"app": "odd"},
		"10.0.6.10":              {"app": claim},
	}
	fleet := 0
	for a, l := range got {
		if l == nil {
			t.Errorf("%s maps to a nil map", a)
		}
		if l["app"] == "fleet" && len(l) == 1 {
			fleet++
			continue
		}
		w, ok := want[a.String()]
		if !ok {
			t.Errorf("unexpected address %s: %v", a, l)
			continue
		}
		if !maps.Equal(l, w) {
			t.Errorf("%s: labels %v, want %v", a, l, w)
		}
		delete(want, a.String())
	}
	if len(want) > 0 {
		t.Errorf("missing addresses: %v", want)
	}
	if fleet != 1005 {
		t.Errorf("%d fleet addresses, want 1005 (both pages)", fleet)
	}

	// Each address has its own copy of the tags.
	got[netip.MustParseAddr("10.0.1.10")]["app"] = "changed"
	if got[netip.MustParseAddr("10.0.1.11")]["app"] != "shop" || shopTags["app"] != "shop" {
		t.Error("the addresses of one instance share one map")
	}
}

// TestInventoryRetriesAndErrors: throttling and server errors are retried to the
// same answer; a call that keeps failing is an error naming the VPC.
func TestInventoryRetriesAndErrors(t *testing.T) {
	emu, client := emulated(t)
	for i := range 20 {
		emu.AddInstance("vpc-1", map[string]string{"app": fmt.Sprint("a", i%3)}, fmt.Sprintf("10.0.0.%d", 10+i))
	}
	target, _ := compile(t, policy)
	p, err := New(client, target, "test", DefaultQuotas)
	must(t, err)
	ctx := context.Background()
	clean, err := p.Inventory(ctx)
	must(t, err)
	emu.SetFaults(0.2, 0.2)
	for range 5 {
		got, err := p.Inventory(ctx)
		must(t, err)
		if !maps.EqualFunc(got, clean, maps.Equal) {
			t.Fatalf("with faults: %v, without: %v", got, clean)
		}
	}
	emu.SetFaults(0, 1)
	_, err = p.Inventory(ctx)
	if err == nil || !strings.Contains(err.Error(), "describe instances in vpc-1") {
		t.Fatalf("with every call failing: err = %v", err)
	}
}
