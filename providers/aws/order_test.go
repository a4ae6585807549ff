package aws

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/test/ec2emu"
)

// callRecorder notes the Action of every EC2 request, in order.
type callRecorder struct {
	base    http.RoundTripper
	mu      sync.Mutex
	actions []string
}

func (r *callRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		body, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(strings.NewReader(string(body)))
		if v, err := url.ParseQuery(string(body)); err == nil {
			r.mu.Lock()
			r.actions = append(r.actions, v.Get("Action"))
			r.mu.Unlock()
		}
	}
	return r.base.RoundTrip(req)
}

// TestApplyIsMakeBeforeBreak changes a policy so that its plan adds and removes
// rules and memberships, and checks that every call that grants (create, authorize,
// attach) comes before every call that takes away (revoke, delete) — except revoking
// the default egress of the groups just created (read back right after the creates),
// which no member carries yet.
func TestApplyIsMakeBeforeBreak(t *testing.T) {
	emu, setup := emulated(t)
	emu.AddInstance("vpc-1", map[string]string{"tier": "web"}, "10.0.1.10")
	emu.AddInstance("vpc-1", map[string]string{"tier": "app"}, "10.0.2.10")
	target, state := compile(t, policy)
	p, _ := New(setup, target, "test", DefaultQuotas)
	ctx := context.Background()
	apply := func(p *Provider, st *model.DesiredState) {
		t.Helper()
		must(t, planned(t, p, st).Apply(ctx, p))
	}
	apply(p, state)

	nextState := nextState(t)

	rec := &callRecorder{base: ec2emu.HTTPClient().Transport}
	client := ec2.New(ec2.Options{Region: "us-east-1", BaseEndpoint: setup.Options().BaseEndpoint,
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""), HTTPClient: &http.Client{Transport: rec}})
	p2, _ := New(client, target, "test", DefaultQuotas)
	apply(p2, nextState)

	lastGrant, firstTake := -1, len(rec.actions)
	clearing := false // revoking the default egress of the groups just created
	for i, a := range rec.actions {
		switch {
		case a == "DescribeSecurityGroupRules" && i > 0 && rec.actions[i-1] == "CreateSecurityGroup":
			clearing = true
			continue
		case a == "RevokeSecurityGroupEgress" && clearing:
			continue // no member carries these groups yet
		}
		clearing = false
		switch {
		case a == "CreateSecurityGroup" || strings.HasPrefix(a, "AuthorizeSecurityGroup") || a == "ModifyNetworkInterfaceAttribute":
			lastGrant = i
		case strings.HasPrefix(a, "RevokeSecurityGroup") || a == "DeleteSecurityGroup":
			firstTake = min(firstTake, i)
		}
	}
	if lastGrant < 0 || firstTake == len(rec.actions) {
		t.Fatalf("the change neither granted nor took away: %v", rec.actions)
	}
	if lastGrant > firstTake {
		t.Errorf("a grant came after a removal: %v", rec.actions)
	}
}
