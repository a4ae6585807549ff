package gceemu

import (
	"sort"
	"strconv"
)

// Networks and the project: read-only through the API.

type network struct {
	id      uint64
	name    string
	created string
}

// AddNetwork adds an auto-mode VPC network.
func (e *Emulator) AddNetwork(name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !nameRE.MatchString(name) {
		return errorf("invalid network name %q", name)
	}
	if e.networks[name] != nil {
		return errorf("network %s exists", name)
	}
	e.networks[name] = &network{id: e.newID(), name: name, created: now()}
	return nil
}

func (e *Emulator) networkJSON(n *network) *networkJSON {
	out := &networkJSON{Kind: "compute#network", ID: n.id, CreationTimestamp: n.created, Name: n.name,
		SelfLink:       e.selfLink("global/networks/" + n.name),
		SelfLinkWithID: e.selfLink("global/networks/" + strconv.FormatUint(n.id, 10)), AutoCreateSubnetworks: true,
		NetworkFirewallPolicyEnforcementOrder: "AFTER_CLASSIC_FIREWALL"}
	out.RoutingConfig.RoutingMode = "REGIONAL"
	return out
}

func (e *Emulator) getNetwork(req *request) *response {
	n := e.networks[req.last()]
	if n == nil {
		return errResp(errNotFound("projects/" + e.opts.Project + "/global/networks/" + req.last()))
	}
	return okJSON(e.networkJSON(n))
}

func (e *Emulator) listNetworks(req *request) *response {
	max, after, aerr := e.pageParams(req)
	if aerr != nil {
		return errResp(aerr)
	}
	flt, aerr := parseFilter(req.query.Get("filter"))
	if aerr != nil {
		return errResp(aerr)
	}
	names := make([]string, 0, len(e.networks))
	for n := range e.networks {
		names = append(names, n)
	}
	sort.Strings(names)
	out := listJSON{Kind: "compute#networkList", ID: "projects/" + e.opts.Project + "/global/networks", SelfLink: e.selfLink("global/networks")}
	for _, name := range names {
		if name <= after {
			continue
		}
		j := e.networkJSON(e.networks[name])
		ok, aerr := flt.match(func(f string) ([]string, bool) {
			v, known := map[string]string{"name": j.Name, "selfLink": j.SelfLink, "id": strconv.FormatUint(j.ID, 10)}[f]
			return []string{v}, known
		})
		if aerr != nil {
			return errResp(aerr)
		}
		if !ok {
			continue
		}
		if len(out.Items) == max {
			out.NextPageToken = pageToken(out.Items[len(out.Items)-1].(*networkJSON).Name)
			break
		}
		out.Items = append(out.Items, j)
	}
	return okJSON(out)
}

// getProject answers the project with the quotas the emulator enforces or
// counts: FIREWALLS and NETWORKS (GCP's default limit 15, not enforced).
func (e *Emulator) getProject(req *request) *response {
	return okJSON(projectJSON{
		Kind: "compute#project", ID: e.projectID, CreationTimestamp: e.created.In(pacific).Format("2006-01-02T15:04:05.000-07:00"),
		Name: e.opts.Project, SelfLink: apiBase + "projects/" + e.opts.Project,
		Quotas: []quotaJSON{
			{Metric: "FIREWALLS", Limit: float64(e.opts.FirewallQuota), Usage: float64(len(e.firewalls))},
			{Metric: "NETWORKS", Limit: 15, Usage: float64(len(e.networks))},
		},
		DefaultServiceAccount: strconv.FormatUint(e.projectID, 10) + "-compute@developer.gserviceaccount.com",
		XpnProjectStatus:      "UNSPECIFIED_XPN_PROJECT_STATUS", DefaultNetworkTier: "PREMIUM",
	})
}
