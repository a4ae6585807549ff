package gceemu

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

func (e *Emulator) firewallPath(name string) string {
	return "projects/" + e.opts.Project + "/global/firewalls/" + name
}

func (e *Emulator) getFirewall(req *request) *response {
	f := e.firewalls[req.last()]
	if f == nil {
		return errResp(errNotFound(e.firewallPath(req.last())))
	}
	return okJSON(f.clone())
}

func (e *Emulator) listFirewalls(req *request) *response {
	max, after, aerr := e.pageParams(req)
	if aerr != nil {
		return errResp(aerr)
	}
	flt, aerr := parseFilter(req.query.Get("filter"))
	if aerr != nil {
		return errResp(aerr)
	}
	names := make([]string, 0, len(e.firewalls))
	for n := range e.firewalls {
		names = append(names, n)
	}
	sort.Strings(names)
	out := listJSON{Kind: "compute#firewallList", ID: "projects/" + e.opts.Project + "/global/firewalls", SelfLink: e.selfLink("global/firewalls")}
	for _, n := range names {
		if n <= after {
			continue
		}
		f := e.firewalls[n]
		ok, aerr := flt.match(func(field string) ([]string, bool) { return firewallField(f, field) })
		if aerr != nil {
			return errResp(aerr)
		}
		if !ok {
			continue
		}
		if len(out.Items) == max {
			out.NextPageToken = pageToken(out.Items[len(out.Items)-1].(*firewallJSON).Name)
			break
		}
		out.Items = append(out.Items, f.clone())
	}
	return okJSON(out)
}

// pageParams reads maxResults (at most 500, GCP's bound) and pageToken.
func (e *Emulator) pageParams(req *request) (max int, after string, aerr *apiError) {
	max = e.opts.PageSize
	if v := req.query.Get("maxResults"); v != "" {
		n, err := strconv.ParseUint(v, 10, 32)
		switch {
		case err != nil:
			return 0, "", errInvalidValue("maxResults", v, "Must be a non-negative integer.")
		case n > 500:
			return 0, "", errInvalidValue("maxResults", v, "Must be less than or equal to 500")
		case n > 0:
			max = int(n)
		}
	}
	if tok := req.query.Get("pageToken"); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		key, ok := strings.CutPrefix(string(b), "gceemu:")
		if err != nil || !ok {
			return 0, "", errInvalidValue("pageToken", tok, "Invalid page token.")
		}
		after = key
	}
	return max, after, nil
}

// pageToken is opaque to clients: it holds the last key of the page, so that
// the next page starts after it.
func pageToken(last string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("gceemu:" + last))
}

// decodeFirewall reads a request body as a Firewall.
func decodeFirewall(body []byte) (*firewallJSON, *apiError) {
	var f firewallJSON
	if err := json.Unmarshal(body, &f); err != nil {
		return nil, newErr(http.StatusBadRequest, reasonParse, "Invalid JSON payload received. %v", err)
	}
	return &f, nil
}

func (e *Emulator) insertFirewall(req *request) *response {
	f, aerr := decodeFirewall(req.body)
	if aerr == nil {
		aerr = e.checkNew(f)
	}
	if aerr != nil {
		return errResp(aerr)
	}
	if len(e.firewalls) >= e.opts.FirewallQuota {
		// GCP accepts the call and fails its operation: GKE's controllers
		// report "Error 403: QUOTA_EXCEEDED - Quota 'FIREWALLS' exceeded."
		// from the operation's error (k8s-cloud-provider's op.go).
		return okJSON(e.newOperation("insert", "", e.selfLink("global/firewalls/"+f.Name), e.newID(), req.principal, errQuota(e.opts.FirewallQuota)))
	}
	e.store(f)
	return okJSON(e.newOperation("insert", "", f.SelfLink, f.ID, req.principal, nil))
}

// checkNew validates a new rule and checks that its name is free.
func (e *Emulator) checkNew(f *firewallJSON) *apiError {
	if aerr := e.normalize(f); aerr != nil {
		return aerr
	}
	if e.firewalls[f.Name] != nil {
		return errAlreadyExists(e.firewallPath(f.Name))
	}
	return nil
}

// store gives a new rule its output-only fields and keeps it.
func (e *Emulator) store(f *firewallJSON) {
	f.Kind, f.ID, f.CreationTimestamp = "compute#firewall", e.newID(), now()
	f.SelfLink = e.selfLink("global/firewalls/" + f.Name)
	e.firewalls[f.Name] = f
}

// patchFirewall applies a JSON merge patch (RFC 7386), as GCP documents for
// PATCH: fields the body has replace the rule's, the others stay. The Go
// client omits empty lists, so PATCH cannot clear one; Update can.
func (e *Emulator) patchFirewall(req *request) *response {
	old := e.firewalls[req.last()]
	if old == nil {
		return errResp(errNotFound(e.firewallPath(req.last())))
	}
	var patch map[string]any
	if err := json.Unmarshal(req.body, &patch); err != nil {
		return errResp(newErr(http.StatusBadRequest, reasonParse, "Invalid JSON payload received. %v", err))
	}
	cur, _ := json.Marshal(old)
	var doc map[string]any
	_ = json.Unmarshal(cur, &doc)
	merged, _ := json.Marshal(mergePatch(doc, patch))
	f, aerr := decodeFirewall(merged)
	if aerr != nil {
		return errResp(aerr)
	}
	return e.replace(req, old, f, "patch")
}

func mergePatch(doc, patch map[string]any) map[string]any {
	for k, v := range patch {
		sub, isObj := v.(map[string]any)
		switch cur, curObj := doc[k].(map[string]any); {
		case v == nil:
			delete(doc, k)
		case isObj && curObj:
			doc[k] = mergePatch(cur, sub)
		default:
			doc[k] = v
		}
	}
	return doc
}

// updateFirewall replaces the whole rule with the body (PUT): fields the body
// lacks take their defaults.
func (e *Emulator) updateFirewall(req *request) *response {
	old := e.firewalls[req.last()]
	if old == nil {
		return errResp(errNotFound(e.firewallPath(req.last())))
	}
	f, aerr := decodeFirewall(req.body)
	if aerr != nil {
		return errResp(aerr)
	}
	return e.replace(req, old, f, "update")
}

// replace validates the new version of a rule and stores it. The name, the
// network and the direction of a rule cannot change.
func (e *Emulator) replace(req *request, old, f *firewallJSON, opType string) *response {
	if f.Name == "" {
		f.Name = old.Name
	}
	if f.Name != old.Name {
		return errResp(errInvalidValue("resource.name", f.Name, "The name of a firewall rule cannot be changed."))
	}
	if aerr := e.normalize(f); aerr != nil {
		return errResp(aerr)
	}
	if f.Network != old.Network {
		return errResp(errInvalidValue("resource.network", f.Network, "The network of a firewall rule cannot be changed."))
	}
	if f.Direction != old.Direction {
		return errResp(errInvalidValue("resource.direction", f.Direction, "The direction of a firewall rule cannot be changed."))
	}
	f.Kind, f.ID, f.CreationTimestamp, f.SelfLink = old.Kind, old.ID, old.CreationTimestamp, old.SelfLink
	e.firewalls[f.Name] = f
	return okJSON(e.newOperation(opType, "", f.SelfLink, f.ID, req.principal, nil))
}

func (e *Emulator) deleteFirewall(req *request) *response {
	f := e.firewalls[req.last()]
	if f == nil {
		return errResp(errNotFound(e.firewallPath(req.last())))
	}
	delete(e.firewalls, f.Name)
	return okJSON(e.newOperation("delete", "", f.SelfLink, f.ID, req.principal, nil))
}
