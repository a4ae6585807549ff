package test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/providers"
	awsprovider "github.com/microseg/microseg/providers/aws"
	"github.com/microseg/microseg/test/ec2emu"
	"github.com/microseg/microseg/workflows"
)

// countingStore counts reads of each kind of content.
type countingStore struct {
	workflows.Store
	mu    sync.Mutex
	reads map[string]int
}

func (s *countingStore) Get(ctx context.Context, kind, hash string) ([]byte, error) {
	s.mu.Lock()
	s.reads[kind]++
	s.mu.Unlock()
	return s.Store.Get(ctx, kind, hash)
}

// TestCloudStateCompiledOnce: LoadPolicy compiles a cloud target once and stores
// its state; the plan, the apply and the verifying plan read that state by hash and
// never the policy bundle (which would mean parsing and compiling it again).
func TestCloudStateCompiledOnce(t *testing.T) {
	emu := ec2emu.New(ec2emu.Options{Seed: 9})
	srv := httptest.NewServer(emu)
	defer srv.Close()
	emu.AddVPC("vpc-1")
	emu.AddInstance("vpc-1", map[string]string{"tier": "web"}, "10.0.1.10")
	dir := t.TempDir()
	policy := fmt.Sprintf(`target "aws" "prod" {
  region   = "us-east-1"
  vpc_id   = "vpc-1"
  endpoint = %q
}
network "internet" { cidrs = ["0.0.0.0/0"] }
service "https" { ports = ["tcp/443"] }
segment "web" {
  target = target.aws.prod
  members { tags = { tier = "web" } }
}
allow "internet-to-web" {
  from     = [network.internet]
  to       = [segment.web]
  services = [service.https]
  owner    = "team-web"
}
`, srv.URL)
	if err := os.WriteFile(filepath.Join(dir, "policy.hcl"), []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}
	store := &countingStore{Store: workflows.DirStore{Dir: t.TempDir()}, reads: map[string]int{}}
	acts := &workflows.Activities{Store: store, Providers: providers.Registry{
		model.KindAWS: func(_ context.Context, target *model.Target, policy string) (providers.Provider, error) {
			client := ec2.New(ec2.Options{Region: "us-east-1", BaseEndpoint: aws.String(target.AWS.Endpoint),
				Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""), HTTPClient: ec2emu.HTTPClient()})
			return awsprovider.New(client, target, policy, awsprovider.DefaultQuotas)
		}}}
	ctx := context.Background()
	ref, err := acts.LoadPolicy(ctx, workflows.PlanRequest{Dir: dir})
	if err != nil || len(ref.Jobs) != 0 || len(ref.Clouds) != 1 || ref.Clouds[0].StateHash == "" || ref.Clouds[0].Kind != model.KindAWS {
		t.Fatalf("LoadPolicy = %+v, %v; want one aws cloud job with a stored state", ref, err)
	}
	job := ref.Clouds[0]
	plan, err := acts.PlanCloud(ctx, job)
	if err != nil || plan.Add == 0 {
		t.Fatalf("PlanCloud = %+v, %v", plan, err)
	}
	if _, err := acts.ApplyCloud(ctx, job, plan.Observed); err != nil {
		t.Fatalf("ApplyCloud: %v", err)
	}
	verify, err := acts.PlanCloud(ctx, job)
	if err != nil || verify.Add+verify.Change+verify.Remove != 0 {
		t.Fatalf("verifying PlanCloud = %+v, %v", verify, err)
	}
	if n := store.reads[workflows.KindBundle]; n != 0 {
		t.Errorf("the plan, apply and verify read the policy bundle %d times, want 0 (compiled once by LoadPolicy)", n)
	}
	if n := store.reads[workflows.KindTargetState]; n != 3 {
		t.Errorf("the compiled state was read %d times, want 3 (plan, apply, verify)", n)
	}
	// The stored state keeps what the rules' descriptions need: the allow's owner.
	for _, sg := range emu.SecurityGroups() {
		for _, r := range sg.Ingress {
			if sg.Name == "microseg-web" && r.Description != "microseg: internet-to-web (owner team-web)" {
				t.Errorf("rule described %q", r.Description)
			}
		}
	}
}
