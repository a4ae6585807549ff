// Package ec2emu is an in-memory emulator of the EC2 Query API, limited to what
// microseg's AWS provider needs: security groups and their rules, network
// interfaces, instances and tags. The real aws-sdk-go-v2 EC2 client talks to it
// over HTTP (httptest.NewServer(emu), with the client's BaseEndpoint set to the
// server's URL); requests are accepted whatever their signature.
//
// It follows AWS's semantics where the provider can observe them: rules grouped
// by protocol and port range in DescribeSecurityGroups and one per source in
// DescribeSecurityGroupRules, the default egress rules of a new group (to ::/0
// too in a VPC with an IPv6 block), the VPC's default group on an instance added
// without groups, rule descriptions in AWS's character set and their update by
// rule ID, atomic authorize and revoke calls with InvalidPermission.Duplicate and
// InvalidPermission.NotFound, DependencyViolation on deleting a group in use, the
// rules-per-group and groups-per-interface quotas, filters with wildcards,
// MaxResults/NextToken pagination, DryRun, and EC2's XML error documents.
//
// Every call is atomic: it validates everything, then changes state, under one
// mutex. Identifiers and injected faults come from PRNGs seeded by Options.Seed,
// so a sequential test sees the same IDs and faults on every run.
package ec2emu

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"math/rand/v2"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Namespace is the XML namespace of every EC2 response.
const Namespace = "http://ec2.amazonaws.com/doc/2016-11-15/"

// AccountID is the owner of every emulated resource.
const AccountID = "123456789012"

// Options configures an Emulator. Zero values take the defaults.
type Options struct {
	// RulesPerGroup is the quota of inbound rules, and separately of outbound
	// rules, per security group and address family (AWS's default: 60). A rule
	// that references a group counts towards both families.
	RulesPerGroup int
	// GroupsPerENI is the quota of security groups per network interface (AWS's
	// default: 5).
	GroupsPerENI int
	// Seed seeds the PRNGs behind generated IDs and fault draws.
	Seed uint64
}

// Emulator is an in-memory EC2 endpoint. It is an http.Handler and safe for
// concurrent use.
type Emulator struct {
	mu        sync.Mutex
	opts      Options
	ids       *rand.Rand
	faults    *rand.Rand
	throttle  float64
	serverErr float64
	calls     map[string]int
	requests  uint64

	vpcs       map[string]*vpc
	defaultVPC string // the first VPC added: where CreateSecurityGroup goes without VpcId
	groups     map[string]*group
	rules      map[string]*rule
	enis       map[string]*eni
	instances  map[string]*instance
}

type vpc struct {
	id           string
	defaultGroup string
	ipv6Blocks   []string // associated IPv6 CIDR blocks: new groups also get ::/0 egress
}

type group struct {
	id, name, desc, vpc string
	isDefault           bool
	tags                map[string]string
	rules               []*rule // in the order they were added
	byKey               map[ruleKey]*rule
}

// ruleKind is what a rule's peer is.
type ruleKind int

const (
	kindIPv4 ruleKind = iota
	kindIPv6
	kindGroup
)

// ruleKey is what makes a rule unique within its group: AWS's duplicate test.
type ruleKey struct {
	egress   bool
	protocol string // tcp, udp, icmp, icmpv6, -1, or a protocol number
	from, to int32  // -1 when the protocol has no ports
	kind     ruleKind
	peer     string // CIDR or group ID
}

type rule struct {
	id, group string
	ruleKey
	desc string
	tags map[string]string
}

type eni struct {
	id, vpc, instance, ip string
	secondary             []string // more private IPv4 addresses, after the primary ip
	ipv6                  []string
	groups                []string
	tags                  map[string]string
}

type instance struct {
	id, reservation, vpc, ip, eni, state string
	tags                                 map[string]string
}

// New returns an empty Emulator: add VPCs with AddVPC and instances with
// AddInstance before pointing a client at it.
func New(opts Options) *Emulator {
	if opts.RulesPerGroup <= 0 {
		opts.RulesPerGroup = 60
	}
	if opts.GroupsPerENI <= 0 {
		opts.GroupsPerENI = 5
	}
	return &Emulator{
		opts:      opts,
		ids:       rand.New(rand.NewPCG(opts.Seed, 0x1d5)),
		faults:    rand.New(rand.NewPCG(opts.Seed, 0xfa17)),
		calls:     map[string]int{},
		vpcs:      map[string]*vpc{},
		groups:    map[string]*group{},
		rules:     map[string]*rule{},
		enis:      map[string]*eni{},
		instances: map[string]*instance{},
	}
}

// SetFaults makes a share of the calls that follow fail before doing anything:
// throttleShare of them with HTTP 503 and code RequestLimitExceeded, and
// serverErrorShare with HTTP 500 and code InternalError. Zero turns faults off.
func (e *Emulator) SetFaults(throttleShare, serverErrorShare float64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.throttle, e.serverErr = throttleShare, serverErrorShare
}

// Calls returns how many requests each Action received, failed ones included.
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

// apiError is an EC2 error response.
type apiError struct {
	status        int
	code, message string
}

func (a *apiError) Error() string { return a.code + ": " + a.message }

func newErr(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

func errMissing(param string) *apiError {
	return newErr(400, "MissingParameter", "The request must contain the parameter %s", param)
}

func errInvalidValue(value, param string) *apiError {
	return newErr(400, "InvalidParameterValue", "Value (%s) for parameter %s is invalid.", value, param)
}

var errDryRun = newErr(412, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.")

type handler func(e *Emulator, p *params) (any, *apiError)

var handlers = map[string]handler{
	"DescribeSecurityGroups":          (*Emulator).describeSecurityGroups,
	"DescribeSecurityGroupRules":      (*Emulator).describeSecurityGroupRules,
	"CreateSecurityGroup":             (*Emulator).createSecurityGroup,
	"DeleteSecurityGroup":             (*Emulator).deleteSecurityGroup,
	"AuthorizeSecurityGroupIngress":   func(e *Emulator, p *params) (any, *apiError) { return e.authorize(p, false) },
	"AuthorizeSecurityGroupEgress":    func(e *Emulator, p *params) (any, *apiError) { return e.authorize(p, true) },
	"RevokeSecurityGroupIngress":      func(e *Emulator, p *params) (any, *apiError) { return e.revoke(p, false) },
	"RevokeSecurityGroupEgress":       func(e *Emulator, p *params) (any, *apiError) { return e.revoke(p, true) },
	"CreateTags":                      (*Emulator).createTags,
	"DeleteTags":                      (*Emulator).deleteTags,
	"DescribeNetworkInterfaces":       (*Emulator).describeNetworkInterfaces,
	"ModifyNetworkInterfaceAttribute": (*Emulator).modifyNetworkInterfaceAttribute,
	"DescribeInstances":               (*Emulator).describeInstances,
	"UpdateSecurityGroupRuleDescriptionsIngress": func(e *Emulator, p *params) (any, *apiError) {
		return e.updateRuleDescriptions(p, false)
	},
	"UpdateSecurityGroupRuleDescriptionsEgress": func(e *Emulator, p *params) (any, *apiError) {
		return e.updateRuleDescriptions(p, true)
	},
}

// ServeHTTP answers one EC2 Query request (POST form or GET query string).
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		e.mu.Lock()
		id := e.requestID()
		e.mu.Unlock()
		writeError(w, id, newErr(400, "MalformedQueryString", "%v", err))
		return
	}
	p := parseParams(r.Form)
	status, doc := e.serve(p)
	writeXML(w, status, doc)
}

// serve runs one call under the mutex and returns the document to send, which
// holds copies only, so that it is written after the mutex is released.
func (e *Emulator) serve(p *params) (status int, doc any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	action := p.str("Action")
	id := e.requestID()
	fail := func(a *apiError) (int, any) {
		return a.status, xmlErrorResponse{Code: a.code, Message: a.message, RequestID: id}
	}
	e.calls[action]++
	if e.throttle > 0 || e.serverErr > 0 {
		switch x := e.faults.Float64(); {
		case x < e.throttle:
			return fail(newErr(503, "RequestLimitExceeded", "Request limit exceeded."))
		case x < e.throttle+e.serverErr:
			return fail(newErr(500, "InternalError", "An internal error has occurred."))
		}
	}
	h := handlers[action]
	if h == nil {
		if action == "" {
			return fail(errMissing("Action"))
		}
		return fail(newErr(400, "InvalidAction", "The action %s is not valid for this web service.", action))
	}
	resp, aerr := h(e, p)
	if aerr != nil {
		return fail(aerr)
	}
	v := reflect.ValueOf(resp).Elem()
	v.FieldByName("XMLName").Set(reflect.ValueOf(xml.Name{Local: action + "Response"}))
	v.FieldByName("Xmlns").SetString(Namespace)
	v.FieldByName("RequestID").SetString(id)
	return http.StatusOK, resp
}

// writeXML sends an XML document whole, with its Content-Length.
func writeXML(w http.ResponseWriter, status int, doc any) {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	if err := xml.NewEncoder(&buf).Encode(doc); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// requestID numbers requests without touching the ID PRNG, so that describe calls
// do not change the IDs later creations get.
func (e *Emulator) requestID() string {
	e.requests++
	return fmt.Sprintf("00000000-0000-4000-8000-%012x", e.requests)
}

type xmlErrorResponse struct {
	XMLName   xml.Name `xml:"Response"`
	Code      string   `xml:"Errors>Error>Code"`
	Message   string   `xml:"Errors>Error>Message"`
	RequestID string   `xml:"RequestID"`
}

func writeError(w http.ResponseWriter, requestID string, a *apiError) {
	writeXML(w, a.status, xmlErrorResponse{Code: a.code, Message: a.message, RequestID: requestID})
}

// newID returns an unused ID such as sg-0123456789abcdef0.
func (e *Emulator) newID(prefix string) string {
	for {
		id := fmt.Sprintf("%s-0%016x", prefix, e.ids.Uint64())
		if !e.idTaken(id) {
			return id
		}
	}
}

func (e *Emulator) idTaken(id string) bool {
	if _, ok := e.groups[id]; ok {
		return true
	}
	if _, ok := e.rules[id]; ok {
		return true
	}
	if _, ok := e.enis[id]; ok {
		return true
	}
	if _, ok := e.instances[id]; ok {
		return true
	}
	for _, in := range e.instances {
		if in.reservation == id {
			return true
		}
	}
	return false
}

// paging is a parsed MaxResults / NextToken pair.
type paging struct {
	max   int // 0: everything
	after string
}

// parsePaging reads MaxResults (5 to 1000) and NextToken. idsParam names the
// explicit-ID list that AWS refuses to combine with MaxResults ("" for none).
func parsePaging(p *params, idsParam string) (paging, *apiError) {
	var pg paging
	if p.has("MaxResults") {
		n, _, err := p.int32("MaxResults")
		if err != nil {
			return pg, err
		}
		if n < 5 || n > 1000 {
			return pg, newErr(400, "InvalidParameterValue",
				"Value ( %d ) for parameter maxResults is invalid. Expecting a value between 5 and 1000.", n)
		}
		if idsParam != "" && p.present(idsParam) {
			return pg, newErr(400, "InvalidParameterCombination",
				"The parameter %s cannot be used with the parameter maxResults", idsParam)
		}
		pg.max = int(n)
	}
	if tok := p.str("NextToken"); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || !strings.HasPrefix(string(b), "after:") {
			return pg, newErr(400, "InvalidPaginationToken", "The pagination token %q is not valid", tok)
		}
		pg.after = strings.TrimPrefix(string(b), "after:")
	}
	return pg, nil
}

// page cuts one page out of ids (sorted ascending) and returns the next token, ""
// on the last page. The token names the last ID returned, so a page is stable
// under concurrent creations and deletions.
func (pg paging) page(ids []string) ([]string, string) {
	start := 0
	if pg.after != "" {
		start = sort.SearchStrings(ids, pg.after)
		if start < len(ids) && ids[start] == pg.after {
			start++
		}
	}
	ids = ids[start:]
	if pg.max == 0 || len(ids) <= pg.max {
		return ids, ""
	}
	ids = ids[:pg.max]
	return ids, base64.RawURLEncoding.EncodeToString([]byte("after:" + ids[len(ids)-1]))
}

// parseTags reads a Tag.N list (as in CreateTags, DeleteTags or
// TagSpecification.N). withValue tells which keys came with a Value (DeleteTags
// deletes a key sent without one whatever its value); order lists the keys.
func parseTags(p *params) (tags map[string]string, withValue map[string]bool, order []string, err *apiError) {
	tags, withValue = map[string]string{}, map[string]bool{}
	for _, t := range p.list("Tag") {
		k := t.str("Key")
		if !t.has("Key") || k == "" {
			return nil, nil, nil, errMissing("Tag.N.Key")
		}
		if len(k) > 128 {
			return nil, nil, nil, newErr(400, "InvalidParameterValue", "Tag key exceeds the maximum length of 128 characters")
		}
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			return nil, nil, nil, newErr(400, "InvalidParameterValue", "Tag keys starting with 'aws:' are reserved for internal use")
		}
		if len(t.str("Value")) > 256 {
			return nil, nil, nil, newErr(400, "InvalidParameterValue", "Tag value exceeds the maximum length of 256 characters")
		}
		if _, dup := tags[k]; !dup {
			order = append(order, k)
		}
		tags[k] = t.str("Value")
		withValue[k] = t.has("Value")
	}
	return tags, withValue, order, nil
}

// maxTags is AWS's quota of tags per resource.
const maxTags = 50

// parseTagSpecs reads TagSpecification.N and returns the tags for resourceType;
// any other resource type is an error.
func parseTagSpecs(p *params, resourceType string) (map[string]string, *apiError) {
	out := map[string]string{}
	for _, spec := range p.list("TagSpecification") {
		rt := spec.str("ResourceType")
		if rt == "" {
			return nil, errMissing("TagSpecification.N.ResourceType")
		}
		if rt != resourceType {
			return nil, newErr(400, "InvalidParameterValue",
				"'%s' is not a valid taggable resource type for this operation.", rt)
		}
		tags, _, _, err := parseTags(spec)
		if err != nil {
			return nil, err
		}
		for k, v := range tags {
			out[k] = v
		}
	}
	if len(out) > maxTags {
		return nil, newErr(400, "TagLimitExceeded", "The maximum number of tags per resource (%d) has been reached.", maxTags)
	}
	return out, nil
}

func copyTags(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
