package test

import (
	"bytes"
	"fmt"
	"maps"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	hclload "github.com/microseg/microseg/hcl"
	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/test/ec2emu"
)

// labelsPolicy declares the AWS target whose inventory labels the addresses, and a
// hosts target, which has none.
const labelsPolicy = `target "aws" "prod" {
  region   = "us-east-1"
  vpc_id   = "vpc-1"
  endpoint = %q
}

target "hosts" "dc1" {
  management_cidrs = ["192.168.0.0/24"]
  host "db-01" { address = "192.168.0.11" }
}
`

// TestDiscoverAWSLabels runs `microseg discover -labels-from` on an AWS flow log
// against the EC2 emulator: two apps share 10.0.1.0/24, and the instances' app tags
// make them two proposed segments, named from the tag, where the subnets alone make
// one; the proposal validates next to the policy.
func TestDiscoverAWSLabels(t *testing.T) {
	emu := ec2emu.New(ec2emu.Options{Seed: 5})
	srv := httptest.NewServer(emu)
	defer srv.Close()
	emu.AddVPC("vpc-1")
	emu.AddVPC("vpc-2")
	_, shop1 := emu.AddInstance("vpc-1", map[string]string{"Name": "shop-1", "app": "shop"}, "10.0.1.10")
	if err := emu.AddAddresses(shop1, "2600:1f18:abcd:100::10"); err != nil {
		t.Fatal(err)
	}
	emu.AddInstance("vpc-1", map[string]string{"Name": "shop-2", "app": "shop"}, "10.0.1.11")
	_, billing1 := emu.AddInstance("vpc-1", map[string]string{"Name": "billing-1", "app": "billing"}, "10.0.1.20")
	if err := emu.AddAddresses(billing1, "10.0.1.21", "2600:1f18:abcd:100::20"); err != nil {
		t.Fatal(err)
	}
	emu.AddInstance("vpc-1", map[string]string{"Name": "ledger-db", "app": "ledger"}, "10.0.2.10")
	emu.AddInstance("vpc-1", map[string]string{"Name": "bastion"}, "10.0.3.10") // no app tag
	gone, _ := emu.AddInstance("vpc-1", map[string]string{"app": "retired"}, "10.0.1.30")
	if err := emu.SetInstanceState(gone, "stopped"); err != nil {
		t.Fatal(err)
	}
	emu.AddInstance("vpc-2", map[string]string{"app": "elsewhere"}, "10.0.1.40") // another VPC

	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "targets.hcl"), fmt.Sprintf(labelsPolicy, srv.URL))
	flows := filepath.Join(t.TempDir(), "flows.log")
	writeTestFile(t, flows, labelsFlowLog())

	bin := buildMicroseg(t)
	env := append(os.Environ(),
		"AWS_ACCESS_KEY_ID=AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY=not-a-secret", "AWS_SESSION_TOKEN=",
		"AWS_REGION=us-east-1", "AWS_PROFILE=", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE="+filepath.Join(dir, "no-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "no-aws-credentials"),
		"AWS_ENDPOINT_URL=", "AWS_ENDPOINT_URL_EC2=",
		"MICROSEG_STATE="+t.TempDir(),
	)
	run := func(args ...string) (stdout, stderr string, code int) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("microseg %s: %v", strings.Join(args, " "), err)
		}
		return o.String(), e.String(), code
	}
	discover := func(extra ...string) (string, string) {
		t.Helper()
		args := append([]string{"discover", "-flows", flows, "-format", "aws", "-since", "0"}, extra...)
		out, errOut, code := run(append(args, dir)...)
		if code != 0 {
			t.Fatalf("discover %v = %d:\n%s", extra, code, errOut)
		}
		return out, errOut
	}

	// With the inventory: one segment per app, the shared /24 split between shop and
	// billing, their IPv6 addresses with them rather than among the public peers.
	emu.ResetCalls()
	proposal, errOut := discover("-labels-from", "prod")
	if !strings.Contains(errOut, "discover: inventory of target prod: 8 addresses of running instances, 7 of them with a grouping tag (app, role, tier)") {
		t.Errorf("stderr does not count the labelled addresses:\n%s", errOut)
	}
	if n := emu.Calls()["DescribeInstances"]; n != 1 {
		t.Errorf("DescribeInstances called %d times, want 1", n)
	}
	got := loadWithProposal(t, dir, proposal)
	for _, want := range []struct {
		segment string
		tags    map[string]string
		has     []string
	}{
		{"shop", map[string]string{"app": "shop"}, []string{"10.0.1.10", "10.0.1.11", "2600:1f18:abcd:100::10"}},
		{"billing", map[string]string{"app": "billing"}, []string{"10.0.1.20", "10.0.1.21", "2600:1f18:abcd:100::20"}},
		{"ledger", map[string]string{"app": "ledger"}, []string{"10.0.2.10"}},
	} {
		s, ok := got.Segments[want.segment]
		if !ok {
			t.Errorf("no segment %q in the proposal:\n%s", want.segment, proposal)
			continue
		}
		if s.Target != "prod" || s.Mode != model.ModeAudit || !maps.Equal(s.Members.Tags, want.tags) {
			t.Errorf("segment %s: target %s, mode %s, members %v; want prod, audit, tags %v", s.Name, s.Target, s.Mode, s.Members.Tags, want.tags)
		}
		for _, a := range want.has {
			if holder := proposedSegmentOf(got, a); holder != want.segment {
				t.Errorf("%s is in segment %q, want %s", a, holder, want.segment)
			}
		}
	}
	// The untagged bastion groups by its subnet, as before.
	if holder := proposedSegmentOf(got, "10.0.3.10"); holder == "" || holder == "shop" || holder == "billing" || holder == "ledger" {
		t.Errorf("the untagged 10.0.3.10 is in segment %q, want a subnet segment", holder)
	}
	validateWithProposal(t, run, dir, proposal)

	// The same flows without the inventory: the shared /24 is one segment.
	plain, _ := discover("-target", "prod")
	gotPlain := loadWithProposal(t, dir, plain)
	if a, b := proposedSegmentOf(gotPlain, "10.0.1.10"), proposedSegmentOf(gotPlain, "10.0.1.20"); a == "" || a != b {
		t.Errorf("without labels, shop and billing are in segments %q and %q, want one subnet segment", a, b)
	}

	// Grouping keys no instance carries: everything groups by subnet, and stderr says
	// why.
	_, errOut = discover("-labels-from", "aws.prod", "-label-keys", "role, team")
	if !strings.Contains(errOut, "0 of them with a grouping tag (role, team)") || !strings.Contains(errOut, "choose the tag keys with -label-keys") {
		t.Errorf("stderr with keys no instance has:\n%s", errOut)
	}
	// Keys in order make the name: Name before app.
	named, _ := discover("-labels-from", "prod", "-label-keys", "app,Name")
	if s, ok := loadWithProposal(t, dir, named).Segments["shop-shop-1"]; !ok || !maps.Equal(s.Members.Tags, map[string]string{"app": "shop", "Name": "shop-1"}) {
		t.Errorf("with -label-keys app,Name: no segment shop-shop-1 selecting both tags:\n%s", named)
	}

	// Mistakes are errors that say what is wrong, before any call to EC2.
	emu.ResetCalls()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-labels-from", "prod"}, "needs the policy directory"},
		{[]string{"-labels-from", "prdo", dir}, `target "prdo" is not declared in the policy; did you mean "prod"?`},
		{[]string{"-labels-from", "dc1", dir}, "target dc1 is a hosts target: only cloud targets have an inventory"},
		{[]string{"-labels-from", "gcp.prod", dir}, "the policy declares it as target.aws.prod"},
		{[]string{"-label-keys", "app", "-target", "prod", dir}, "-label-keys needs -labels-from"},
		{[]string{"-labels-from", "prod", "-label-keys", "app,,tier", dir}, "an empty key"},
		{[]string{"-labels-from", "prod", "-label-keys", "app,app", dir}, `key "app" is given twice`},
	} {
		_, errOut, code := run(append([]string{"discover", "-flows", flows, "-format", "aws", "-since", "0"}, tc.args...)...)
		if code != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("discover %v = %d, want 1 and %q:\n%s", tc.args, code, tc.want, errOut)
		}
	}
	if n := emu.Calls()["DescribeInstances"]; n != 0 {
		t.Errorf("the failed commands called DescribeInstances %d times", n)
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("proposal with labels:\n%s", proposal)
	}
}

// labelsFlowLog is an AWS flow log (default format) in which the internet reaches
// shop on 443, shop calls billing on 8443 (over IPv4 and IPv6), billing calls the
// ledger database on 5432, and the bastion reaches all of them on 22. Each request
// is logged with its reply.
func labelsFlowLog() string {
	var b strings.Builder
	b.WriteString("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n")
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC).Unix()
	n := 0
	conn := func(client, server string, port int) {
		for i := range 3 {
			eph := 40000 + n*3 + i
			start := t0 + int64(n*60)
			fmt.Fprintf(&b, "2 123456789012 eni-0a1b2c3d4e5f60001 %s %s %d %d 6 10 840 %d %d ACCEPT OK\n", client, server, eph, port, start, start+59)
			fmt.Fprintf(&b, "2 123456789012 eni-0a1b2c3d4e5f60001 %s %s %d %d 6 12 9000 %d %d ACCEPT OK\n", server, client, port, eph, start, start+59)
			n++
		}
	}
	for _, c := range []string{"198.51.100.7", "203.0.113.9"} {
		for _, s := range []string{"10.0.1.10", "10.0.1.11"} {
			conn(c, s, 443)
		}
	}
	for _, c := range []string{"10.0.1.10", "10.0.1.11"} {
		for _, s := range []string{"10.0.1.20", "10.0.1.21"} {
			conn(c, s, 8443)
		}
	}
	conn("2600:1f18:abcd:100::10", "2600:1f18:abcd:100::20", 8443)
	for _, c := range []string{"10.0.1.20", "10.0.1.21"} {
		conn(c, "10.0.2.10", 5432)
	}
	for _, s := range []string{"10.0.1.10", "10.0.1.20", "10.0.2.10"} {
		conn("10.0.3.10", s, 22)
	}
	return b.String()
}

func writeTestFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// loadWithProposal loads a proposal next to the policy in dir with the real loader, and
// compiles it.
func loadWithProposal(t *testing.T, dir, proposal string) *model.Policy {
	t.Helper()
	files := map[string][]byte{"discovered.hcl": []byte(proposal)}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".hcl") && e.Name() != "discovered.hcl" {
			text, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			files[e.Name()] = text
		}
	}
	loaded, diags := hclload.LoadSources(files)
	if len(diags) > 0 {
		t.Fatalf("the proposal does not load: %v\n%s", diags, proposal)
	}
	if _, err := model.Compile(loaded.Policy); err != nil {
		t.Fatalf("the proposal does not compile: %v\n%s", err, proposal)
	}
	return loaded.Policy
}

// proposedSegmentOf names the proposed segment whose CIDRs hold an address, "" for none.
func proposedSegmentOf(p *model.Policy, addr string) string {
	a := netip.MustParseAddr(addr)
	for _, name := range model.SortedKeys(p.Segments) {
		for _, c := range p.Segments[name].CIDRs {
			if c.Contains(a) {
				return name
			}
		}
	}
	return ""
}

// validateWithProposal runs `microseg validate` on a copy of the policy with the proposal in it.
func validateWithProposal(t *testing.T, run func(...string) (string, string, int), dir, proposal string) {
	t.Helper()
	both := t.TempDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		text, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		writeTestFile(t, filepath.Join(both, e.Name()), string(text))
	}
	writeTestFile(t, filepath.Join(both, "discovered.hcl"), proposal)
	out, errOut, code := run("validate", both)
	if code != 0 || !strings.Contains(out, "valid") {
		t.Fatalf("microseg validate = %d:\n%s%s\n%s", code, out, errOut, proposal)
	}
}
