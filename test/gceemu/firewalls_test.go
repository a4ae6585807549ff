package gceemu_test

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/api/iterator"
	"google.golang.org/protobuf/proto"

	"github.com/microseg/microseg/test/gceemu"
)

const defaultNet = "https://www.googleapis.com/compute/v1/projects/" + project + "/global/networks/default"

func TestInsertGetAppliesGCPDefaults(t *testing.T) {
	e := newEnv(t, gceemu.Options{})
	if err := e.insert(t, ssh("allow-ssh")); err != nil {
		t.Fatal(err)
	}
	got, err := e.firewalls.Get(ctx(t), &computepb.GetFirewallRequest{Project: project, Firewall: "allow-ssh"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.SourceRanges, []string{"0.0.0.0/0"}) || got.GetNetwork() != defaultNet ||
		got.GetPriority() != 1000 || got.GetDirection() != "INGRESS" || got.GetDisabled() || got.GetLogConfig().GetEnable() ||
		got.GetKind() != "compute#firewall" || got.GetId() == 0 || got.GetCreationTimestamp() == "" ||
		got.GetSelfLink() != "https://www.googleapis.com/compute/v1/projects/"+project+"/global/firewalls/allow-ssh" {
		t.Fatalf("stored rule: %v", got)
	}
	if got.LogConfig == nil || got.Disabled == nil {
		t.Fatalf("logConfig and disabled should be present: %v", got)
	}
	calls := e.emu.Calls()
	if calls["POST token"] != 1 || calls["INSERT firewalls"] != 1 || calls["GET operations"] != 1 || calls["GET firewalls"] != 1 {
		t.Fatalf("calls: %v", calls)
	}
	view, ok := e.emu.Firewall("allow-ssh")
	if !ok || view.Network != defaultNet || !reflect.DeepEqual(view.Allowed, []gceemu.Rule{{Protocol: "tcp", Ports: []string{"22"}}}) {
		t.Fatalf("view: %+v", view)
	}
}

func TestInsertEgressDefaultsDestination(t *testing.T) {
	e := newEnv(t, gceemu.Options{})
	fw := ssh("deny-out")
	fw.Allowed, fw.Denied = nil, []*computepb.Denied{{IPProtocol: proto.String("all")}}
	fw.Direction = proto.String("EGRESS")
	fw.Priority = proto.Int32(0)
	if err := e.insert(t, fw); err != nil {
		t.Fatal(err)
	}
	v, _ := e.emu.Firewall("deny-out")
	if !reflect.DeepEqual(v.DestinationRanges, []string{"0.0.0.0/0"}) || v.SourceRanges != nil || v.Priority != 0 {
		t.Fatalf("egress rule: %+v", v)
	}
}

func TestDuplicateInsertIsAlreadyExists(t *testing.T) {
	e := newEnv(t, gceemu.Options{})
	if err := e.insert(t, ssh("dup")); err != nil {
		t.Fatal(err)
	}
	wantErr(t, e.insert(t, ssh("dup")), http.StatusConflict, gceemu.ReasonAlreadyExists)
}

func TestValidation(t *testing.T) {
	e := newEnv(t, gceemu.Options{MaxTargetTags: 3})
	cases := []struct {
		name   string
		change func(*computepb.Firewall)
		code   int
		reason string
		msg    string
	}{
		{"mixed families", func(f *computepb.Firewall) { f.SourceRanges = []string{"10.0.0.0/8", "2001:db8::/32"} }, 400, gceemu.ReasonInvalid, "'resource.sourceRanges[1]'"},
		{"host bits", func(f *computepb.Firewall) { f.SourceRanges = []string{"10.0.0.1/8"} }, 400, gceemu.ReasonInvalid, "'10.0.0.1/8'"},
		{"bad name", func(f *computepb.Firewall) { f.Name = proto.String("Bad_Name") }, 400, gceemu.ReasonInvalid, "'resource.name'"},
		{"long name", func(f *computepb.Firewall) { f.Name = proto.String("a" + fmt.Sprintf("%063d", 0)) }, 400, gceemu.ReasonInvalid, "'resource.name'"},
		{"priority", func(f *computepb.Firewall) { f.Priority = proto.Int32(65536) }, 400, gceemu.ReasonInvalid, "less than or equal to 65535"},
		{"ports on icmp", func(f *computepb.Firewall) { f.Allowed[0].IPProtocol = proto.String("icmp") }, 400, gceemu.ReasonInvalid, "Ports may only be specified"},
		{"bad protocol", func(f *computepb.Firewall) { f.Allowed[0].IPProtocol = proto.String("ipv6-icmp") }, 400, gceemu.ReasonInvalid, "IP protocol number between 0 and 255"},
		{"bad port", func(f *computepb.Firewall) { f.Allowed[0].Ports = []string{"80-70"} }, 400, gceemu.ReasonInvalid, "'80-70'"},
		{"allowed and denied", func(f *computepb.Firewall) { f.Denied = []*computepb.Denied{{IPProtocol: proto.String("udp")}} }, 400, gceemu.ReasonInvalid, "either allowed or denied"},
		{"neither", func(f *computepb.Firewall) { f.Allowed = nil }, 400, gceemu.ReasonRequired, "Required field 'resource.allowed'"},
		{"egress source tags", func(f *computepb.Firewall) { f.Direction = proto.String("EGRESS"); f.SourceTags = []string{"web"} }, 400, gceemu.ReasonInvalid, "EGRESS"},
		{"tags and accounts", func(f *computepb.Firewall) {
			f.TargetTags = []string{"web"}
			f.SourceServiceAccounts = []string{"a@p.iam.gserviceaccount.com"}
		}, 400, gceemu.ReasonInvalid, "network tags"},
		{"bad account", func(f *computepb.Firewall) { f.TargetServiceAccounts = []string{"nobody"} }, 400, gceemu.ReasonInvalid, "RFC 822"},
		{"too many tags", func(f *computepb.Firewall) { f.TargetTags = []string{"a", "b", "c", "d"} }, 413, gceemu.ReasonFieldSizeTooLarge, "maximum size 3 element(s); actual size 4"},
		{"bare network name", func(f *computepb.Firewall) { f.Network = proto.String("default") }, 400, gceemu.ReasonInvalid, "malformed"},
		{"missing network", func(f *computepb.Firewall) { f.Network = proto.String("global/networks/nope") }, 404, gceemu.ReasonNotFound, "networks/nope' was not found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fw := ssh("rule")
			c.change(fw)
			err := e.insert(t, fw)
			wantErr(t, err, c.code, c.reason)
			if !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("message %q lacks %q", err, c.msg)
			}
		})
	}
	if n := len(e.emu.Firewalls()); n != 0 {
		t.Fatalf("%d rules stored by refused inserts", n)
	}
}

func TestQuotaAndProjectUsage(t *testing.T) {
	e := newEnv(t, gceemu.Options{FirewallQuota: 2})
	for i := 0; i < 2; i++ {
		if err := e.insert(t, ssh(fmt.Sprintf("r%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	// Over quota, the insert itself succeeds and its operation fails.
	op, err := e.firewalls.Insert(ctx(t), &computepb.InsertFirewallRequest{Project: project, FirewallResource: ssh("r2")})
	if err != nil {
		t.Fatalf("insert: %v", err)
	}
	if g := apiErr(t, op.Wait(ctx(t))); g.Code != http.StatusForbidden {
		t.Fatalf("wait: %v", g)
	}
	if errs := op.Proto().GetError().GetErrors(); len(errs) != 1 || errs[0].GetCode() != gceemu.OperationErrorQuotaExceeded {
		t.Fatalf("operation: %v", op.Proto())
	}
	if _, ok := e.emu.Firewall("r2"); ok {
		t.Fatal("rule over quota was stored")
	}
	if err := e.emu.AddFirewall(gceemu.Firewall{Name: "r3", Allowed: []gceemu.Rule{{Protocol: "udp"}}}); err == nil {
		t.Fatal("AddFirewall over quota succeeded")
	}
	p, err := e.projects.Get(ctx(t), &computepb.GetProjectRequest{Project: project})
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, q := range p.Quotas {
		if q.GetMetric() == "FIREWALLS" {
			found = q.GetLimit() == 2 && q.GetUsage() == 2
		}
	}
	if !found {
		t.Fatalf("FIREWALLS quota: %v", p.Quotas)
	}
	n, err := e.networks.Get(ctx(t), &computepb.GetNetworkRequest{Project: project, Network: "default"})
	if err != nil || n.GetSelfLink() != defaultNet {
		t.Fatalf("network: %v %v", n, err)
	}
}

func TestPagingAndFilter(t *testing.T) {
	e := newEnv(t, gceemu.Options{})
	for i := 0; i < 250; i++ {
		if err := e.emu.AddFirewall(gceemu.Firewall{Name: fmt.Sprintf("fw-%03d", i), Allowed: []gceemu.Rule{{Protocol: "tcp", Ports: []string{"443"}}}}); err != nil {
			t.Fatal(err)
		}
	}
	list := func(filter string) []string {
		req := &computepb.ListFirewallsRequest{Project: project, MaxResults: proto.Uint32(100)}
		if filter != "" {
			req.Filter = proto.String(filter)
		}
		var names []string
		it := e.firewalls.List(ctx(t), req)
		for {
			fw, err := it.Next()
			if err == iterator.Done {
				return names
			}
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, fw.GetName())
		}
	}
	e.emu.ResetCalls()
	names := list("")
	if len(names) != 250 || names[0] != "fw-000" || names[249] != "fw-249" {
		t.Fatalf("%d names: %v...", len(names), names[:3])
	}
	if n := e.emu.Calls()["LIST firewalls"]; n != 3 {
		t.Fatalf("%d list calls, want 3 pages", n)
	}
	if got := list("name eq 'fw-1.*'"); len(got) != 100 {
		t.Fatalf("name eq: %d", len(got))
	}
	if got := list(`(name = "fw-24*") (network = "` + defaultNet + `")`); len(got) != 10 {
		t.Fatalf("name = with wildcard and network: %d", len(got))
	}
	if got := list("network eq .*/networks/other"); len(got) != 0 {
		t.Fatalf("network eq other: %d", len(got))
	}
	_, err := e.firewalls.List(ctx(t), &computepb.ListFirewallsRequest{Project: project, Filter: proto.String("bogus = 1")}).Next()
	wantErr(t, err, 400, gceemu.ReasonInvalid)
}

func TestPatchMergesAndUpdateReplaces(t *testing.T) {
	e := newEnv(t, gceemu.Options{})
	fw := ssh("web")
	fw.TargetTags = []string{"web"}
	fw.SourceRanges = []string{"10.0.0.0/8"}
	if err := e.insert(t, fw); err != nil {
		t.Fatal(err)
	}
	op, err := e.firewalls.Patch(ctx(t), &computepb.PatchFirewallRequest{Project: project, Firewall: "web",
		FirewallResource: &computepb.Firewall{Priority: proto.Int32(900)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := op.Wait(ctx(t)); err != nil {
		t.Fatal(err)
	}
	v, _ := e.emu.Firewall("web")
	if v.Priority != 900 || !reflect.DeepEqual(v.TargetTags, []string{"web"}) || !reflect.DeepEqual(v.SourceRanges, []string{"10.0.0.0/8"}) {
		t.Fatalf("after patch: %+v", v)
	}
	_, err = e.firewalls.Patch(ctx(t), &computepb.PatchFirewallRequest{Project: project, Firewall: "web",
		FirewallResource: &computepb.Firewall{Direction: proto.String("EGRESS")}})
	wantErr(t, err, 400, gceemu.ReasonInvalid)
	op, err = e.firewalls.Update(ctx(t), &computepb.UpdateFirewallRequest{Project: project, Firewall: "web", FirewallResource: ssh("web")})
	if err != nil {
		t.Fatal(err)
	}
	if err := op.Wait(ctx(t)); err != nil {
		t.Fatal(err)
	}
	v, _ = e.emu.Firewall("web")
	if v.Priority != 1000 || v.TargetTags != nil || !reflect.DeepEqual(v.SourceRanges, []string{"0.0.0.0/0"}) {
		t.Fatalf("after update: %+v", v)
	}
	op, err = e.firewalls.Delete(ctx(t), &computepb.DeleteFirewallRequest{Project: project, Firewall: "web"})
	if err != nil {
		t.Fatal(err)
	}
	if err := op.Wait(ctx(t)); err != nil {
		t.Fatal(err)
	}
	_, err = e.firewalls.Get(ctx(t), &computepb.GetFirewallRequest{Project: project, Firewall: "web"})
	wantErr(t, err, 404, gceemu.ReasonNotFound)
}
