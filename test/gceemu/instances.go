package gceemu

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// emptyFingerprint is the fingerprint GCP gives empty tags and labels.
const emptyFingerprint = "42WmSpB8rSM="

// InstanceSpec describes an instance to AddInstance. Zero values take the
// defaults.
type InstanceSpec struct {
	Labels map[string]string
	Tags   []string
	// Network is the name of its network (default "default"), which must exist.
	Network string
	// IP is its primary internal IPv4 address (default 10.128.0.N); IPv6 an
	// optional internal IPv6 address.
	IP, IPv6 string
	// ServiceAccount is the e-mail address of its service account (default:
	// none attached).
	ServiceAccount string
	// Status is RUNNING (default), STOPPED, TERMINATED and the like.
	Status string
}

type instance struct {
	id                          uint64
	name, zone, status, created string
	labels                      map[string]string
	tags                        []string
	fingerprint                 string // of the tags
	nicFP, labelFP, instanceFP  string
	network, ip, ipv6, account  string
}

// zoneRE is the form of a zone name, e.g. us-central1-a: the emulator takes
// any such zone to exist, as a project sees all of GCP's.
var zoneRE = regexp.MustCompile(`^[a-z]+-[a-z]+[0-9]+-[a-z]$`)

var statuses = map[string]bool{"PROVISIONING": true, "STAGING": true, "RUNNING": true, "STOPPING": true,
	"STOPPED": true, "SUSPENDING": true, "SUSPENDED": true, "REPAIRING": true, "TERMINATED": true}

// AddInstance adds an instance in a zone (e.g. "us-central1-a").
func (e *Emulator) AddInstance(zone, name string, spec InstanceSpec) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !zoneRE.MatchString(zone) || !nameRE.MatchString(name) {
		return errorf("invalid zone %q or instance name %q", zone, name)
	}
	if e.zones[zone][name] != nil {
		return errorf("instance %s/%s exists", zone, name)
	}
	if spec.Network == "" {
		spec.Network = "default"
	}
	if spec.Status == "" {
		spec.Status = "RUNNING"
	}
	if e.networks[spec.Network] == nil || !statuses[spec.Status] {
		return errorf("network %q does not exist or status %q is not an instance status", spec.Network, spec.Status)
	}
	if aerr := e.checkTags(spec.Tags); aerr != nil {
		return errorf("%s", aerr.message)
	}
	n := 0
	for _, z := range e.zones {
		n += len(z)
	}
	if spec.IP == "" {
		spec.IP = netip.AddrFrom4([4]byte{10, 128, byte((n + 2) >> 8), byte(n + 2)}).String()
	}
	if a, err := netip.ParseAddr(spec.IP); err != nil || !a.Is4() {
		return errorf("invalid IPv4 address %q", spec.IP)
	}
	if a, err := netip.ParseAddr(spec.IPv6); spec.IPv6 != "" && (err != nil || !a.Is6()) {
		return errorf("invalid IPv6 address %q", spec.IPv6)
	}
	in := &instance{id: e.newID(), name: name, zone: zone, status: spec.Status, created: now(),
		labels: copyMap(spec.Labels), tags: append([]string(nil), spec.Tags...), fingerprint: emptyFingerprint,
		nicFP: e.fingerprint(), labelFP: emptyFingerprint, instanceFP: e.fingerprint(),
		network: spec.Network, ip: spec.IP, ipv6: spec.IPv6, account: spec.ServiceAccount}
	if len(in.tags) > 0 {
		in.fingerprint = e.fingerprint()
	}
	if len(in.labels) > 0 {
		in.labelFP = e.fingerprint()
	}
	if e.zones[zone] == nil {
		e.zones[zone] = map[string]*instance{}
	}
	e.zones[zone][name] = in
	return nil
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// fingerprint is an opaque 8-byte value, base64-encoded as GCP's are.
func (e *Emulator) fingerprint() string {
	var b [8]byte
	v := e.ids.Uint64()
	for i := range b {
		b[i] = byte(v >> (8 * i))
	}
	return base64.StdEncoding.EncodeToString(b[:])
}

// checkTags wants at most Options.TagsPerInstance tags, each in RFC 1035 form.
func (e *Emulator) checkTags(tags []string) *apiError {
	if len(tags) > e.opts.TagsPerInstance {
		return errTooLarge("resource.items", e.opts.TagsPerInstance, len(tags))
	}
	for i, t := range tags {
		if !nameRE.MatchString(t) {
			return errInvalidValue("resource.items["+strconv.Itoa(i)+"]", t, "Must be a match of regex '"+nameRegex+"'")
		}
	}
	return nil
}

func (e *Emulator) instanceJSON(in *instance) *instanceJSON {
	region := in.zone[:strings.LastIndex(in.zone, "-")]
	nic := nicJSON{Kind: "compute#networkInterface", Name: "nic0", Network: e.selfLink("global/networks/" + in.network),
		Subnetwork: e.selfLink("regions/" + region + "/subnetworks/" + in.network), NetworkIP: in.ip,
		IPv6Address: in.ipv6, StackType: "IPV4_ONLY", Fingerprint: in.nicFP}
	if in.ipv6 != "" {
		nic.StackType = "IPV4_IPV6"
	}
	out := &instanceJSON{Kind: "compute#instance", ID: in.id, CreationTimestamp: in.created, Name: in.name,
		Tags:        tagsJSON{Items: append([]string(nil), in.tags...), Fingerprint: in.fingerprint},
		MachineType: e.selfLink("zones/" + in.zone + "/machineTypes/e2-medium"), Status: in.status,
		Zone: e.selfLink("zones/" + in.zone), NetworkInterfaces: []nicJSON{nic}, Labels: copyMap(in.labels),
		LabelFingerprint: in.labelFP, Fingerprint: in.instanceFP, SelfLink: e.instanceLink(in.zone, in.name)}
	if in.account != "" {
		out.ServiceAccounts = []serviceAccountJSON{{Email: in.account, Scopes: []string{scopeCloudPlatform}}}
	}
	return out
}

func (e *Emulator) instanceLink(zone, name string) string {
	return e.selfLink("zones/" + zone + "/instances/" + name)
}

// instanceField is an instance's value of a filter field.
func instanceField(j *instanceJSON, field string) ([]string, bool) {
	if k, ok := strings.CutPrefix(field, "labels."); ok {
		if v, has := j.Labels[k]; has {
			return []string{v}, true
		}
		return nil, true
	}
	nic := j.NetworkInterfaces[0]
	var sas []string
	for _, s := range j.ServiceAccounts {
		sas = append(sas, s.Email)
	}
	fields := map[string][]string{
		"name": {j.Name}, "status": {j.Status}, "zone": {j.Zone}, "id": {strconv.FormatUint(j.ID, 10)},
		"selfLink": {j.SelfLink}, "tags.items": j.Tags.Items, "networkInterfaces.network": {nic.Network},
		"networkInterfaces.networkIP": {nic.NetworkIP}, "networkInterfaces.ipv6Address": {nic.IPv6Address},
		"serviceAccounts.email": sas,
	}
	v, ok := fields[field]
	return v, ok
}

func (e *Emulator) lookupInstance(req *request) (*instance, *apiError) {
	zone, name := req.vars[0], req.vars[1]
	if in := e.zones[zone][name]; in != nil {
		return in, nil
	}
	return nil, errNotFound("projects/" + e.opts.Project + "/zones/" + zone + "/instances/" + name)
}

func (e *Emulator) getInstance(req *request) *response {
	in, aerr := e.lookupInstance(req)
	if aerr != nil {
		return errResp(aerr)
	}
	return okJSON(e.instanceJSON(in))
}

// matching returns the instances of the given zones that pass the filter,
// ordered by zone and name, after the page token's key.
func (e *Emulator) matching(req *request, zones []string) ([]*instanceJSON, int, *apiError) {
	max, after, aerr := e.pageParams(req)
	if aerr != nil {
		return nil, 0, aerr
	}
	flt, aerr := parseFilter(req.query.Get("filter"))
	if aerr != nil {
		return nil, 0, aerr
	}
	sort.Strings(zones)
	var out []*instanceJSON
	for _, z := range zones {
		names := make([]string, 0, len(e.zones[z]))
		for n := range e.zones[z] {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if z+"/"+n <= after {
				continue
			}
			j := e.instanceJSON(e.zones[z][n])
			ok, aerr := flt.match(func(f string) ([]string, bool) { return instanceField(j, f) })
			if aerr != nil {
				return nil, 0, aerr
			}
			if ok {
				out = append(out, j)
			}
		}
	}
	return out, max, nil
}

// zoneName is the zone of an instance, from its zone URL.
func zoneName(j *instanceJSON) string { return j.Zone[strings.LastIndex(j.Zone, "/")+1:] }

// pageKey is the page token's key of an instance: zone/name.
func pageKey(j *instanceJSON) string { return zoneName(j) + "/" + j.Name }

func (e *Emulator) listInstances(req *request) *response {
	zone := req.vars[0]
	if !zoneRE.MatchString(zone) {
		return errResp(errNotFound("projects/" + e.opts.Project + "/zones/" + zone))
	}
	all, max, aerr := e.matching(req, []string{zone})
	if aerr != nil {
		return errResp(aerr)
	}
	out := listJSON{Kind: "compute#instanceList", ID: "projects/" + e.opts.Project + "/zones/" + zone + "/instances",
		SelfLink: e.selfLink("zones/" + zone + "/instances")}
	for i, j := range all {
		if i == max {
			out.NextPageToken = pageToken(pageKey(all[i-1]))
			break
		}
		out.Items = append(out.Items, j)
	}
	return okJSON(out)
}

// aggregatedInstances pages across zones; every zone the project has
// instances in appears, those without any on the page with GCP's warning.
func (e *Emulator) aggregatedInstances(req *request) *response {
	zones := make([]string, 0, len(e.zones))
	for z := range e.zones {
		zones = append(zones, z)
	}
	all, max, aerr := e.matching(req, zones)
	if aerr != nil {
		return errResp(aerr)
	}
	out := aggregatedJSON{Kind: "compute#instanceAggregatedList", ID: "projects/" + e.opts.Project + "/aggregated/instances",
		SelfLink: e.selfLink("aggregated/instances"), Items: map[string]scopedJSON{}}
	for i, j := range all {
		if i == max {
			out.NextPageToken = pageToken(pageKey(all[i-1]))
			break
		}
		key := "zones/" + zoneName(j)
		s := out.Items[key]
		s.Instances = append(s.Instances, j)
		out.Items[key] = s
	}
	for _, z := range zones {
		if _, ok := out.Items["zones/"+z]; !ok {
			out.Items["zones/"+z] = scopedJSON{Warning: &warningJSON{Code: "NO_RESULTS_ON_PAGE",
				Message: "There are no results for scope 'zones/" + z + "' on this page.",
				Data:    []dataJSON{{Key: "scope", Value: "zones/" + z}}}}
		}
	}
	return okJSON(out)
}

// setTags replaces an instance's network tags if the fingerprint is current.
// A stale or missing fingerprint is 412 conditionNotMet with the message the
// Terraform provider retries on.
func (e *Emulator) setTags(req *request) *response {
	in, aerr := e.lookupInstance(req)
	if aerr != nil {
		return errResp(aerr)
	}
	var body tagsJSON
	if err := json.Unmarshal(req.body, &body); err != nil {
		return errResp(newErr(http.StatusBadRequest, reasonParse, "Invalid JSON payload received. %v", err))
	}
	if aerr := e.checkTags(body.Items); aerr != nil {
		return errResp(aerr)
	}
	if body.Fingerprint != in.fingerprint {
		return errResp(newErr(http.StatusPreconditionFailed, ReasonConditionNotMet, "Invalid fingerprint."))
	}
	link := e.instanceLink(in.zone, in.name)
	key := in.zone + "/" + in.name
	if e.failTags[key] {
		// Another writer got in first: its change moved the fingerprint, and
		// this one fails inside its operation.
		delete(e.failTags, key)
		in.fingerprint = e.fingerprint()
		failure := newErr(http.StatusPreconditionFailed, OperationErrorConditionNotMet, "Invalid fingerprint.")
		return okJSON(e.newOperation("setTags", in.zone, link, in.id, req.principal, failure))
	}
	in.tags = append([]string(nil), body.Items...)
	in.fingerprint = emptyFingerprint
	if len(in.tags) > 0 {
		in.fingerprint = e.fingerprint()
	}
	return okJSON(e.newOperation("setTags", in.zone, link, in.id, req.principal, nil))
}
