// Package gceemu is an in-memory emulator of the Compute Engine v1 REST API and
// of Google's OAuth 2.0 token endpoint in front of it, limited to what
// microseg's GCP provider needs: VPC firewall rules, networks (read-only),
// the project's FIREWALLS quota, instances (read-only but for setTags) and the
// global and zonal operations that changes return. The real
// cloud.google.com/go/compute/apiv1 REST clients talk to it over plain HTTP,
// configured only as a user would configure them (see NewServer):
//
//   - option.WithEndpoint(Server.URL): the clients append /compute/v1/... to it;
//   - Application Default Credentials: GOOGLE_APPLICATION_CREDENTIALS naming a
//     service-account key file that WriteServiceAccountKey wrote, whose
//     token_uri is Server.URL + "/token".
//
// With such a key the clients (through cloud.google.com/go/auth v0.24) sign a
// JWT with the key and exchange it at token_uri (the jwt-bearer grant); they
// send a self-signed JWT as the bearer instead only when the user sets
// option.WithAudiences or a universe domain other than googleapis.com. The
// emulator accepts both: a token it issued, or a JWT signed by a key
// WriteServiceAccountKey wrote in this process.
//
// What it models of GCP, with GCP's HTTP codes and error reasons:
//
//   - Token endpoint: grant_type must be the jwt-bearer grant
//     (unsupported_grant_type), the assertion signed by a known key with a
//     lifetime of at most an hour (invalid_grant), a scope (invalid_scope).
//     API calls without a valid bearer: 401 required or authError; a token
//     without a compute or cloud-platform scope: 403 insufficientPermissions
//     (compute.readonly allows reads only).
//   - Firewalls: list (filter, maxResults at most 500, pageToken), get,
//     insert, patch (JSON merge patch), update (PUT), delete, each change
//     answered with a global Operation. Names match [a-z]([-a-z0-9]*[a-z0-9])?
//     and have at most 63 characters (400 invalid); insert of an existing name
//     409 alreadyExists; 404 notFound; priority 0-65535, default 1000;
//     direction INGRESS (default) or EGRESS; exactly one of allowed and denied;
//     IPProtocol one of tcp, udp, icmp, esp, ah, sctp, ipip, all or a number
//     0-255, ports ("22", "8000-8080") only with tcp, udp and sctp; CIDR ranges
//     (an address alone is taken as a host) of one family per rule; no source
//     tags or source service accounts in EGRESS rules; network tags and service
//     accounts never in the same rule; tags in RFC 1035 form; service accounts
//     as e-mail addresses. An INGRESS rule without sources gets sourceRanges
//     ["0.0.0.0/0"], an EGRESS rule without destinations destinationRanges
//     ["0.0.0.0/0"] (::/0 when the rule's other ranges are IPv6). Per-rule
//     limits (Options.MaxSourceRanges and the like) are 413 fieldSizeTooLarge.
//     An insert beyond the project's FIREWALLS quota (Options.FirewallQuota) is
//     accepted and its operation ends DONE with error QUOTA_EXCEEDED
//     (httpErrorStatusCode 403), as GCP reports it.
//     The network must exist (404 notFound) and is given as a full or partial
//     URL (400 invalid otherwise); rules are stored as GCP returns them, with
//     the network's full URL, id, selfLink, creationTimestamp, kind,
//     logConfig and disabled.
//   - Project get, with its FIREWALLS and NETWORKS quotas and their usage.
//   - Networks get and list, seeded with AddNetwork ("default" exists unless
//     Options.NoDefaultNetwork).
//   - Instances: aggregatedList (items keyed "zones/ZONE", paged, filtered),
//     list per zone, get, and setTags with the tags fingerprint: a stale one
//     is 412 conditionNotMet, each change makes a new one, at most
//     Options.TagsPerInstance tags (413 fieldSizeTooLarge) in RFC 1035 form.
//     FailNextSetTags makes the next setTags of an instance end in a DONE
//     operation carrying a CONDITION_NOT_MET error, as a racing writer does.
//   - Operations: get and wait, global and zonal. Options.PollsUntilDone is
//     how many gets answer RUNNING before DONE; wait answers DONE at once.
//   - Faults, drawn from a seeded PRNG before anything changes: 403
//     rateLimitExceeded (domain usageLimits), 429 rateLimitExceeded
//     (RESOURCE_EXHAUSTED), 500 or 503 backendError. Token requests and
//     operation polls are never faulted. Of these, apiv1 (v1.75) retries only
//     503, and only on gets and lists (its default call options retry 503 and
//     504 there, backoff from 100 ms); inserts, patches, updates, deletes and
//     setTags are never retried.
//
// What it simplifies: one project (Options.Project); a change is applied whole
// when it is requested, its operation only reports RUNNING; selfLinks use
// https://www.googleapis.com/compute/v1 whatever the endpoint, as GCP's do;
// page tokens are the last name returned, so a page never repeats or skips a
// rule that existed throughout. Filters support comparisons with =, !=, :,
// eq and ne (regular expressions) joined by AND or juxtaposition, not OR
// (see filter.go). Error messages follow GCP's where they were found in
// public material; the rest (noted in validate.go) are close paraphrases with
// GCP's codes and reasons. Not modelled: requestId deduplication, orderBy,
// firewall policies, subnetworks, labels fingerprints, IAM.
//
// Every call is atomic: it validates everything, then changes state, under one
// mutex. Identifiers and injected faults come from PRNGs seeded by Options.Seed,
// so a sequential test sees the same IDs and faults on every run.
package gceemu

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// DefaultProject is the project a zero Options serves.
const DefaultProject = "microseg-test"

// apiBase is the prefix of every selfLink GCP returns, whatever the endpoint.
const apiBase = "https://www.googleapis.com/compute/v1/"

// Options configures an Emulator. Zero values take the defaults.
type Options struct {
	// Project is the one project served (default DefaultProject).
	Project string
	// NoDefaultNetwork leaves out the "default" network a new project has.
	NoDefaultNetwork bool
	// FirewallQuota is the project's FIREWALLS quota (GCP's default: 500).
	FirewallQuota int
	// Per-rule limits, documented on Cloud NGFW's quotas page: source and
	// destination ranges 5,000 each, source tags 30, target tags 70, source and
	// target service accounts 10 each. MaxPorts bounds the ports of one
	// allowed or denied entry; no limit was found documented, so zero (the
	// default) does not enforce one.
	MaxSourceRanges, MaxDestinationRanges              int
	MaxSourceTags, MaxTargetTags                       int
	MaxSourceServiceAccounts, MaxTargetServiceAccounts int
	MaxPorts                                           int
	// TagsPerInstance is the most network tags an instance takes (GCP: 64).
	TagsPerInstance int
	// PageSize is the page a list answers without maxResults (GCP: 500).
	PageSize int
	// PollsUntilDone is how many gets of an operation answer RUNNING before it
	// is DONE (default 0: DONE in the response of the change itself).
	PollsUntilDone int
	// RateLimit, TooMany and ServerError are the shares of API calls answered
	// 403 rateLimitExceeded, 429 rateLimitExceeded and 500 or 503 backendError.
	RateLimit, TooMany, ServerError float64
	// Seed seeds the PRNGs behind IDs, fingerprints, tokens and fault draws.
	Seed uint64
}

// Emulator is an in-memory Compute Engine endpoint. It is an http.Handler and
// safe for concurrent use.
type Emulator struct {
	mu        sync.Mutex
	opts      Options
	ids       *rand.Rand // resource IDs, fingerprints, operation names
	faults    *rand.Rand
	secrets   *rand.Rand        // tokens: their number varies with client caching, so not from ids
	calls     map[string]int    // "INSERT firewalls" and the like
	tokens    map[string]*grant // issued access tokens
	projectID uint64
	networks  map[string]*network
	firewalls map[string]*firewallJSON
	zones     map[string]map[string]*instance // zone, then instance name
	ops       map[string]*operation           // by name
	failTags  map[string]bool                 // "zone/name" whose next setTags fails in its operation
	created   time.Time
}

// New returns an Emulator with the "default" network (unless
// Options.NoDefaultNetwork) and nothing else: add networks and instances with
// AddNetwork and AddInstance.
func New(opts Options) *Emulator {
	defaults(&opts)
	e := &Emulator{
		opts:      opts,
		ids:       rand.New(rand.NewPCG(opts.Seed, 0x1d5)),
		faults:    rand.New(rand.NewPCG(opts.Seed, 0xfa17)),
		secrets:   rand.New(rand.NewPCG(opts.Seed, 0x70c)),
		calls:     map[string]int{},
		tokens:    map[string]*grant{},
		networks:  map[string]*network{},
		firewalls: map[string]*firewallJSON{},
		zones:     map[string]map[string]*instance{},
		ops:       map[string]*operation{},
		failTags:  map[string]bool{},
		created:   time.Now(),
	}
	e.projectID = 100000000000 + e.ids.Uint64N(900000000000)
	if !opts.NoDefaultNetwork {
		_ = e.AddNetwork("default")
	}
	return e
}

func defaults(o *Options) {
	set := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	if o.Project == "" {
		o.Project = DefaultProject
	}
	set(&o.FirewallQuota, 500)
	set(&o.MaxSourceRanges, 5000)
	set(&o.MaxDestinationRanges, 5000)
	set(&o.MaxSourceTags, 30)
	set(&o.MaxTargetTags, 70)
	set(&o.MaxSourceServiceAccounts, 10)
	set(&o.MaxTargetServiceAccounts, 10)
	set(&o.TagsPerInstance, 64)
	set(&o.PageSize, 500)
}

// Project returns the project the emulator serves.
func (e *Emulator) Project() string { return e.opts.Project }

// SetFaults changes the shares of Options.RateLimit, Options.TooMany and
// Options.ServerError for the calls that follow. Zero turns a fault off.
func (e *Emulator) SetFaults(rateLimit, tooMany, serverError float64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.opts.RateLimit, e.opts.TooMany, e.opts.ServerError = rateLimit, tooMany, serverError
}

// SetPollsUntilDone changes Options.PollsUntilDone for operations started later.
func (e *Emulator) SetPollsUntilDone(n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.opts.PollsUntilDone = n
}

// Calls returns how many requests each method received, failed and faulted
// ones included, keyed like "LIST firewalls", "GET firewalls", "INSERT
// firewalls", "PATCH firewalls", "UPDATE firewalls", "DELETE firewalls", "GET
// operations", "WAIT operations", "GET projects", "GET networks", "LIST
// networks", "LIST instances", "GET instances", "AGGREGATED instances",
// "SETTAGS instances" and "POST token".
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

// maxBody bounds a request body: a rule with 10,000 ranges stays well under it.
const maxBody = 8 << 20

// ServeHTTP answers one Compute Engine request (a path under /compute/v1/) or
// one token request (POST /token).
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	var resp *response
	switch {
	case err != nil || len(body) > maxBody:
		resp = errResp(newErr(http.StatusBadRequest, reasonParse, "The request body could not be read or is too large."))
	case r.URL.Path == tokenPath:
		resp = e.serveToken(r, body)
	case strings.HasPrefix(r.URL.Path, "/compute/v1/projects/"):
		resp = e.serveAPI(r, body)
	default:
		e.count(r.Method + " unknown")
		resp = errResp(newErr(http.StatusNotFound, reasonNotFound, "The requested URL %s was not found on this server.", r.URL.Path))
	}
	resp.write(w)
}

func (e *Emulator) count(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls[key]++
}

// request is one API call, parsed.
type request struct {
	route     *route
	vars      []string // the path's variable segments, in order
	query     url.Values
	body      []byte
	principal string // the e-mail address behind the bearer
}

// serveAPI runs one API call under the mutex. The response it returns holds
// copies only, so that it is written after the mutex is released.
func (e *Emulator) serveAPI(r *http.Request, body []byte) *response {
	rt, vars, project := match(r.Method, strings.TrimPrefix(r.URL.Path, "/compute/v1/projects/"))
	e.mu.Lock()
	defer e.mu.Unlock()
	if rt == nil {
		e.calls[r.Method+" unknown"]++
		return errResp(newErr(http.StatusNotFound, reasonNotFound, "The requested URL %s was not found on this server.", r.URL.Path))
	}
	e.calls[rt.key]++
	principal, aerr := e.authenticate(r.Header.Get("Authorization"), rt.write)
	if aerr != nil {
		return errResp(aerr)
	}
	if project != e.opts.Project {
		return errResp(errNotFound("projects/" + project))
	}
	if !rt.poll {
		if f := e.drawFault(rt); f != nil {
			return errResp(f)
		}
	}
	return rt.handle(e, &request{route: rt, vars: vars, query: r.URL.Query(), body: body, principal: principal})
}

// drawFault draws one number per call, so that the faults a sequence of calls
// meets does not depend on which kinds are enabled later in the band.
func (e *Emulator) drawFault(rt *route) *apiError {
	o := e.opts
	if o.RateLimit <= 0 && o.TooMany <= 0 && o.ServerError <= 0 {
		return nil
	}
	switch x := e.faults.Float64(); {
	case x < o.RateLimit:
		return errRateLimit()
	case x < o.RateLimit+o.TooMany:
		return errTooMany(rt, e.projectID)
	case x < o.RateLimit+o.TooMany+o.ServerError/2:
		return errBackend(http.StatusInternalServerError, e.faults.Uint64())
	case x < o.RateLimit+o.TooMany+o.ServerError:
		return errBackend(http.StatusServiceUnavailable, 0)
	}
	return nil
}

// now is GCP's timestamp format: RFC 3339 with milliseconds, in Pacific time.
func now() string {
	return time.Now().In(pacific).Format("2006-01-02T15:04:05.000-07:00")
}

var pacific = time.FixedZone("PDT", -7*3600)

// selfLink is the URL GCP gives a resource of the project.
func (e *Emulator) selfLink(path string) string {
	return apiBase + "projects/" + e.opts.Project + "/" + path
}

func (e *Emulator) newID() uint64 {
	return 1000000000000000000 + e.ids.Uint64N(8000000000000000000)
}

func errorf(format string, args ...any) error { return fmt.Errorf("gceemu: "+format, args...) }
