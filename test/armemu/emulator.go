// Package armemu is an in-memory emulator of the Azure Resource Manager (ARM)
// network API and of the Microsoft Entra ID token flow in front of it, limited to
// what microseg's Azure provider needs: application security groups, network
// security groups and their rules, network interfaces, virtual networks and
// subnets (Microsoft.Network), and read-only virtual machines
// (Microsoft.Compute). The real armnetwork v8 clients and azidentity's
// credentials talk to it over TLS, configured only as a user would configure
// them (see NewServer):
//
//   - the ARM endpoint and audience in cloud.Configuration.Services[cloud.ResourceManager];
//   - AZURE_AUTHORITY_HOST, AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET
//     for azidentity's EnvironmentCredential (and so DefaultAzureCredential);
//   - SSL_CERT_FILE naming the file WriteCACert writes, set before the process
//     verifies its first certificate (Go reads the system roots once);
//   - for MSAL's instance discovery, which goes to login.microsoftonline.com
//     whatever AZURE_AUTHORITY_HOST says, either the credential option
//     DisableInstanceDiscovery (what Microsoft documents for private clouds) or
//     HTTPS_PROXY set to a Server's URL: the Server then stands in for
//     login.microsoftonline.com through a CONNECT tunnel. Go reads HTTPS_PROXY
//     once too, and never proxies 127.0.0.1, so the ARM calls still go direct.
//
// What it models of Azure, with Azure's error codes:
//
//   - Entra ID: instance discovery, the tenant's OpenID configuration and the
//     client-credentials token endpoint as MSAL for Go v1.10 calls them; a wrong
//     client secret is 401 invalid_client (AADSTS7000215), a scope without
//     "/.default" 400 invalid_scope. ARM calls need a token it issued: 401
//     AuthenticationFailed without one, InvalidAuthenticationToken with another.
//   - ARM: api-version required (400 MissingApiVersionParameter), paths and IDs
//     case-insensitive, 404 SubscriptionNotFound, ResourceGroupNotFound,
//     ResourceNotFound (NotFound for child resources), InvalidResourceType;
//     LocationRequired, InvalidResourceLocation; If-Match and If-None-Match
//     (412 PreconditionFailed); lists paged with an absolute nextLink;
//     long-running PUTs answered 201/200 with provisioningState "Updating" and an
//     Azure-AsyncOperation URL, DELETEs 202 with Azure-AsyncOperation and
//     Location URLs (204 for a resource that does not exist). References in
//     responses carry the resource group upper-cased, as Azure often returns
//     IDs in another case than they were sent.
//   - Security rules: priority 100-4096 (SecurityRuleInvalidPriority), one
//     priority per direction (SecurityRuleConflict), port ranges
//     (SecurityRuleInvalidPortRange; "*" in a plural field
//     SecurityRuleParameterContainsInvalidPortRanges), address prefixes
//     (SecurityRuleInvalidAddressPrefix, also for a CIDR with host bits set;
//     service tags or "*" in a plural field
//     SecurityRuleParameterContainsUnsupportedValue), at most 10 application
//     security groups per rule side
//     (NumberOfApplicationSecurityGroupsReferencedInSecurityRuleLimitReached),
//     referenced groups existing in the same region (InvalidResourceReference;
//     a malformed ID LinkedInvalidPropertyId), Options.RulesPerNSG rules
//     (SecurityRuleCountLimitReached), 4,000 address prefixes per side and group
//     (SecurityRuleAddressesOrPortsPerSecurityGroupLimitReached), duplicate
//     names (InvalidRequestFormat with detail DuplicateResourceName). The six
//     default rules are added as Azure documents them, read-only.
//   - Dependencies: an NSG used by a subnet or interface cannot be deleted
//     (InUseNetworkSecurityGroupCannotBeDeleted), nor an application security
//     group used by an IP configuration or a rule (CodeASGInUse), nor a NIC
//     attached to a VM (NicInUse). All IPv4 IP configurations of a NIC must
//     reference the same application security groups
//     (AllIpConfigurationsOnANicMustBelongToTheSameApplicationSecurityGroups),
//     at most 20 each (CodeASGsPerIPConfigLimit).
//   - Faults, drawn from a seeded PRNG before anything changes: 429
//     TooManyRequests (Retry-After: 0), 409 AnotherOperationInProgress on
//     writes, 500 InternalServerError or 503 ServiceUnavailable. Token requests
//     and operation polls are never faulted.
//
// What it simplifies: a change is applied whole at the PUT or DELETE, and the
// operation it returns only reports InProgress Options.PollsInProgress times;
// a GET always shows provisioningState "Succeeded". Structural request errors
// (a missing or conflicting field, a value that is not one of an enum's) are
// InvalidRequestFormat, where Azure sometimes uses a more specific code. Not
// modelled: NICs of different virtual networks in one application security
// group, the 100 application security groups per NSG, tag limits, RBAC, and
// every resource type and property not listed above.
//
// Every call is atomic: it validates everything, then changes state, under one
// mutex. Identifiers and injected faults come from PRNGs seeded by Options.Seed,
// so a sequential test sees the same IDs and faults on every run.
package armemu

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Defaults a Server's Environ uses. The emulator accepts any tenant and client.
const (
	DefaultSubscriptionID = "3c1f3e64-1d8a-4c5e-9a57-2b4f0e6d7a10"
	DefaultTenantID       = "8d2e4f60-7a1b-4c3d-9e5f-a1b2c3d4e5f6"
	DefaultClientID       = "5b7c9d1e-2f3a-4b5c-8d6e-f7a8b9c0d1e2"
	DefaultClientSecret   = "emulator-secret"
)

// Options configures an Emulator. Zero values take the defaults.
type Options struct {
	// SubscriptionID is the one subscription served (default DefaultSubscriptionID).
	SubscriptionID string
	// ClientSecret is the secret the token endpoint accepts (default
	// DefaultClientSecret), for any client ID and tenant.
	ClientSecret string
	// RulesPerNSG is the quota of security rules per network security group,
	// default rules not counted (Azure's limit: 1,000).
	RulesPerNSG int
	// PageSize is the most items a list answers in one page (default 100).
	PageSize int
	// PollsInProgress is how many polls of an operation answer InProgress
	// before it reports Succeeded (default 0).
	PollsInProgress int
	// Throttle, Conflict and ServerError are the shares of ARM calls answered
	// 429 TooManyRequests, 409 AnotherOperationInProgress (writes only) and 500
	// or 503, before they change anything.
	Throttle, Conflict, ServerError float64
	// Seed seeds the PRNGs behind generated IDs, tokens and fault draws.
	Seed uint64
}

// Emulator is an in-memory ARM and Entra ID endpoint. It is an http.Handler and
// safe for concurrent use; NewServer serves it over TLS, as the Azure SDK needs.
type Emulator struct {
	mu       sync.Mutex
	opts     Options
	ids      *rand.Rand // resource GUIDs, etags, operation IDs, MACs
	faults   *rand.Rand
	secrets  *rand.Rand                // tokens: their number varies with SDK caching, so not from ids
	calls    map[string]int            // "PUT networkSecurityGroups" and the like
	tokens   map[string]time.Time      // issued access tokens and their expiry
	rgs      map[string]*resourceGroup // by lower-case name
	ops      map[string]*operation     // long-running operations by ID
	requests uint64
}

// New returns an empty Emulator: add resource groups with AddResourceGroup
// before pointing a client at it.
func New(opts Options) *Emulator {
	if opts.SubscriptionID == "" {
		opts.SubscriptionID = DefaultSubscriptionID
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = DefaultClientSecret
	}
	if opts.RulesPerNSG <= 0 {
		opts.RulesPerNSG = 1000
	}
	if opts.PageSize <= 0 {
		opts.PageSize = 100
	}
	return &Emulator{
		opts:    opts,
		ids:     rand.New(rand.NewPCG(opts.Seed, 0x1d5)),
		faults:  rand.New(rand.NewPCG(opts.Seed, 0xfa17)),
		secrets: rand.New(rand.NewPCG(opts.Seed, 0x70c)),
		calls:   map[string]int{},
		tokens:  map[string]time.Time{},
		rgs:     map[string]*resourceGroup{},
		ops:     map[string]*operation{},
	}
}

// SubscriptionID returns the subscription the emulator serves.
func (e *Emulator) SubscriptionID() string { return e.opts.SubscriptionID }

// SetFaults changes the shares of Options.Throttle, Options.Conflict and
// Options.ServerError for the calls that follow. Zero turns a fault off.
func (e *Emulator) SetFaults(throttle, conflict, serverError float64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.opts.Throttle, e.opts.Conflict, e.opts.ServerError = throttle, conflict, serverError
}

// SetPollsInProgress changes Options.PollsInProgress for operations started later.
func (e *Emulator) SetPollsInProgress(n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.opts.PollsInProgress = n
}

// Calls returns how many requests each operation received, failed and faulted
// ones included, keyed like "PUT networkSecurityGroups", "GET networkInterfaces",
// "LIST applicationSecurityGroups", "DELETE securityRules", "POLL operations",
// "POLL operationResults", "POST token", "GET openid-configuration",
// "GET instance-discovery" and "CONNECT login".
func (e *Emulator) Calls() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]int, len(e.calls))
	for k, v := range e.calls {
		out[k] = v
	}
	return out
}

// ResetCalls sets every count of Calls to zero.
func (e *Emulator) ResetCalls() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls = map[string]int{}
}

func (e *Emulator) count(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls[key]++
}

// maxBody bounds a request body: an NSG of 1,000 rules with 4,000 prefixes a
// side stays well under it.
const maxBody = 32 << 20

// ServeHTTP answers one ARM request (a path under /subscriptions/) or one Entra
// ID request (anything else).
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	var resp *response
	switch {
	case err != nil || len(body) > maxBody:
		resp = errResp(newErr(http.StatusBadRequest, "InvalidRequestContent", "The request body could not be read or is too large."))
	case hasPrefixFold(r.URL.Path, "/subscriptions/"):
		resp = e.serveARM(r, body)
	default:
		resp = e.serveAAD(r, body)
	}
	resp.write(w, e.requestID())
}

func (e *Emulator) requestID() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.requests++
	return fmt.Sprintf("00000000-0000-4000-8000-%012x", e.requests)
}

// serveARM runs one ARM call under the mutex. The response it returns holds
// copies only, so that it is written after the mutex is released.
func (e *Emulator) serveARM(r *http.Request, body []byte) *response {
	t, perr := parsePath(r.URL.Path)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls[callKey(r.Method, t, perr)]++
	if aerr := e.authenticate(r); aerr != nil {
		return errResp(aerr)
	}
	version := r.URL.Query().Get("api-version")
	if version == "" {
		return errResp(newErr(http.StatusBadRequest, "MissingApiVersionParameter",
			"The api-version query parameter (?api-version=) is required for all requests."))
	}
	if perr != nil {
		return errResp(perr)
	}
	if !strings.EqualFold(t.sub, e.opts.SubscriptionID) {
		return errResp(newErr(http.StatusNotFound, "SubscriptionNotFound", "The subscription '%s' could not be found.", t.sub))
	}
	h, aerr := lookupHandler(r.Method, t, version)
	if aerr != nil {
		return errResp(aerr)
	}
	if !t.poll() {
		if f := e.drawFault(r.Method, t); f != nil {
			return errResp(f)
		}
	}
	req := &armRequest{t: t, method: r.Method, body: body, header: r.Header, version: version,
		query: r.URL.Query(), base: baseURL(r), path: r.URL.Path}
	return h(e, req)
}

// drawFault draws one number per call, so that the faults a sequence of calls
// meets does not depend on which kinds are enabled later in the band.
func (e *Emulator) drawFault(method string, t target) *apiError {
	o := e.opts
	if o.Throttle <= 0 && o.Conflict <= 0 && o.ServerError <= 0 {
		return nil
	}
	x := e.faults.Float64()
	write := method == http.MethodPut || method == http.MethodDelete || method == http.MethodPatch
	switch {
	case x < o.Throttle:
		a := newErr(http.StatusTooManyRequests, "TooManyRequests",
			"The request is being throttled as the limit has been reached for operation type - %s. Please retry after 0 seconds.", t.kind)
		a.header = http.Header{"Retry-After": {"0"}}
		return a
	case x < o.Throttle+o.Conflict:
		if !write {
			return nil
		}
		return newErr(http.StatusConflict, "AnotherOperationInProgress",
			"Another operation on this or dependent resource is in progress. To retrieve status of the operation use uri: %s.", t.resourcePath())
	case x < o.Throttle+o.Conflict+o.ServerError/2:
		return newErr(http.StatusInternalServerError, "InternalServerError",
			"An error has occurred in Microsoft.Network while processing the request. Please try again later.")
	case x < o.Throttle+o.Conflict+o.ServerError:
		return newErr(http.StatusServiceUnavailable, "ServiceUnavailable",
			"The service is temporarily unavailable. Please try again later.")
	}
	return nil
}

// authenticate wants a bearer token this emulator issued and that has not
// expired, as ARM does.
func (e *Emulator) authenticate(r *http.Request) *apiError {
	h := r.Header.Get("Authorization")
	if h == "" {
		return authErr("AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
	}
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if exp, known := e.tokens[tok]; !ok || !known || time.Now().After(exp) {
		return authErr("InvalidAuthenticationToken", "The access token is invalid.")
	}
	return nil
}

func authErr(code, msg string) *apiError {
	a := newErr(http.StatusUnauthorized, code, "%s", msg)
	a.header = http.Header{"WWW-Authenticate": {`Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token", error_description="` + msg + `"`}}
	return a
}

func baseURL(r *http.Request) string {
	if r.TLS != nil {
		return "https://" + r.Host
	}
	return "http://" + r.Host
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
