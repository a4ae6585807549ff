package armemu_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v8"

	"github.com/microseg/microseg/test/armemu"
)

// At 30% throttling, azcore's retry policy (MaxRetries 10) still completes a
// whole set-up: the 429s happened and the state is right.
func TestThrottlingIsRetried(t *testing.T) {
	e := newEnv(t, armemu.Options{Throttle: 0.3, Seed: 42})
	web := e.createASG(t, "asg-web")
	for i := 0; i < 5; i++ {
		r := tcpRule("r", 100+int32(i), "10.0.0.0/8", "22")
		r.Name = to.Ptr("r" + string(rune('a'+i)))
		r.Properties.DestinationAddressPrefix = nil
		r.Properties.DestinationApplicationSecurityGroups = []*armnetwork.ApplicationSecurityGroup{{ID: to.Ptr(web)}}
		if _, err := e.putNSG(ctx(t), "nsg-app", r); err != nil {
			t.Fatalf("PUT %d: %v", i, err)
		}
	}
	pager := e.nsgs.NewListPager(rg, nil)
	for pager.More() {
		if _, err := pager.NextPage(ctx(t)); err != nil {
			t.Fatal(err)
		}
	}
	if e.status.count(http.StatusTooManyRequests) == 0 {
		t.Error("no call was throttled")
	}
	if snap, ok := e.emu.NSG(rg, "nsg-app"); !ok || len(snap.Rules) != 1 || snap.Rules[0].Name != "re" {
		t.Errorf("final NSG %+v", snap)
	}
}

// 500 and 503 are retried too.
func TestServerErrorsAreRetried(t *testing.T) {
	e := newEnv(t, armemu.Options{ServerError: 0.4, Seed: 3})
	for _, name := range []string{"a", "b", "c", "d"} {
		e.createASG(t, "asg-"+name)
	}
	if e.status.count(http.StatusInternalServerError)+e.status.count(http.StatusServiceUnavailable) == 0 {
		t.Error("no call failed with 500 or 503")
	}
	if n := len(e.emu.ASGs(rg)); n != 4 {
		t.Errorf("%d ASGs, want 4", n)
	}
}

// A 409 AnotherOperationInProgress is not retried by azcore: it reaches the
// caller, and the faulted write changed nothing. Reads are never answered 409.
func TestConflictFault(t *testing.T) {
	e := newEnv(t, armemu.Options{Conflict: 1})
	_, err := e.asgs.BeginCreateOrUpdate(ctx(t), rg, "asg-web", armnetwork.ApplicationSecurityGroup{Location: to.Ptr(location)}, nil)
	wantCode(t, err, http.StatusConflict, armemu.CodeAnotherOperationInProgress)
	if n := len(e.emu.ASGs(rg)); n != 0 {
		t.Errorf("a faulted PUT created %d ASGs", n)
	}
	_, err = e.asgs.Get(ctx(t), rg, "asg-web", nil)
	wantCode(t, err, http.StatusNotFound, armemu.CodeResourceNotFound)
	e.emu.SetFaults(0, 0, 0)
	e.createASG(t, "asg-web")
	if c := e.emu.Calls()["PUT applicationSecurityGroups"]; c != 2 {
		t.Errorf("PUT applicationSecurityGroups = %d, want 2", c)
	}
}

// With PollsInProgress 1 the SDK polls twice, then GETs the resource it
// returns; a DELETE's Location URL answers 202 then 204.
func TestLongRunningOperations(t *testing.T) {
	e := newEnv(t, armemu.Options{PollsInProgress: 1})
	start := time.Now()
	p, err := e.nsgs.BeginCreateOrUpdate(ctx(t), rg, "nsg-app", armnetwork.SecurityGroup{Location: to.Ptr(location),
		Properties: &armnetwork.SecurityGroupPropertiesFormat{SecurityRules: []*armnetwork.SecurityRule{tcpRule("ssh", 100, "10.0.0.0/8", "22")}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Done() {
		t.Fatal("the poller is done before polling")
	}
	res, err := p.PollUntilDone(ctx(t), frequent)
	if err != nil {
		t.Fatal(err)
	}
	if *res.Properties.ProvisioningState != armnetwork.ProvisioningStateSucceeded || *res.Properties.SecurityRules[0].Name != "ssh" {
		t.Errorf("final NSG: %s %v", *res.Properties.ProvisioningState, res.Properties.SecurityRules)
	}
	c := e.emu.Calls()
	if c["POLL operations"] != 2 || c["GET networkSecurityGroups"] != 1 || time.Since(start) < time.Second {
		t.Errorf("calls %v after %v: want 2 polls (Retry-After 1s between) and one final GET", c, time.Since(start))
	}

	e.emu.ResetCalls()
	del, err := e.nsgs.BeginDelete(ctx(t), rg, "nsg-app", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := del.PollUntilDone(ctx(t), frequent); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.emu.NSG(rg, "nsg-app"); ok || e.emu.Calls()["POLL operations"] != 2 {
		t.Errorf("after delete: calls %v", e.emu.Calls())
	}
}

// The Location URL of a DELETE answers 202 while in progress, then 204, for a
// client that polls it by hand.
func TestDeleteLocationURL(t *testing.T) {
	e := newEnv(t, armemu.Options{PollsInProgress: 1})
	if _, err := e.putNSG(ctx(t), "nsg-app"); err != nil {
		t.Fatal(err)
	}
	r := e.do(t, http.MethodDelete, nsgPath("nsg-app")+"?api-version=2025-03-01", "")
	loc := r.header.Get("Location")
	if r.status != http.StatusAccepted || !strings.HasPrefix(loc, e.srv.URL+"/subscriptions/") || r.header.Get("Azure-AsyncOperation") == "" {
		t.Fatalf("DELETE: %d, Location %q", r.status, loc)
	}
	for i, want := range []int{http.StatusAccepted, http.StatusNoContent} {
		if status, _, _ := e.raw(t, http.MethodGet, strings.TrimPrefix(loc, e.srv.URL), ""); status != want {
			t.Errorf("poll %d of %s: %d, want %d", i, loc, status, want)
		}
	}
	if c := e.emu.Calls()["POLL operationResults"]; c != 2 {
		t.Errorf("POLL operationResults = %d, want 2", c)
	}
}
