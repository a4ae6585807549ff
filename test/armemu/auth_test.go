package armemu_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/microseg/microseg/test/armemu"
)

// A plain http.Client, without roots of its own, trusts the server once
// SSL_CERT_FILE names WriteCACert's file; one with other roots does not.
func TestTLSTrust(t *testing.T) {
	e := newEnv(t, armemu.Options{})
	resp, err := http.Get(e.srv.URL + "/subscriptions/x")
	if err != nil {
		t.Fatalf("default client refused the emulator: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unauthenticated ARM call: got %d, want 401", resp.StatusCode)
	}
	strict := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: x509.NewCertPool()}}}
	_, err = strict.Get(e.srv.URL + "/subscriptions/x")
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Errorf("a client with empty roots: got %v, want an unknown-authority error", err)
	}
}

// A fresh process given SSL_CERT_FILE trusts the server from its first request.
func TestTLSTrustInFreshProcess(t *testing.T) {
	if url := os.Getenv("ARMEMU_HELPER_URL"); url != "" {
		resp, err := http.Get(url + "/common/discovery/instance")
		if err != nil {
			t.Fatalf("child: %v", err)
		}
		resp.Body.Close()
		return
	}
	e := newEnv(t, armemu.Options{})
	cmd := exec.Command(os.Args[0], "-test.run=^TestTLSTrustInFreshProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "ARMEMU_HELPER_URL="+e.srv.URL)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child process: %v\n%s", err, out)
	}
}

// DefaultAzureCredential, configured by the environment only, gets a token:
// MSAL's instance discovery goes to login.microsoftonline.com through the
// HTTPS_PROXY tunnel, the rest to the authority host.
func TestDefaultCredentialThroughProxy(t *testing.T) {
	e := newEnv(t, armemu.Options{})
	proxy.Emulator.ResetCalls()
	tk, err := e.cred.GetToken(ctx(t), policy.TokenRequestOptions{Scopes: []string{e.srv.URL + "/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tk.Token, "armemu.") {
		t.Errorf("token %q was not issued by the emulator", tk.Token)
	}
	pc, ec := proxy.Emulator.Calls(), e.emu.Calls()
	// Only the tunnel leads to the proxy's emulator for instance discovery. The
	// tunnel's connection is kept alive across tests, so CONNECT is not
	// necessarily counted in this one.
	if pc["GET instance-discovery"] == 0 {
		t.Errorf("proxy calls %v: want instance discovery through the tunnel (MSAL asks twice: cache and resolver)", pc)
	}
	if ec["GET openid-configuration"] != 1 || ec["POST token"] != 1 {
		t.Errorf("emulator calls %v: want one OpenID configuration and one token request", ec)
	}
	// The token opens ARM.
	if status, code, _ := e.raw(t, http.MethodGet, nsgPath("none"), tk.Token); status != http.StatusBadRequest || code != "MissingApiVersionParameter" {
		t.Errorf("ARM call with the token and no api-version: got %d %s", status, code)
	}
}

// With DisableInstanceDiscovery, what Microsoft documents for private clouds,
// no request leaves for login.microsoftonline.com.
func TestCredentialWithoutInstanceDiscovery(t *testing.T) {
	e := newEnv(t, armemu.Options{})
	proxy.Emulator.ResetCalls()
	cred, err := azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cred.GetToken(ctx(t), policy.TokenRequestOptions{Scopes: []string{e.srv.URL + "/.default"}}); err != nil {
		t.Fatal(err)
	}
	if n := len(proxy.Emulator.Calls()); n != 0 {
		t.Errorf("the proxy got calls: %v", proxy.Emulator.Calls())
	}
	if e.emu.Calls()["POST token"] != 1 {
		t.Errorf("emulator calls %v: want one token request", e.emu.Calls())
	}
}

// A wrong client secret is refused as Entra ID refuses it.
func TestWrongClientSecret(t *testing.T) {
	_ = newEnv(t, armemu.Options{ClientSecret: "right"})
	t.Setenv("AZURE_CLIENT_SECRET", "wrong")
	cred, err := azidentity.NewEnvironmentCredential(nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cred.GetToken(ctx(t), policy.TokenRequestOptions{Scopes: []string{"https://management.azure.com/.default"}})
	var af *azidentity.AuthenticationFailedError
	if !errors.As(err, &af) || af.RawResponse == nil || af.RawResponse.StatusCode != http.StatusUnauthorized ||
		!strings.Contains(err.Error(), "AADSTS7000215") {
		t.Fatalf("got %v, want a 401 invalid_client AADSTS7000215", err)
	}
}

// ARM answers authentication, api-version and routing errors with its codes.
func TestARMRequestErrors(t *testing.T) {
	e := newEnv(t, armemu.Options{})
	api := "?api-version=2025-03-01"
	for _, c := range []struct {
		name, method, path, token string
		status                    int
		code                      string
	}{
		{"no token", "GET", nsgPath("x") + api, "none", 401, "AuthenticationFailed"},
		{"bogus token", "GET", nsgPath("x") + api, "-", 401, "InvalidAuthenticationToken"},
		{"no api-version", "GET", nsgPath("x"), "", 400, "MissingApiVersionParameter"},
		{"missing NSG", "GET", nsgPath("x") + api, "", 404, "ResourceNotFound"},
		{"missing group", "GET", strings.Replace(nsgPath("x"), rg, "rg-none", 1) + api, "", 404, "ResourceGroupNotFound"},
		{"other subscription", "GET", strings.Replace(nsgPath("x"), armemu.DefaultSubscriptionID, "00000000-0000-0000-0000-000000000000", 1) + api, "", 404, "SubscriptionNotFound"},
		{"unknown type", "GET", strings.Replace(nsgPath("x"), "networkSecurityGroups", "loadBalancers", 1) + api, "", 404, "InvalidResourceType"},
		{"unknown namespace", "GET", strings.Replace(nsgPath("x"), "Microsoft.Network", "Microsoft.Nope", 1) + api, "", 404, "InvalidResourceNamespace"},
		{"case-insensitive path", "GET", strings.ToUpper(nsgPath("x")) + api, "", 404, "ResourceNotFound"},
		{"delete missing", "DELETE", nsgPath("x") + api, "", 204, ""},
	} {
		status, code, body := e.raw(t, c.method, c.path, c.token)
		if status != c.status || code != c.code {
			t.Errorf("%s: got %d %q, want %d %q: %s", c.name, status, code, c.status, c.code, body)
		}
	}
}
