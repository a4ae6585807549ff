package gcp

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/protobuf/encoding/protojson"
)

var validName = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)

// TestRuleNames: names are valid, at most 63 characters, carry the target, and a
// long one is shortened with a hash, never into another's name.
func TestRuleNames(t *testing.T) {
	long := strings.Repeat("very-long-segment-name-", 4)
	names := map[string]bool{}
	for _, rest := range []string{"web-internet-to-web-i4", long + "a-i4", long + "b-i4", "Web_App.x-e6", long + "a-i4-2"} {
		n := ruleName("prod", rest)
		if len(n) > 63 || !validName.MatchString(n) || !strings.HasPrefix(n, "ms-prod-") {
			t.Errorf("ruleName(%q) = %q: not a valid name of target prod", rest, n)
		}
		if names[n] {
			t.Errorf("ruleName(%q) = %q collides", rest, n)
		}
		names[n] = true
		if ruleName("prod", rest) != n {
			t.Errorf("ruleName(%q) is not stable", rest)
		}
	}
}

// TestStableChunks: adding or removing one range changes one chunk only.
func TestStableChunks(t *testing.T) {
	var items []string
	for i := range 25 {
		items = append(items, fmt.Sprintf("10.0.%d.0/24", i))
	}
	first, err := stableChunks(items, nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(first[0]) != 10 || len(first[1]) != 10 || len(first[2]) != 5 {
		t.Fatalf("chunks %v", first[:3])
	}
	held := map[int][]string{0: first[0], 1: first[1], 2: first[2]}
	more := append(slices.Clone(items), "10.0.5.128/25") // sorts into the first chunk's range
	second, _ := stableChunks(more, held, 10)
	changed := 0
	for k := range 3 {
		if !slices.Equal(first[k], second[k]) {
			changed++
		}
	}
	if changed != 1 || !slices.Contains(second[2], "10.0.5.128/25") {
		t.Errorf("adding one range changed %d chunks: %v", changed, second[:3])
	}
	fewer := slices.DeleteFunc(slices.Clone(items), func(s string) bool { return s == "10.0.3.0/24" })
	third, _ := stableChunks(fewer, held, 10)
	changed = 0
	for k := range 3 {
		if !slices.Equal(first[k], third[k]) {
			changed++
		}
	}
	if changed != 1 || len(third[0])+len(third[1])+len(third[2]) != 24 {
		t.Errorf("removing one range changed %d chunks: %v", changed, third[:3])
	}
}

// TestReadsFirewallAsReturned reads firewall rules in the forms GCP returns them
// (the network as a URL, protocols by number or in capitals, IPv6 spelt long,
// ports as a one-port range, the source range GCP fills in): they key as microseg's.
func TestReadsFirewallAsReturned(t *testing.T) {
	const doc = `{
  "kind": "compute#firewall", "id": "8394203894", "creationTimestamp": "2026-12-07T09:00:00.000-08:00",
  "name": "ms-prod-web-internet-to-web-i6", "description": "microseg: internet-to-web [microseg-managed target=prod]",
  "network": "https://www.googleapis.com/compute/v1/projects/acme/global/networks/prod-vpc",
  "priority": 1000, "sourceRanges": ["2001:0db8:0000::/48", "0::0/0"], "targetTags": ["microseg-web"],
  "allowed": [{"IPProtocol": "6", "ports": ["443-443", "80"]}, {"IPProtocol": "ICMP"}],
  "direction": "INGRESS", "logConfig": {"enable": false}, "disabled": false,
  "selfLink": "https://www.googleapis.com/compute/v1/projects/acme/global/firewalls/ms-prod-web-internet-to-web-i6"
}`
	var fw computepb.Firewall
	if err := protojson.Unmarshal([]byte(doc), &fw); err != nil {
		t.Fatal(err)
	}
	got := specFromFirewall(&fw).keys()
	want := []string{"web ingress from 2001:db8::/48 icmp", "web ingress from 2001:db8::/48 tcp/80", "web ingress from 2001:db8::/48 tcp/443",
		"web ingress from ::/0 icmp", "web ingress from ::/0 tcp/80", "web ingress from ::/0 tcp/443"}
	if !slices.Equal(got, want) {
		t.Errorf("keys %q, want %q", got, want)
	}
}
