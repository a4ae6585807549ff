package test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v8"

	"github.com/microseg/microseg/test/armemu"
)

// TestEngineAzureEndToEnd runs plan, apply, drift, remediation by a reconcile loop
// and break-glass of an azure target through the embedded server and the worker,
// against the ARM emulator over HTTPS, configured as a user configures a private
// cloud: the target's endpoint, a service principal in the environment,
// AZURE_AUTHORITY_HOST and SSL_CERT_FILE.
func TestEngineAzureEndToEnd(t *testing.T) {
	temporal := temporalBin(t)
	srv, err := armemu.NewServer(armemu.Options{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	emu := srv.Emulator
	emu.AddResourceGroup("rg-prod", "westeurope")
	emu.AddVNet("rg-prod", "vnet-prod", []string{"10.0.0.0/16"})
	subnet := emu.AddSubnet("rg-prod", "vnet-prod", "app", "10.0.0.0/20")
	emu.AddVM("rg-prod", "vm-web-1", map[string]string{"tier": "web"})
	emu.AddNIC("rg-prod", "nic-web-1", armemu.NICSpec{VM: "vm-web-1", Subnet: subnet, Addresses: []string{"10.0.1.10"}})
	emu.AddNIC("rg-prod", "nic-app-1", armemu.NICSpec{Tags: map[string]string{"tier": "app"}, Subnet: subnet, Addresses: []string{"10.0.2.10"}})

	dir := t.TempDir()
	policy := fmt.Sprintf(`target "azure" "weu" {
  subscription_id = %q
  resource_group  = "rg-prod"
  location        = "westeurope"
  subnet_ids      = [%q]
  endpoint        = %q
}
network "internet" { cidrs = ["0.0.0.0/0"] }
service "https" { ports = ["tcp/443"] }
service "app" { ports = ["tcp/8080"] }
segment "web" {
  target = target.azure.weu
  members { tags = { tier = "web" } }
}
segment "app" {
  target = target.azure.weu
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
`, emu.SubscriptionID(), subnet, srv.URL)
	if err := os.WriteFile(filepath.Join(dir, "policy.hcl"), []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}
	e := azureEngine(t, temporal, fmt.Sprint(40000+os.Getpid()%10000), srv)

	out, code := e.run("plan", "-detailed-exitcode", dir)
	t.Logf("plan:\n%s", out)
	if code != 2 || !strings.Contains(out, "# weu") || !strings.Contains(out, "+ segment web") ||
		!strings.Contains(out, "+ rule web ingress from 0.0.0.0/0 tcp/443") || !strings.Contains(out, "+ rule web ingress deny all") ||
		!strings.Contains(out, "+ member web nic-web-1/ipconfig1") || !strings.Contains(out, "+ member subnet vnet-prod/app") {
		t.Fatalf("plan = %d:\n%s", code, out)
	}
	emu.ResetCalls()
	out, code = e.run("apply", "-auto-approve", dir)
	if code != 0 || !strings.Contains(out, "weu: ") || !strings.Contains(out, "verified=true") {
		t.Fatalf("apply = %d:\n%s", code, out)
	}
	t.Logf("apply (plan, apply, verify) of a 2-segment target: %d ARM calls %v", sumCalls(emu.Calls()), emu.Calls())
	nsg, ok := emu.NSG("rg-prod", "microseg-weu")
	if !ok || emu.SubnetNSG("rg-prod", "vnet-prod", "app") == "" {
		t.Fatalf("no NSG on the subnet after apply: %+v", nsg)
	}
	if !slices.ContainsFunc(nsg.Rules, func(r armemu.Rule) bool {
		return r.Description == "microseg: web-to-app (owner team-payments, ticket SEC-142)"
	}) {
		t.Errorf("no rule describes web-to-app with its owner and ticket: %+v", nsg.Rules)
	}
	if out, code := e.run("drift", "-detailed-exitcode", dir); code != 0 {
		t.Fatalf("drift after apply = %d:\n%s", code, out)
	}

	// Drift behind microseg's back, through ARM: web's NIC taken out of its ASG.
	nics := nicsClient(t, srv)
	setASGs(t, nics, "nic-web-1")
	out, code = e.run("drift", "-detailed-exitcode", dir)
	if code != 2 || !strings.Contains(out, "+ member web nic-web-1/ipconfig1") {
		t.Fatalf("drift = %d:\n%s", code, out)
	}
	inWeb := func() bool {
		return slices.ContainsFunc(emu.NICASGs("rg-prod", "nic-web-1"), func(id string) bool { return strings.HasSuffix(id, "/microseg-web") })
	}
	// The reconcile loop finds it and puts it right.
	_, workerOut, _ := e.background("worker")
	if out, code := e.run("reconcile", "start", "-target", "weu", "-every", "1s", "-remediate", dir); code != 0 {
		t.Fatalf("reconcile start = %d:\n%s\nworker:\n%s", code, out, workerOut.String())
	}
	waitFor(t, "the reconcile loop puts nic-web-1 back in its ASG", time.Minute, inWeb, workerOut.String)
	waitFor(t, "the reconcile loop records the drift", time.Minute, func() bool {
		out, code = e.run("reconcile", "status", "-target", "weu", dir)
		return code == 0 && strings.Contains(out, "drift")
	}, func() string { return out })
	if out, code := e.run("reconcile", "stop", "-target", "weu", dir); code != 0 {
		t.Fatalf("reconcile stop = %d:\n%s", code, out)
	}

	// Break-glass: the deny rules go (every segment in audit mode) while it is on,
	// and come back after.
	denies := func() int {
		nsg, _ := emu.NSG("rg-prod", "microseg-weu")
		n := 0
		for _, r := range nsg.Rules {
			if r.Access == "Deny" {
				n++
			}
		}
		return n
	}
	// Four: in and out for web and app.
	breakGlassRoundTrip(t, e, "weu", dir, denies, 4, workerOut.String)
}

// breakGlassRoundTrip turns break-glass on for target, waits until denies (the
// target's deny rules) is 0, turns it off, waits until it is want again, and checks
// that the target has no drift and its reconcile loop stops.
func breakGlassRoundTrip(t *testing.T, e engine, target, dir string, denies func() int, want int, worker func() string) {
	t.Helper()
	if n := denies(); n != want {
		t.Fatalf("%d deny rules before break-glass, want %d", n, want)
	}
	if out, code := e.run("breakglass", "on", "-target", target, "-reason", "INC-9 outage", dir); code != 0 {
		t.Fatalf("breakglass on = %d:\n%s", code, out)
	}
	waitFor(t, "break-glass takes the deny rules out", time.Minute, func() bool { return denies() == 0 }, worker)
	if out, code := e.run("breakglass", "off", "-target", target, "-reason", "INC-9 resolved", dir); code != 0 {
		t.Fatalf("breakglass off = %d:\n%s", code, out)
	}
	waitFor(t, "break-glass off puts them back", time.Minute, func() bool { return denies() == want }, worker)
	if out, code := e.run("drift", "-detailed-exitcode", dir); code != 0 {
		t.Fatalf("drift after break-glass off = %d:\n%s", code, out)
	}
	if out, code := e.run("reconcile", "stop", "-target", target, dir); code != 0 {
		t.Fatalf("reconcile stop = %d:\n%s", code, out)
	}
}

// azureEngine starts the embedded server on port for a test of azure targets, with
// the service principal the emulator accepts in the environment, and returns the
// engine to run commands.
func azureEngine(t *testing.T, temporal, port string, srv *armemu.Server) engine {
	var env []string
	for k, v := range srv.Environ() {
		env = append(env, k+"="+v)
	}
	return cloudEngine(t, temporal, port, env...)
}

// cloudEngine starts the embedded server on port, with state of its own and the
// cloud's credential settings in env, and returns the engine to run commands.
func cloudEngine(t *testing.T, temporal, port string, env ...string) engine {
	env = append([]string{
		"MICROSEG_STATE=" + t.TempDir(),
		"MICROSEG_TEMPORAL_BIN=" + temporal,
		"MICROSEG_TEMPORAL_PORT=" + port,
		"TEMPORAL_ADDRESS=",
	}, env...)
	e := engine{cli{t, buildMicroseg(t)}, env, port}
	_, serverOut, _ := e.background("server")
	waitFor(t, "embedded server", time.Minute, func() bool {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, serverOut.String)
	return e
}

// nicsClient is an ARM client for changing NICs by hand, as an operator would.
func nicsClient(t *testing.T, srv *armemu.Server) *armnetwork.InterfacesClient {
	cred, err := azidentity.NewClientSecretCredential(armemu.DefaultTenantID, armemu.DefaultClientID, armemu.DefaultClientSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: azcore.ClientOptions{Cloud: srv.Cloud()}, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	c, err := armnetwork.NewInterfacesClient(srv.Emulator.SubscriptionID(), cred, &arm.ClientOptions{ClientOptions: azcore.ClientOptions{Cloud: srv.Cloud()}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// setASGs sets the ASGs of every ip configuration of a NIC, by a PUT of the NIC.
func setASGs(t *testing.T, nics *armnetwork.InterfacesClient, nic string, ids ...string) {
	ctx := context.Background()
	got, err := nics.Get(ctx, "rg-prod", nic, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, ipc := range got.Properties.IPConfigurations {
		ipc.Properties.ApplicationSecurityGroups = nil
		for _, id := range ids {
			ipc.Properties.ApplicationSecurityGroups = append(ipc.Properties.ApplicationSecurityGroups, &armnetwork.ApplicationSecurityGroup{ID: &id})
		}
	}
	poller, err := nics.BeginCreateOrUpdate(ctx, "rg-prod", nic, got.Interface, nil)
	if err == nil {
		_, err = poller.PollUntilDone(ctx, &runtime.PollUntilDoneOptions{Frequency: time.Second})
	}
	if err != nil {
		t.Fatal(err)
	}
}
