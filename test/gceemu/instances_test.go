package gceemu_test

import (
	"net/http"
	"reflect"
	"sort"
	"testing"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/api/iterator"
	"google.golang.org/protobuf/proto"

	"github.com/microseg/microseg/test/gceemu"
)

func seedInstances(t *testing.T, e *env) {
	t.Helper()
	for _, in := range []struct {
		zone, name string
		spec       gceemu.InstanceSpec
	}{
		{zoneA, "web-1", gceemu.InstanceSpec{Labels: map[string]string{"env": "prod"}, Tags: []string{"web"}, IP: "10.128.0.10", ServiceAccount: "web@p.iam.gserviceaccount.com"}},
		{zoneA, "web-2", gceemu.InstanceSpec{Labels: map[string]string{"env": "prod"}, IPv6: "fd20::10"}},
		{zoneB, "db-1", gceemu.InstanceSpec{Labels: map[string]string{"env": "prod"}, Status: "STOPPED"}},
		{zoneB, "dev-1", gceemu.InstanceSpec{Labels: map[string]string{"env": "dev"}}},
	} {
		if err := e.emu.AddInstance(in.zone, in.name, in.spec); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAggregatedListAcrossZones(t *testing.T) {
	e := newEnv(t, gceemu.Options{})
	seedInstances(t, e)
	aggregate := func(filter string) map[string][]string {
		req := &computepb.AggregatedListInstancesRequest{Project: project, MaxResults: proto.Uint32(1)}
		if filter != "" {
			req.Filter = proto.String(filter)
		}
		out := map[string][]string{}
		it := e.instances.AggregatedList(ctx(t), req)
		for {
			pair, err := it.Next()
			if err == iterator.Done {
				return out
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, in := range pair.Value.Instances {
				out[pair.Key] = append(out[pair.Key], in.GetName())
			}
		}
	}
	e.emu.ResetCalls()
	got := aggregate("")
	want := map[string][]string{"zones/" + zoneA: {"web-1", "web-2"}, "zones/" + zoneB: {"db-1", "dev-1"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("aggregated: %v", got)
	}
	if n := e.emu.Calls()["AGGREGATED instances"]; n != 4 {
		t.Fatalf("%d pages, want 4", n)
	}
	got = aggregate("labels.env = prod")
	if len(got["zones/"+zoneA]) != 2 || !reflect.DeepEqual(got["zones/"+zoneB], []string{"db-1"}) {
		t.Fatalf("prod: %v", got)
	}
	inst, err := e.instances.Get(ctx(t), &computepb.GetInstanceRequest{Project: project, Zone: zoneA, Instance: "web-1"})
	if err != nil {
		t.Fatal(err)
	}
	nic := inst.NetworkInterfaces[0]
	if nic.GetNetwork() != defaultNet || nic.GetNetworkIP() != "10.128.0.10" || inst.GetStatus() != "RUNNING" ||
		inst.ServiceAccounts[0].GetEmail() != "web@p.iam.gserviceaccount.com" || !reflect.DeepEqual(inst.Tags.Items, []string{"web"}) ||
		inst.GetZone() != "https://www.googleapis.com/compute/v1/projects/"+project+"/zones/"+zoneA {
		t.Fatalf("instance: %v", inst)
	}
	var names []string
	it := e.instances.List(ctx(t), &computepb.ListInstancesRequest{Project: project, Zone: zoneB})
	for {
		in, err := it.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, in.GetName())
	}
	sort.Strings(names)
	if !reflect.DeepEqual(names, []string{"db-1", "dev-1"}) {
		t.Fatalf("list %s: %v", zoneB, names)
	}
}

func (e *env) setTags(t *testing.T, zone, name, fingerprint string, tags ...string) error {
	t.Helper()
	op, err := e.instances.SetTags(ctx(t), &computepb.SetTagsInstanceRequest{Project: project, Zone: zone, Instance: name,
		TagsResource: &computepb.Tags{Items: tags, Fingerprint: proto.String(fingerprint)}})
	if err != nil {
		return err
	}
	return op.Wait(ctx(t))
}

func (e *env) fingerprint(t *testing.T, zone, name string) string {
	t.Helper()
	in, err := e.instances.Get(ctx(t), &computepb.GetInstanceRequest{Project: project, Zone: zone, Instance: name})
	if err != nil {
		t.Fatal(err)
	}
	return in.GetTags().GetFingerprint()
}

func TestSetTagsFingerprint(t *testing.T) {
	e := newEnv(t, gceemu.Options{})
	seedInstances(t, e)
	stale := e.fingerprint(t, zoneA, "web-1")
	if err := e.emu.SetInstanceTags(zoneA, "web-1", []string{"web", "other-writer"}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, e.setTags(t, zoneA, "web-1", stale, "web", "ms-app"), http.StatusPreconditionFailed, gceemu.ReasonConditionNotMet)
	fresh := e.fingerprint(t, zoneA, "web-1")
	if fresh == stale {
		t.Fatal("fingerprint did not move")
	}
	if err := e.setTags(t, zoneA, "web-1", fresh, "web", "other-writer", "ms-app"); err != nil {
		t.Fatal(err)
	}
	if got := e.emu.InstanceTags(zoneA, "web-1"); !reflect.DeepEqual(got, []string{"web", "other-writer", "ms-app"}) {
		t.Fatalf("tags: %v", got)
	}
	if e.fingerprint(t, zoneA, "web-1") == fresh {
		t.Fatal("fingerprint did not move after setTags")
	}
	many := make([]string, 65)
	for i := range many {
		many[i] = "t" + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	wantErr(t, e.setTags(t, zoneA, "web-1", e.fingerprint(t, zoneA, "web-1"), many...), 413, gceemu.ReasonFieldSizeTooLarge)
	wantErr(t, e.setTags(t, zoneA, "web-1", e.fingerprint(t, zoneA, "web-1"), "Not_A_Tag"), 400, gceemu.ReasonInvalid)
	wantErr(t, e.setTags(t, zoneA, "nope", "x"), 404, gceemu.ReasonNotFound)
}

func TestSetTagsRaceFailsInsideOperation(t *testing.T) {
	e := newEnv(t, gceemu.Options{})
	seedInstances(t, e)
	if err := e.emu.FailNextSetTags(zoneB, "db-1"); err != nil {
		t.Fatal(err)
	}
	fp := e.fingerprint(t, zoneB, "db-1")
	op, err := e.instances.SetTags(ctx(t), &computepb.SetTagsInstanceRequest{Project: project, Zone: zoneB, Instance: "db-1",
		TagsResource: &computepb.Tags{Items: []string{"db"}, Fingerprint: proto.String(fp)}})
	if err != nil {
		t.Fatalf("the call itself succeeds: %v", err)
	}
	err = op.Wait(ctx(t))
	g := apiErr(t, err)
	if g.Code != http.StatusPreconditionFailed {
		t.Fatalf("wait: %v", err)
	}
	pe := op.Proto().GetError().GetErrors()
	if len(pe) != 1 || pe[0].GetCode() != gceemu.OperationErrorConditionNotMet || op.Proto().GetStatus() != computepb.Operation_DONE {
		t.Fatalf("operation: %v", op.Proto())
	}
	if got := e.emu.InstanceTags(zoneB, "db-1"); len(got) != 0 {
		t.Fatalf("tags changed: %v", got)
	}
	if e.fingerprint(t, zoneB, "db-1") == fp {
		t.Fatal("fingerprint should have moved")
	}
}

func TestOperationWaitPollsUntilDone(t *testing.T) {
	e := newEnv(t, gceemu.Options{PollsUntilDone: 1})
	op, err := e.firewalls.Insert(ctx(t), &computepb.InsertFirewallRequest{Project: project, FirewallResource: ssh("slow")})
	if err != nil {
		t.Fatal(err)
	}
	if op.Done() {
		t.Fatal("operation should be RUNNING")
	}
	e.emu.ResetCalls()
	start := time.Now()
	if err := op.Wait(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if n := e.emu.Calls()["GET operations"]; n != 2 || !op.Done() {
		t.Fatalf("%d gets, done %v", n, op.Done())
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("wait took %v", d)
	}
	// The zonal wait endpoint answers DONE at once.
	e.emu.SetPollsUntilDone(5)
	seedInstances(t, e)
	zop, err := e.instances.SetTags(ctx(t), &computepb.SetTagsInstanceRequest{Project: project, Zone: zoneB, Instance: "dev-1",
		TagsResource: &computepb.Tags{Items: []string{"dev"}, Fingerprint: proto.String(e.fingerprint(t, zoneB, "dev-1"))}})
	if err != nil {
		t.Fatal(err)
	}
	done, err := e.zoneOps.Wait(ctx(t), &computepb.WaitZoneOperationRequest{Project: project, Zone: zoneB, Operation: zop.Name()})
	if err != nil || done.GetStatus() != computepb.Operation_DONE {
		t.Fatalf("wait: %v %v", done, err)
	}
	_, err = e.globalOps.Get(ctx(t), &computepb.GetGlobalOperationRequest{Project: project, Operation: zop.Name()})
	wantErr(t, err, 404, gceemu.ReasonNotFound)
}
