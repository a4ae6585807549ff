package armemu

import (
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// operation is a long-running operation. Its change was applied when it
// started; it only reports InProgress a number of polls, so that a client's
// poller is exercised.
type operation struct {
	id, location string
	remaining    int
	start        time.Time
}

func (e *Emulator) newOperation(location string) *operation {
	op := &operation{id: e.newUUID(), location: location, remaining: e.opts.PollsInProgress, start: time.Now().UTC()}
	e.ops[op.id] = op
	return op
}

func (e *Emulator) operationURL(req *armRequest, op *operation, kind string) string {
	return req.base + "/subscriptions/" + e.opts.SubscriptionID + "/providers/Microsoft.Network/locations/" +
		op.location + "/" + kind + "/" + op.id + "?api-version=" + url.QueryEscape(req.version)
}

// accepted answers a PUT as NRP does: the resource with provisioningState
// "Updating", 201 when it was created and 200 when updated, and the
// Azure-AsyncOperation URL the SDK polls before it GETs the resource again.
func (e *Emulator) accepted(req *armRequest, created bool, location string, body any) *response {
	op := e.newOperation(location)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return &response{status: status, body: body, header: http.Header{
		"Azure-AsyncOperation": {e.operationURL(req, op, "operations")},
	}}
}

// deleted answers a DELETE that removed a resource: 202 with both polling
// URLs, as NRP sends them.
func (e *Emulator) deleted(req *armRequest, location string) *response {
	op := e.newOperation(location)
	return &response{status: http.StatusAccepted, header: http.Header{
		"Azure-AsyncOperation": {e.operationURL(req, op, "operations")},
		"Location":             {e.operationURL(req, op, "operationResults")},
	}}
}

// noContent answers a DELETE of a resource that does not exist.
func noContent() *response { return &response{status: http.StatusNoContent} }

type operationJSON struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Status    string `json:"status"`
	StartTime string `json:"startTime"`
	EndTime   string `json:"endTime,omitempty"`
}

// pollOperation answers the Azure-AsyncOperation URL.
func (e *Emulator) pollOperation(req *armRequest) *response {
	op := e.ops[req.t.opID]
	if op == nil {
		return errResp(newErr(http.StatusNotFound, CodeChildNotFound, "Operation %s not found.", req.t.opID))
	}
	body := operationJSON{ID: strings.TrimPrefix(req.path, "/"), Name: op.id, Status: "Succeeded", StartTime: op.start.Format(time.RFC3339Nano)}
	if op.remaining > 0 {
		op.remaining--
		body.Status = "InProgress"
		return &response{status: http.StatusOK, body: body, header: http.Header{"Retry-After": {"1"}}}
	}
	body.EndTime = op.start.Format(time.RFC3339Nano)
	return okResp(http.StatusOK, body)
}

// pollOperationResult answers the Location URL of a DELETE: 202 while in
// progress, then 204.
func (e *Emulator) pollOperationResult(req *armRequest) *response {
	op := e.ops[req.t.opID]
	if op == nil {
		return errResp(newErr(http.StatusNotFound, CodeChildNotFound, "Operation %s not found.", req.t.opID))
	}
	if op.remaining > 0 {
		op.remaining--
		return &response{status: http.StatusAccepted, header: http.Header{
			"Location": {e.operationURL(req, op, "operationResults")}, "Retry-After": {"1"},
		}}
	}
	return noContent()
}

// page cuts one page out of keys (sorted ascending) from the request's
// $skiptoken and returns the absolute nextLink, "" on the last page. The token
// names the last key returned, so a page is stable under concurrent changes.
func (e *Emulator) page(req *armRequest, keys []string) ([]string, string) {
	start := 0
	if tok := req.query.Get("$skiptoken"); tok != "" {
		start = sort.SearchStrings(keys, tok)
		if start < len(keys) && keys[start] == tok {
			start++
		}
	}
	keys = keys[start:]
	if len(keys) <= e.opts.PageSize {
		return keys, ""
	}
	keys = keys[:e.opts.PageSize]
	next := req.base + req.path + "?api-version=" + url.QueryEscape(req.version) +
		"&$skiptoken=" + url.QueryEscape(keys[len(keys)-1])
	return keys, next
}

// listResp pages a list: keys sorted, item renders one.
func (e *Emulator) listResp(req *armRequest, keys []string, item func(string) any) *response {
	sort.Strings(keys)
	page, next := e.page(req, keys)
	out := listJSON{Value: make([]any, 0, len(page)), NextLink: next}
	for _, k := range page {
		out.Value = append(out.Value, item(k))
	}
	return okResp(http.StatusOK, out)
}

// preconditions applies If-Match and If-None-Match to a resource, existing or
// not, with its current etag. Weak and strong forms of one etag match.
func preconditions(h http.Header, exists bool, etag string) *apiError {
	strip := func(s string) string { return strings.TrimPrefix(strings.TrimSpace(s), "W/") }
	if m := h.Get("If-Match"); m != "" {
		if !exists || (m != "*" && strip(m) != strip(etag)) {
			return newErr(http.StatusPreconditionFailed, CodePreconditionFailed,
				"Precondition failed: the etag %s in the If-Match header does not match the resource's etag %s.", m, etag)
		}
	}
	if m := h.Get("If-None-Match"); m != "" && exists && (m == "*" || strip(m) == strip(etag)) {
		return newErr(http.StatusPreconditionFailed, CodePreconditionFailed,
			"Precondition failed: the resource exists and the If-None-Match header is %s.", m)
	}
	return nil
}

// rgFor returns the request's resource group or a 404.
func (e *Emulator) rgFor(req *armRequest) (*resourceGroup, *apiError) {
	g := e.rgs[key(req.t.rg)]
	if g == nil {
		return nil, errRGNotFound(req.t.rg)
	}
	return g, nil
}

// checkLocation wants a location on every PUT, and the one a resource has.
func checkLocation(sent, existing, typ, name, rg string) (string, *apiError) {
	loc := normLocation(sent)
	if loc == "" {
		return "", badRequest("LocationRequired", "The location property is required for this definition.")
	}
	if existing != "" && loc != existing {
		return "", badRequest("InvalidResourceLocation",
			"The resource '%s' already exists in location '%s' in resource group '%s'. A resource with the same name cannot be created in location '%s'. Please select a new resource name.",
			name, existing, rg, loc)
	}
	return loc, nil
}

// allKeys lists "rg/name" keys of one kind across the subscription, for the
// subscription-wide lists, and lets item find the resource again.
func (e *Emulator) allKeys(names func(*resourceGroup) []string) []string {
	var out []string
	for rk, g := range e.rgs {
		for _, n := range names(g) {
			out = append(out, rk+"/"+n)
		}
	}
	return out
}

func splitKey(k string) (rg, name string) {
	rg, name, _ = strings.Cut(k, "/")
	return rg, name
}
