package armemu_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v8"

	"github.com/microseg/microseg/test/armemu"
)

// proxy answers MSAL's instance discovery, which goes to
// login.microsoftonline.com whatever the authority, through HTTPS_PROXY.
var proxy *armemu.Server

// TestMain trusts the emulator's certificates and routes
// login.microsoftonline.com to it before anything verifies a certificate or
// reads the proxy settings, which Go does once per process.
func TestMain(m *testing.M) {
	if os.Getenv("ARMEMU_HELPER_URL") != "" {
		os.Exit(m.Run()) // a child of TestTLSTrustInFreshProcess: it gets the parent's SSL_CERT_FILE
	}
	dir, err := os.MkdirTemp("", "armemu")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := run(m, dir)
	os.RemoveAll(dir)
	os.Exit(code)
}

func run(m *testing.M, dir string) int {
	ca := filepath.Join(dir, "ca.pem")
	if err := armemu.WriteCACert(ca); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	os.Setenv("SSL_CERT_FILE", ca)
	var err error
	if proxy, err = armemu.NewServer(armemu.Options{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer proxy.Close()
	os.Setenv("HTTPS_PROXY", proxy.URL)
	os.Unsetenv("NO_PROXY")
	os.Unsetenv("no_proxy")
	return m.Run()
}

const (
	rg       = "rg-prod"
	location = "westeurope"
)

// env is one emulator with the real clients pointed at it.
type env struct {
	srv     *armemu.Server
	emu     *armemu.Emulator
	cred    azcore.TokenCredential
	nsgs    *armnetwork.SecurityGroupsClient
	rules   *armnetwork.SecurityRulesClient
	asgs    *armnetwork.ApplicationSecurityGroupsClient
	nics    *armnetwork.InterfacesClient
	subnets *armnetwork.SubnetsClient
	subnet  string // ID of rg-prod/vnet-prod/app
	status  *statusLog
}

// newEnv starts an emulator with a resource group, a network and a subnet,
// and builds the clients as a user would: a DefaultAzureCredential from the
// environment and the ARM endpoint in ClientOptions.Cloud.
func newEnv(t *testing.T, opts armemu.Options) *env {
	t.Helper()
	srv, err := armemu.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	for k, v := range srv.Environ() {
		t.Setenv(k, v)
	}
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{srv: srv, emu: srv.Emulator, cred: cred, status: &statusLog{}}
	co := &arm.ClientOptions{ClientOptions: azcore.ClientOptions{
		Cloud:            srv.Cloud(),
		Retry:            policy.RetryOptions{MaxRetries: 10, RetryDelay: 10 * time.Millisecond, MaxRetryDelay: 100 * time.Millisecond},
		PerRetryPolicies: []policy.Policy{e.status},
	}}
	f, err := armnetwork.NewClientFactory(e.emu.SubscriptionID(), cred, co)
	if err != nil {
		t.Fatal(err)
	}
	e.nsgs, e.rules, e.asgs = f.NewSecurityGroupsClient(), f.NewSecurityRulesClient(), f.NewApplicationSecurityGroupsClient()
	e.nics, e.subnets = f.NewInterfacesClient(), f.NewSubnetsClient()
	e.emu.AddResourceGroup(rg, location)
	e.emu.AddVNet(rg, "vnet-prod", []string{"10.0.0.0/16"})
	e.subnet = e.emu.AddSubnet(rg, "vnet-prod", "app", "10.0.1.0/24")
	return e
}

// statusLog records the status of every attempt the pipeline makes, retries
// included.
type statusLog struct {
	mu    sync.Mutex
	codes map[int]int
}

func (s *statusLog) Do(req *policy.Request) (*http.Response, error) {
	resp, err := req.Next()
	if resp != nil {
		s.mu.Lock()
		if s.codes == nil {
			s.codes = map[int]int{}
		}
		s.codes[resp.StatusCode]++
		s.mu.Unlock()
	}
	return resp, err
}

func (s *statusLog) count(code int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.codes[code]
}

var frequent = &runtime.PollUntilDoneOptions{Frequency: time.Second}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

// createASG creates an application security group and returns its ID.
func (e *env) createASG(t *testing.T, name string) string {
	t.Helper()
	p, err := e.asgs.BeginCreateOrUpdate(ctx(t), rg, name, armnetwork.ApplicationSecurityGroup{Location: to.Ptr(location)}, nil)
	if err != nil {
		t.Fatalf("create ASG %s: %v", name, err)
	}
	res, err := p.PollUntilDone(ctx(t), frequent)
	if err != nil {
		t.Fatalf("create ASG %s: %v", name, err)
	}
	return *res.ID
}

// putNSG creates or replaces an NSG with rules and waits for it.
func (e *env) putNSG(c context.Context, name string, rules ...*armnetwork.SecurityRule) (armnetwork.SecurityGroup, error) {
	p, err := e.nsgs.BeginCreateOrUpdate(c, rg, name, armnetwork.SecurityGroup{
		Location: to.Ptr(location), Tags: map[string]*string{"owner": to.Ptr("microseg")},
		Properties: &armnetwork.SecurityGroupPropertiesFormat{SecurityRules: rules},
	}, nil)
	if err != nil {
		return armnetwork.SecurityGroup{}, err
	}
	res, err := p.PollUntilDone(c, frequent)
	return res.SecurityGroup, err
}

// tcpRule is an inbound TCP allow rule from a prefix to any address.
func tcpRule(name string, priority int32, from, port string) *armnetwork.SecurityRule {
	return &armnetwork.SecurityRule{Name: to.Ptr(name), Properties: &armnetwork.SecurityRulePropertiesFormat{
		Priority: to.Ptr(priority), Direction: to.Ptr(armnetwork.SecurityRuleDirectionInbound),
		Access: to.Ptr(armnetwork.SecurityRuleAccessAllow), Protocol: to.Ptr(armnetwork.SecurityRuleProtocolTCP),
		SourceAddressPrefix: to.Ptr(from), SourcePortRange: to.Ptr("*"),
		DestinationAddressPrefix: to.Ptr("*"), DestinationPortRange: to.Ptr(port),
	}}
}

// wantCode checks that err is an ARM error with the status and code.
func wantCode(t *testing.T, err error, status int, code string) {
	t.Helper()
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("got %v, want a %d %s ResponseError", err, status, code)
	}
	if re.StatusCode != status || re.ErrorCode != code {
		t.Fatalf("got %d %s, want %d %s: %v", re.StatusCode, re.ErrorCode, status, code, err)
	}
}

// result is a raw response: status, error code if any, body and headers.
type result struct {
	status int
	code   string
	body   []byte
	header http.Header
}

// do sends one request, with a token from the env's credential when token is
// "", without one when it is "none", with a bogus one when "-".
func (e *env) do(t *testing.T, method, path, token string) result {
	t.Helper()
	switch token {
	case "":
		tk, err := e.cred.GetToken(ctx(t), policy.TokenRequestOptions{Scopes: []string{e.srv.URL + "/.default"}})
		if err != nil {
			t.Fatal(err)
		}
		token = tk.Token
	case "none":
		token = ""
	case "-":
		token = "not-a-token"
	}
	req, err := http.NewRequestWithContext(ctx(t), method, e.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := result{status: resp.StatusCode, header: resp.Header}
	r.body, _ = io.ReadAll(resp.Body)
	var ce struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.Unmarshal(r.body, &ce)
	r.code = ce.Error.Code
	return r
}

// raw is do without the headers.
func (e *env) raw(t *testing.T, method, path, token string) (int, string, []byte) {
	t.Helper()
	r := e.do(t, method, path, token)
	return r.status, r.code, r.body
}

func nsgPath(name string) string {
	return "/subscriptions/" + armemu.DefaultSubscriptionID + "/resourceGroups/" + rg +
		"/providers/Microsoft.Network/networkSecurityGroups/" + name
}

// upperRG tells whether a reference carries the resource group upper-cased.
func upperRG(id string) bool {
	return strings.Contains(id, "/resourceGroups/"+strings.ToUpper(rg)+"/")
}
