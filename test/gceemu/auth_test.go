package gceemu_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	compute "cloud.google.com/go/compute/apiv1"
	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/api/option"

	"github.com/microseg/microseg/test/gceemu"
)

func TestRequestsWithoutValidBearerAreRefused(t *testing.T) {
	e := newEnv(t, gceemu.Options{})
	for _, c := range []struct{ header, reason string }{
		{"", gceemu.ReasonRequired},
		{"Bearer ya29.not-issued", gceemu.ReasonAuthError},
		{"Bearer a.b.c", gceemu.ReasonAuthError},
	} {
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/compute/v1/projects/"+project+"/global/firewalls", nil)
		if c.header != "" {
			req.Header.Set("Authorization", c.header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), `"reason":"`+c.reason+`"`) {
			t.Fatalf("%q: %d %s", c.header, resp.StatusCode, body)
		}
	}
}

// TestSelfSignedJWT: with an audience set, the auth library signs its own
// bearer JWT and never calls token_uri; the emulator accepts it too.
func TestSelfSignedJWT(t *testing.T) {
	e := newEnv(t, gceemu.Options{})
	c, err := compute.NewFirewallsRESTClient(ctx(t), option.WithEndpoint(e.srv.URL), option.WithAudiences("https://compute.googleapis.com/"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	op, err := c.Insert(ctx(t), &computepb.InsertFirewallRequest{Project: project, FirewallResource: ssh("jwt")})
	if err != nil {
		t.Fatal(err)
	}
	if err := op.Wait(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if n := e.emu.Calls()["POST token"]; n != 0 {
		t.Fatalf("%d token requests, want none", n)
	}
	if user := op.Proto().GetUser(); user != gceemu.ServiceAccountEmail(project) {
		t.Fatalf("operation user %q", user)
	}
}

// TestUnknownKeyIsRefused: a key the emulator did not write gets
// invalid_grant at the token endpoint, as a revoked key does at Google's.
func TestUnknownKeyIsRefused(t *testing.T) {
	e := newEnv(t, gceemu.Options{})
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	doc, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": project, "private_key_id": "0123456789abcdef",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": "stranger@" + project + ".iam.gserviceaccount.com", "client_id": "1", "token_uri": e.srv.TokenURL,
	})
	path := filepath.Join(t.TempDir(), "stranger.json")
	if err := os.WriteFile(path, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := compute.NewFirewallsRESTClient(ctx(t), e.srv.ClientOptions(path)...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Get(ctx(t), &computepb.GetFirewallRequest{Project: project, Firewall: "x"})
	if err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("want invalid_grant, got %v", err)
	}
}

func TestReadOnlyScopeCannotWrite(t *testing.T) {
	e := newEnv(t, gceemu.Options{})
	c, err := compute.NewFirewallsRESTClient(ctx(t), option.WithEndpoint(e.srv.URL),
		option.WithScopes("https://www.googleapis.com/auth/compute.readonly"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Insert(ctx(t), &computepb.InsertFirewallRequest{Project: project, FirewallResource: ssh("ro")})
	wantErr(t, err, http.StatusForbidden, gceemu.ReasonInsufficientScope)
	_, err = c.Get(ctx(t), &computepb.GetFirewallRequest{Project: project, Firewall: "ro"})
	wantErr(t, err, http.StatusNotFound, gceemu.ReasonNotFound)
}

func TestOtherProjectIsNotFound(t *testing.T) {
	e := newEnv(t, gceemu.Options{})
	_, err := e.projects.Get(ctx(t), &computepb.GetProjectRequest{Project: "someone-else"})
	wantErr(t, err, http.StatusNotFound, gceemu.ReasonNotFound)
}

// TestLegacyAuthPath: with the new auth library disabled, the clients go
// through golang.org/x/oauth2/google, which takes the same jwt-bearer grant.
func TestLegacyAuthPath(t *testing.T) {
	e := newEnv(t, gceemu.Options{})
	t.Setenv("GOOGLE_API_GO_EXPERIMENTAL_DISABLE_NEW_AUTH_LIB", "true")
	c, err := compute.NewFirewallsRESTClient(ctx(t), option.WithEndpoint(e.srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	op, err := c.Insert(ctx(t), &computepb.InsertFirewallRequest{Project: project, FirewallResource: ssh("legacy")})
	if err != nil {
		t.Fatal(err)
	}
	if err := op.Wait(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if n := e.emu.Calls()["POST token"]; n != 1 {
		t.Fatalf("%d token requests, want 1", n)
	}
}
