package gceemu_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	compute "cloud.google.com/go/compute/apiv1"
	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
	"google.golang.org/protobuf/proto"

	"github.com/microseg/microseg/test/gceemu"
)

const (
	project = gceemu.DefaultProject
	zoneA   = "us-central1-a"
	zoneB   = "europe-west1-b"
)

// env is one emulator with the real apiv1 REST clients pointed at it, as a
// user points them: the endpoint option, and Application Default Credentials
// from the key file GOOGLE_APPLICATION_CREDENTIALS names.
type env struct {
	srv       *gceemu.Server
	emu       *gceemu.Emulator
	key       string
	firewalls *compute.FirewallsClient
	instances *compute.InstancesClient
	projects  *compute.ProjectsClient
	networks  *compute.NetworksClient
	zoneOps   *compute.ZoneOperationsClient
	globalOps *compute.GlobalOperationsClient
}

func newEnv(t *testing.T, opts gceemu.Options) *env {
	t.Helper()
	srv, err := gceemu.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	key := filepath.Join(t.TempDir(), "key.json")
	if err := gceemu.WriteServiceAccountKey(key, srv.TokenURL); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", key)
	e := &env{srv: srv, emu: srv.Emulator, key: key}
	ctx := context.Background()
	endpoint := option.WithEndpoint(srv.URL)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	e.firewalls, err = compute.NewFirewallsRESTClient(ctx, endpoint)
	must(err)
	e.instances, err = compute.NewInstancesRESTClient(ctx, endpoint)
	must(err)
	e.projects, err = compute.NewProjectsRESTClient(ctx, endpoint)
	must(err)
	e.networks, err = compute.NewNetworksRESTClient(ctx, endpoint)
	must(err)
	e.zoneOps, err = compute.NewZoneOperationsRESTClient(ctx, endpoint)
	must(err)
	e.globalOps, err = compute.NewGlobalOperationsRESTClient(ctx, endpoint)
	must(err)
	t.Cleanup(func() {
		for _, c := range []interface{ Close() error }{e.firewalls, e.instances, e.projects, e.networks, e.zoneOps, e.globalOps} {
			_ = c.Close()
		}
	})
	return e
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// insert creates a rule and waits for its operation.
func (e *env) insert(t *testing.T, fw *computepb.Firewall) error {
	t.Helper()
	op, err := e.firewalls.Insert(ctx(t), &computepb.InsertFirewallRequest{Project: project, FirewallResource: fw})
	if err != nil {
		return err
	}
	return op.Wait(ctx(t))
}

func ssh(name string) *computepb.Firewall {
	return &computepb.Firewall{
		Name:    proto.String(name),
		Network: proto.String("global/networks/default"),
		Allowed: []*computepb.Allowed{{IPProtocol: proto.String("tcp"), Ports: []string{"22"}}},
	}
}

// apiErr unwraps the googleapi.Error the clients return.
func apiErr(t *testing.T, err error) *googleapi.Error {
	t.Helper()
	var g *googleapi.Error
	if !errors.As(err, &g) {
		t.Fatalf("want a googleapi.Error, got %T %v", err, err)
	}
	return g
}

// wantErr checks an error's HTTP code and reason.
func wantErr(t *testing.T, err error, code int, reason string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want error %d %s, got none", code, reason)
	}
	g := apiErr(t, err)
	if g.Code != code || len(g.Errors) == 0 || g.Errors[0].Reason != reason {
		t.Fatalf("want %d %s, got %d %+v (%v)", code, reason, g.Code, g.Errors, err)
	}
}
