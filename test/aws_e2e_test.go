package test

import (
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

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
	e := engine{cli{t, buildMicroseg(t)}, []string{
		"MICROSEG_STATE=" + t.TempDir(),
		"MICROSEG_TEMPORAL_BIN=" + temporal,
		"MICROSEG_TEMPORAL_PORT=" + port,
		"TEMPORAL_ADDRESS=",
		"AWS_ACCESS_KEY_ID=AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY=not-a-secret", "AWS_REGION=us-east-1",
		"AWS_EC2_METADATA_DISABLED=true",
	}, port}
	_, serverOut, _ := e.background("server")
	waitFor(t, "embedded server", time.Minute, func() bool {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, serverOut.String)

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
	out, code = e.run("drift", "-detailed-exitcode", dir)
	if code != 2 || !strings.Contains(out, "+ member web "+webENI) {
		t.Fatalf("drift = %d:\n%s", code, out)
	}
	if out, code := e.run("apply", "-auto-approve", dir); code != 0 {
		t.Fatalf("remediate = %d:\n%s", code, out)
	}
	if out, code := e.run("drift", "-detailed-exitcode", dir); code != 0 {
		t.Fatalf("drift after remediation = %d:\n%s", code, out)
	}
}

func sumCalls(calls map[string]int) int {
	n := 0
	for _, c := range calls {
		n += c
	}
	return n
}
