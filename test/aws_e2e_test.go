package test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/microseg/microseg/test/ec2emu"
)

// TestEngineAWSEndToEnd runs plan, apply, drift and remediation of an AWS target
// through the embedded server and the worker, against the EC2 emulator.
func TestEngineAWSEndToEnd(t *testing.T) {
	temporal := temporalBin(t)
	emu := ec2emu.New(ec2emu.Options{Seed: 3})
	srv := httptest.NewServer(emu)
	defer srv.Close()
	emu.AddVPC("vpc-1")
	_, webENI := emu.AddInstance("vpc-1", map[string]string{"tier": "web"}, "10.0.1.10")
	emu.AddInstance("vpc-1", map[string]string{"tier": "app"}, "10.0.2.10")

	dir := t.TempDir()
	policy := fmt.Sprintf(`target "aws" "prod" {
  region               = "us-east-1"
  vpc_id               = "vpc-1"
  endpoint             = %q
  exclusive_membership = true
}
network "internet" { cidrs = ["0.0.0.0/0"] }
service "https" { ports = ["tcp/443"] }
service "app" { ports = ["tcp/8080"] }
segment "web" {
  target = target.aws.prod
  members { tags = { tier = "web" } }
}
segment "app" {
  target = target.aws.prod
  members { tags = { tier = "app" } }
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
}
`, srv.URL)
	if err := os.WriteFile(filepath.Join(dir, "policy.hcl"), []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprint(30000 + os.Getpid()%10000)
	e := awsEngine(t, temporal, port)

	out, code := e.run("plan", "-detailed-exitcode", dir)
	if code != 2 || !strings.Contains(out, "# prod") || !strings.Contains(out, "+ segment web") || !strings.Contains(out, "+ rule web ingress from 0.0.0.0/0 tcp/443") {
		t.Fatalf("plan = %d:\n%s", code, out)
	}
	emu.ResetCalls()
	out, code = e.run("apply", "-auto-approve", dir)
	if code != 0 || !strings.Contains(out, "prod: ") || !strings.Contains(out, "verified=true") {
		t.Fatalf("apply = %d:\n%s", code, out)
	}
	t.Logf("apply (plan, apply, verify) of a 2-segment VPC: %d EC2 calls %v", sumCalls(emu.Calls()), emu.Calls())
	if out, code := e.run("drift", "-detailed-exitcode", dir); code != 0 {
		t.Fatalf("drift after apply = %d:\n%s", code, out)
	}

	// Drift behind microseg's back: the web group taken off its instance.
	client := ec2.New(ec2.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""), HTTPClient: ec2emu.HTTPClient()})
	if _, err := client.ModifyNetworkInterfaceAttribute(context.Background(), &ec2.ModifyNetworkInterfaceAttributeInput{
		NetworkInterfaceId: aws.String(webENI), Groups: []string{emu.DefaultSecurityGroup("vpc-1")}}); err != nil {
		t.Fatal(err)
	}
	for range 2 { // seen twice: one drift, still open
		out, code = e.run("drift", "-detailed-exitcode", dir)
		if code != 2 || !strings.Contains(out, "+ member web "+webENI) {
			t.Fatalf("drift = %d:\n%s", code, out)
		}
	}
	if out, code := e.run("apply", "-auto-approve", dir); code != 0 {
		t.Fatalf("remediate = %d:\n%s", code, out)
	}
	if out, code := e.run("drift", "-detailed-exitcode", dir); code != 0 {
		t.Fatalf("drift after remediation = %d:\n%s", code, out)
	}
	// The history tells it: one drift event on prod, found by drift, remediated by
	// the apply.
	var rep struct {
		Drift struct {
			Events []struct {
				Target     string
				Remediated *time.Time
				Changes    int
			}
		}
	}
	if err := e.report(dir, &rep); err != nil || len(rep.Drift.Events) != 1 || rep.Drift.Events[0].Target != "prod" ||
		rep.Drift.Events[0].Remediated == nil || rep.Drift.Events[0].Changes == 0 {
		t.Fatalf("report's drift (%v): %+v", err, rep.Drift)
	}

	// Break-glass: every segment's group allows all traffic in and out (audit
	// mode) while it is on, and enforces again after.
	webGroup := ""
	for _, sg := range emu.SecurityGroups() {
		if sg.Name == "microseg-web" {
			webGroup = sg.ID
		}
	}
	allowsAll := func() bool {
		sg, _ := emu.SecurityGroup(webGroup)
		for _, r := range sg.Ingress {
			if r.Protocol == "-1" && r.CIDRv4 == "0.0.0.0/0" {
				return true
			}
		}
		return false
	}
	if allowsAll() {
		t.Fatal("the enforce-mode web group allows all traffic in before break-glass")
	}
	_, workerOut, _ := e.background("worker")
	if out, code := e.run("breakglass", "on", "-target", "prod", "-reason", "INC-7 outage", dir); code != 0 {
		t.Fatalf("breakglass on = %d:\n%s", code, out)
	}
	waitFor(t, "break-glass opens the web group", time.Minute, allowsAll, workerOut.String)
	if out, code := e.run("breakglass", "off", "-target", "prod", "-reason", "INC-7 resolved", dir); code != 0 {
		t.Fatalf("breakglass off = %d:\n%s", code, out)
	}
	waitFor(t, "break-glass off enforces the web group again", time.Minute, func() bool { return !allowsAll() }, workerOut.String)
	if out, code := e.run("drift", "-detailed-exitcode", dir); code != 0 {
		t.Fatalf("drift after break-glass off = %d:\n%s", code, out)
	}
	if out, code := e.run("reconcile", "stop", "-target", "prod", dir); code != 0 {
		t.Fatalf("reconcile stop = %d:\n%s", code, out)
	}
	// Histories with cloud jobs, for the replay test.
	recordHistories(t, temporal, port, "PlanWorkflow:PlanWorkflow-aws", "ApplyWorkflow:ApplyWorkflow-aws", "ReconcileWorkflow:ReconcileWorkflow-aws")
}

// report writes the JSON report of the policy in dir and decodes it into rep.
func (e engine) report(dir string, rep any) error {
	e.t.Helper()
	file := filepath.Join(e.t.TempDir(), "report.json")
	if out, code := e.run("report", "-format", "json", "-o", file, dir); code != 0 {
		e.t.Fatalf("report = %d:\n%s", code, out)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, rep)
}

// awsEngine starts the embedded server on port for a test of aws targets, with the
// static credentials the emulator accepts, and returns the engine to run commands.
func awsEngine(t *testing.T, temporal, port string) engine {
	return cloudEngine(t, temporal, port,
		"AWS_ACCESS_KEY_ID=AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY=not-a-secret", "AWS_REGION=us-east-1",
		"AWS_EC2_METADATA_DISABLED=true")
}

func sumCalls(calls map[string]int) int {
	n := 0
	for _, c := range calls {
		n += c
	}
	return n
}

// TestEngineAWSRealVPCDefaults runs the engine against a VPC as AWS makes one: an
// IPv6 block (new groups get ::/0 egress too), instances launched without naming
// groups (they carry the VPC's default group), exclusive_membership left at its
// default. The first apply verifies; the VPC then plans empty, drift and a
// reconcile loop find nothing, the default group is reported as a finding; rules
// are described by their allows; and an apply that something keeps undoing exits
// non-zero, saying what is still different.
func TestEngineAWSRealVPCDefaults(t *testing.T) {
	temporal := temporalBin(t)
	emu := ec2emu.New(ec2emu.Options{Seed: 5})
	srv := httptest.NewServer(emu)
	defer srv.Close()
	def := emu.AddDualStackVPC("vpc-1", "2600:1f18:1234:5600::/56")
	_, webENI := emu.AddInstance("vpc-1", map[string]string{"tier": "web"}, "10.0.1.10")
	emu.AddInstance("vpc-1", map[string]string{"tier": "app"}, "10.0.2.10")

	dir := t.TempDir()
	policy := fmt.Sprintf(`target "aws" "prod" {
  region   = "us-east-1"
  vpc_id   = "vpc-1"
  endpoint = %q
}
network "internet" { cidrs = ["0.0.0.0/0", "::/0"] }
service "https" { ports = ["tcp/443"] }
service "app" { ports = ["tcp/8080"] }
segment "web" {
  target = target.aws.prod
  members { tags = { tier = "web" } }
}
segment "app" {
  target = target.aws.prod
  members { tags = { tier = "app" } }
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
`, srv.URL)
	if err := os.WriteFile(filepath.Join(dir, "policy.hcl"), []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}
	e := awsEngine(t, temporal, fmt.Sprint(12000+os.Getpid()%8000)) // apart from the other engine tests' ports

	out, code := e.run("apply", "-auto-approve", dir)
	if code != 0 || !strings.Contains(out, "prod: ") || !strings.Contains(out, "verified=true") || !strings.Contains(out, "on 1 cloud target.") {
		t.Fatalf("first apply in a dual-stack VPC = %d:\n%s", code, out)
	}
	groups := map[string]ec2emu.SecurityGroup{}
	for _, sg := range emu.SecurityGroups() {
		groups[sg.Name] = sg
	}
	for _, name := range []string{"microseg-web", "microseg-app"} {
		for _, r := range groups[name].Egress {
			if r.Protocol == "-1" {
				t.Errorf("%s allows all traffic out to %s%s", name, r.CIDRv4, r.CIDRv6)
			}
		}
		for _, r := range append(groups[name].Ingress, groups[name].Egress...) {
			if !strings.HasPrefix(r.Description, "microseg: ") || r.Description == "microseg: " {
				t.Errorf("%s rule %+v: description %q does not name its allows", name, r, r.Description)
			}
		}
	}
	for _, r := range groups["microseg-app"].Ingress {
		if r.Description != "microseg: web-to-app (owner team-payments, ticket SEC-142)" {
			t.Errorf("app ingress rule described %q", r.Description)
		}
	}

	out, code = e.run("plan", "-detailed-exitcode", dir)
	if code != 0 || !strings.Contains(out, "0 to add, 0 to change, 0 to remove") ||
		!strings.Contains(out, "note (not a change): interface "+webENI) || !strings.Contains(out, def) {
		t.Fatalf("plan after apply = %d, want 0 with the default group as a note:\n%s", code, out)
	}
	out, code = e.run("drift", "-detailed-exitcode", dir)
	if code != 0 || !strings.Contains(out, "Drift: 0 of 1 cloud target differ") || !strings.Contains(out, "Findings (kept by design, not drift):") {
		t.Fatalf("drift after apply = %d:\n%s", code, out)
	}
	out, code = e.run("drift", "-json", dir)
	var report struct {
		Drifted  []json.RawMessage
		Findings []struct{ Target, Finding string }
	}
	if err := json.Unmarshal([]byte(out), &report); code != 0 || err != nil || len(report.Drifted) != 0 || len(report.Findings) != 2 ||
		report.Findings[0].Target != "prod" || !strings.Contains(report.Findings[0].Finding, def) {
		t.Fatalf("drift -json = %d (%v):\n%s", code, err, out)
	}
	if out, code := e.run("apply", dir); code != 0 || !strings.Contains(out, "Nothing to apply.") {
		t.Fatalf("apply of an applied policy (no -auto-approve) = %d:\n%s", code, out)
	}

	// A reconcile loop records no drift for what is kept by design.
	_, workerOut, _ := e.background("worker")
	if out, code := e.run("reconcile", "start", "-target", "prod", "-every", "1s", "-remediate", dir); code != 0 {
		t.Fatalf("reconcile start = %d:\n%s\nworker:\n%s", code, out, workerOut.String())
	}
	waitFor(t, "three reconcile checks", time.Minute, func() bool {
		out, code = e.run("reconcile", "status", "-target", "prod", dir)
		var checks int
		fmt.Sscanf(out[strings.Index(out, ": ")+2:], "%d checks", &checks)
		return code == 0 && checks >= 3
	}, func() string { return out + "\nworker:\n" + workerOut.String() })
	if strings.Contains(out, "\ndrift ") {
		t.Errorf("the reconcile loop recorded drift on a converged VPC:\n%s", out)
	}
	if out, code := e.run("reconcile", "stop", "-target", "prod", dir); code != 0 {
		t.Fatalf("reconcile stop = %d:\n%s", code, out)
	}
	// The report lists the default group as a finding, and no drift.
	var rep struct {
		Drift    struct{ Events []json.RawMessage }
		Findings []struct{ Target, Subject, Message string }
	}
	if err := e.report(dir, &rep); err != nil || len(rep.Drift.Events) != 0 || len(rep.Findings) != 2 ||
		rep.Findings[0].Target != "prod" || !strings.Contains(rep.Findings[0].Message, def) {
		t.Fatalf("report (%v): drift %d events, findings %+v", err, len(rep.Drift.Events), rep.Findings)
	}

	// Something keeps putting IPv6 allow-all egress back on the web group: the
	// apply cannot converge, exits 1 and says what is still different.
	client := ec2.New(ec2.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""), HTTPClient: ec2emu.HTTPClient()})
	web := groups["microseg-web"].ID
	putBack := func() {
		client.AuthorizeSecurityGroupEgress(context.Background(), &ec2.AuthorizeSecurityGroupEgressInput{GroupId: aws.String(web),
			IpPermissions: []types.IpPermission{{IpProtocol: aws.String("-1"), Ipv6Ranges: []types.Ipv6Range{{CidrIpv6: aws.String("::/0")}}}}})
	}
	putBack()
	stop := make(chan struct{})
	fought := make(chan struct{})
	go func() {
		defer close(fought)
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
				putBack() // InvalidPermission.Duplicate while it is there
			}
		}
	}()
	out, code = e.run("apply", "-auto-approve", dir)
	close(stop)
	<-fought
	if code != 1 || !strings.Contains(out, "verified=false") || !strings.Contains(out, "still different after the apply:") ||
		!strings.Contains(out, "- rule web egress to ::/0 all") || !strings.Contains(out, "still differ from the policy") || strings.Contains(out, "Apply complete.") {
		t.Fatalf("apply that cannot converge = %d, want 1 with what is left:\n%s", code, out)
	}
}
