package gceemu

import (
	"net/http"
	"strings"
)

// route is one REST method: an HTTP method and a path pattern under
// /compute/v1/projects/{project}/, where "*" is a variable segment.
type route struct {
	method, pattern string
	key             string // the Calls key
	write           bool   // needs a read-write scope
	poll            bool   // an operation poll: never faulted
	handle          func(e *Emulator, req *request) *response
}

// routes are the methods the apiv1 REST clients call, with the paths of
// firewalls_client.go, instances_client.go, networks_client.go,
// projects_client.go, global_operations_client.go and zone_operations_client.go.
var routes = []*route{
	{method: "GET", pattern: "", key: "GET projects", handle: (*Emulator).getProject},
	{method: "GET", pattern: "global/firewalls", key: "LIST firewalls", handle: (*Emulator).listFirewalls},
	{method: "POST", pattern: "global/firewalls", key: "INSERT firewalls", write: true, handle: (*Emulator).insertFirewall},
	{method: "GET", pattern: "global/firewalls/*", key: "GET firewalls", handle: (*Emulator).getFirewall},
	{method: "PATCH", pattern: "global/firewalls/*", key: "PATCH firewalls", write: true, handle: (*Emulator).patchFirewall},
	{method: "PUT", pattern: "global/firewalls/*", key: "UPDATE firewalls", write: true, handle: (*Emulator).updateFirewall},
	{method: "DELETE", pattern: "global/firewalls/*", key: "DELETE firewalls", write: true, handle: (*Emulator).deleteFirewall},
	{method: "GET", pattern: "global/networks", key: "LIST networks", handle: (*Emulator).listNetworks},
	{method: "GET", pattern: "global/networks/*", key: "GET networks", handle: (*Emulator).getNetwork},
	{method: "GET", pattern: "global/operations/*", key: "GET operations", poll: true, handle: (*Emulator).getOperation},
	{method: "POST", pattern: "global/operations/*/wait", key: "WAIT operations", poll: true, handle: (*Emulator).waitOperation},
	{method: "GET", pattern: "zones/*/operations/*", key: "GET operations", poll: true, handle: (*Emulator).getOperation},
	{method: "POST", pattern: "zones/*/operations/*/wait", key: "WAIT operations", poll: true, handle: (*Emulator).waitOperation},
	{method: "GET", pattern: "aggregated/instances", key: "AGGREGATED instances", handle: (*Emulator).aggregatedInstances},
	{method: "GET", pattern: "zones/*/instances", key: "LIST instances", handle: (*Emulator).listInstances},
	{method: "GET", pattern: "zones/*/instances/*", key: "GET instances", handle: (*Emulator).getInstance},
	{method: "POST", pattern: "zones/*/instances/*/setTags", key: "SETTAGS instances", write: true, handle: (*Emulator).setTags},
}

// match finds the route of a path after /compute/v1/projects/, and returns
// its variable segments and the project. It returns a nil route for a path
// or method the emulator does not serve.
func match(method, path string) (*route, []string, string) {
	project, rest, _ := strings.Cut(path, "/")
	var seg []string
	if rest != "" {
		seg = strings.Split(rest, "/")
	}
	for _, rt := range routes {
		if rt.method != method {
			continue
		}
		var pat []string
		if rt.pattern != "" {
			pat = strings.Split(rt.pattern, "/")
		}
		if vars, ok := matchSegments(pat, seg); ok {
			return rt, vars, project
		}
	}
	return nil, nil, project
}

func matchSegments(pat, seg []string) ([]string, bool) {
	if len(pat) != len(seg) {
		return nil, false
	}
	var vars []string
	for i, p := range pat {
		switch {
		case p == "*" && seg[i] != "":
			vars = append(vars, seg[i])
		case p != seg[i]:
			return nil, false
		}
	}
	return vars, true
}

// zone returns the zone of a zonal route's path, "" for a global one.
func (req *request) zone() string {
	if strings.HasPrefix(req.route.pattern, "zones/") {
		return req.vars[0]
	}
	return ""
}

// last returns the last variable segment: the resource's name.
func (req *request) last() string { return req.vars[len(req.vars)-1] }

// okJSON answers 200 with a document.
func okJSON(body any) *response { return &response{status: http.StatusOK, body: body} }
