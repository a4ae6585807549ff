package armemu_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v8"

	"github.com/microseg/microseg/test/armemu"
)

// putNIC replaces a NIC and waits for it.
func (e *env) putNIC(t *testing.T, n armnetwork.Interface) (armnetwork.Interface, error) {
	t.Helper()
	p, err := e.nics.BeginCreateOrUpdate(ctx(t), rg, *n.Name, n, nil)
	if err != nil {
		return armnetwork.Interface{}, err
	}
	res, err := p.PollUntilDone(ctx(t), frequent)
	return res.Interface, err
}

// A NIC's application security groups are changed by a GET, an edit and a PUT
// of the whole interface, as the SDK does it.
func TestNICApplicationSecurityGroups(t *testing.T) {
	e := newEnv(t, armemu.Options{})
	e.emu.AddVM(rg, "vm-web-1", map[string]string{"role": "web"})
	e.emu.AddNIC(rg, "nic-web-1", armemu.NICSpec{VM: "vm-web-1", Subnet: e.subnet, Addresses: []string{"10.0.1.4", "10.0.1.5"}})
	web, db := e.createASG(t, "asg-web"), e.createASG(t, "asg-db")

	got, err := e.nics.Get(ctx(t), rg, "nic-web-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	n := got.Interface
	ic := n.Properties.IPConfigurations
	if !upperRG(*n.Properties.VirtualMachine.ID) || !upperRG(*ic[0].Properties.Subnet.ID) || upperRG(*n.ID) {
		t.Errorf("references should carry RG-PROD, the NIC's own ID rg-prod: vm %s subnet %s id %s",
			*n.Properties.VirtualMachine.ID, *ic[0].Properties.Subnet.ID, *n.ID)
	}
	if *ic[0].Properties.PrivateIPAddress != "10.0.1.4" || !*ic[0].Properties.Primary || !strings.HasPrefix(*n.Properties.MacAddress, "00-0D-3A-") {
		t.Errorf("NIC as seeded: %s primary %v mac %s", *ic[0].Properties.PrivateIPAddress, *ic[0].Properties.Primary, *n.Properties.MacAddress)
	}

	// Azure wants the same groups on every IPv4 configuration.
	ic[0].Properties.ApplicationSecurityGroups = []*armnetwork.ApplicationSecurityGroup{{ID: to.Ptr(web)}}
	_, err = e.putNIC(t, n)
	wantCode(t, err, http.StatusBadRequest, armemu.CodeASGsDifferPerIPConfig)
	ic[1].Properties.ApplicationSecurityGroups = []*armnetwork.ApplicationSecurityGroup{{ID: to.Ptr(strings.Replace(web, "asg-web", "asg-gone", 1))}}
	_, err = e.putNIC(t, n)
	wantCode(t, err, http.StatusBadRequest, armemu.CodeInvalidResourceReference)
	if asgs := e.emu.NICASGs(rg, "nic-web-1"); len(asgs) != 0 {
		t.Fatalf("refused PUTs changed the NIC: %v", asgs)
	}

	for _, c := range ic {
		c.Properties.ApplicationSecurityGroups = []*armnetwork.ApplicationSecurityGroup{{ID: to.Ptr(web)}, {ID: to.Ptr(db)}}
	}
	updated, err := e.putNIC(t, n)
	if err != nil {
		t.Fatal(err)
	}
	if asgs := e.emu.NICASGs(rg, "nic-web-1"); strings.Join(asgs, " ") != db+" "+web {
		t.Errorf("NIC ASGs %v, want %s %s", asgs, db, web)
	}
	refs := updated.Properties.IPConfigurations[1].Properties.ApplicationSecurityGroups
	if len(refs) != 2 || !upperRG(*refs[0].ID) || !strings.EqualFold(*refs[0].ID, web) {
		t.Errorf("ASG references in the response: %v", refs)
	}
	if *updated.Properties.IPConfigurations[1].Properties.PrivateIPAddress != "10.0.1.5" || *updated.Etag == *n.Etag {
		t.Errorf("update lost the address or kept the etag: %+v", updated.Properties.IPConfigurations[1].Properties)
	}
}

// 250 interfaces come in pages of 100 with an absolute nextLink.
func TestNICPaging(t *testing.T) {
	e := newEnv(t, armemu.Options{})
	for i := 0; i < 250; i++ {
		e.emu.AddNIC(rg, fmt.Sprintf("nic-%03d", i), armemu.NICSpec{Subnet: e.subnet, Addresses: []string{fmt.Sprintf("10.0.%d.%d", 2+i/200, 4+i%200)}})
	}
	var names []string
	pages := 0
	pager := e.nics.NewListPager(rg, nil)
	for pager.More() {
		page, err := pager.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if page.NextLink != nil && !strings.HasPrefix(*page.NextLink, e.srv.URL+"/subscriptions/") {
			t.Errorf("nextLink %s is not an absolute URL on the emulator", *page.NextLink)
		}
		for _, n := range page.Value {
			names = append(names, *n.Name)
		}
	}
	if pages != 3 || len(names) != 250 || names[0] != "nic-000" || names[249] != "nic-249" {
		t.Errorf("%d pages, %d NICs (%v...)", pages, len(names), names[:3])
	}
	if c := e.emu.Calls()["LIST networkInterfaces"]; c != 3 {
		t.Errorf("LIST networkInterfaces = %d, want 3", c)
	}
}

// An application security group in use by an IP configuration or a rule
// cannot be deleted; one not in use can, and deleting it again is a no-op.
func TestDeleteASG(t *testing.T) {
	e := newEnv(t, armemu.Options{})
	e.emu.AddNIC(rg, "nic-1", armemu.NICSpec{Subnet: e.subnet, Addresses: []string{"10.0.1.4"}})
	web, db, spare := e.createASG(t, "asg-web"), e.createASG(t, "asg-db"), e.createASG(t, "asg-spare")
	got, err := e.nics.Get(ctx(t), rg, "nic-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	got.Properties.IPConfigurations[0].Properties.ApplicationSecurityGroups = []*armnetwork.ApplicationSecurityGroup{{ID: to.Ptr(web)}}
	if _, err := e.putNIC(t, got.Interface); err != nil {
		t.Fatal(err)
	}
	rule := tcpRule("to-db", 100, "10.0.0.0/8", "5432")
	rule.Properties.DestinationAddressPrefix = nil
	rule.Properties.DestinationApplicationSecurityGroups = []*armnetwork.ApplicationSecurityGroup{{ID: to.Ptr(db)}}
	if _, err := e.putNSG(ctx(t), "nsg-app", rule); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"asg-web", "asg-db"} {
		_, err := e.asgs.BeginDelete(ctx(t), rg, name, nil)
		wantCode(t, err, http.StatusBadRequest, armemu.CodeASGInUse)
	}
	for i := 0; i < 2; i++ { // the second delete finds nothing: 204
		p, err := e.asgs.BeginDelete(ctx(t), rg, "asg-spare", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.PollUntilDone(ctx(t), frequent); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.emu.ASGs(rg); strings.Join(got, " ") != db+" "+web {
		t.Errorf("ASGs after deletes: %v (deleted %s)", got, spare)
	}
}

// A subnet takes an existing NSG by a PUT of the whole subnet; the NSG then
// lists the subnet and cannot be deleted.
func TestSubnetNSG(t *testing.T) {
	e := newEnv(t, armemu.Options{})
	nsg, err := e.putNSG(ctx(t), "nsg-app")
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.subnets.Get(ctx(t), rg, "vnet-prod", "app", nil)
	if err != nil {
		t.Fatal(err)
	}
	sn := got.Subnet
	sn.Properties.NetworkSecurityGroup = &armnetwork.SecurityGroup{ID: to.Ptr(strings.Replace(*nsg.ID, "nsg-app", "nsg-gone", 1))}
	put := func() error {
		p, err := e.subnets.BeginCreateOrUpdate(ctx(t), rg, "vnet-prod", "app", sn, nil)
		if err == nil {
			_, err = p.PollUntilDone(ctx(t), frequent)
		}
		return err
	}
	wantCode(t, put(), http.StatusBadRequest, armemu.CodeInvalidResourceReference)
	sn.Properties.NetworkSecurityGroup = &armnetwork.SecurityGroup{ID: nsg.ID}
	if err := put(); err != nil {
		t.Fatal(err)
	}
	if got := e.emu.SubnetNSG(rg, "vnet-prod", "app"); got != *nsg.ID {
		t.Errorf("subnet NSG %q, want %q", got, *nsg.ID)
	}
	read, err := e.nsgs.Get(ctx(t), rg, "nsg-app", nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := read.Properties.Subnets; len(s) != 1 || !upperRG(*s[0].ID) || !strings.HasSuffix(*s[0].ID, "/virtualNetworks/vnet-prod/subnets/app") {
		t.Errorf("NSG subnets %v", s)
	}
	_, err = e.nsgs.BeginDelete(ctx(t), rg, "nsg-app", nil)
	wantCode(t, err, http.StatusBadRequest, armemu.CodeNSGInUse)
}

// Virtual machines are read-only, with their tags and interfaces.
func TestVirtualMachines(t *testing.T) {
	e := newEnv(t, armemu.Options{})
	e.emu.AddVM(rg, "vm-1", map[string]string{"app": "shop"})
	nicID := e.emu.AddNIC(rg, "nic-1", armemu.NICSpec{VM: "vm-1", Subnet: e.subnet, Addresses: []string{"10.0.1.4"}})
	path := "/subscriptions/" + armemu.DefaultSubscriptionID + "/resourceGroups/" + rg + "/providers/Microsoft.Compute/virtualMachines"
	status, _, body := e.raw(t, http.MethodGet, path+"?api-version=2024-07-01", "")
	var list struct {
		Value []struct {
			Name       string
			Tags       map[string]string
			Properties struct {
				NetworkProfile struct{ NetworkInterfaces []struct{ ID string } }
			}
		}
	}
	if err := json.Unmarshal(body, &list); err != nil || status != http.StatusOK || len(list.Value) != 1 {
		t.Fatalf("list VMs: %d %v %s", status, err, body)
	}
	vm := list.Value[0]
	nics := vm.Properties.NetworkProfile.NetworkInterfaces
	if vm.Name != "vm-1" || vm.Tags["app"] != "shop" || len(nics) != 1 || !strings.EqualFold(nics[0].ID, nicID) || !upperRG(nics[0].ID) {
		t.Errorf("VM %+v", vm)
	}
	if status, code, _ := e.raw(t, http.MethodPut, path+"/vm-1?api-version=2024-07-01", ""); status != http.StatusMethodNotAllowed {
		t.Errorf("PUT of a VM: %d %s, want 405", status, code)
	}
	_, err := e.nics.BeginDelete(ctx(t), rg, "nic-1", nil)
	wantCode(t, err, http.StatusBadRequest, armemu.CodeNICInUse)
}

// An IP configuration takes at most 20 application security groups.
func TestNICASGLimit(t *testing.T) {
	e := newEnv(t, armemu.Options{})
	e.emu.AddNIC(rg, "nic-1", armemu.NICSpec{Subnet: e.subnet, Addresses: []string{"10.0.1.4"}})
	web := e.createASG(t, "asg-web")
	got, err := e.nics.Get(ctx(t), rg, "nic-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	var asgs []*armnetwork.ApplicationSecurityGroup
	for i := 0; i < 21; i++ {
		asgs = append(asgs, &armnetwork.ApplicationSecurityGroup{ID: to.Ptr(web)})
	}
	got.Properties.IPConfigurations[0].Properties.ApplicationSecurityGroups = asgs
	_, err = e.putNIC(t, got.Interface)
	wantCode(t, err, http.StatusBadRequest, armemu.CodeASGsPerIPConfigLimit)
	if n := len(e.emu.NICASGs(rg, "nic-1")); n != 0 {
		t.Errorf("a refused PUT gave the NIC %d ASGs", n)
	}
}
