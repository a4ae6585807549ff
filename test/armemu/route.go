package armemu

import (
	"net/http"
	"net/url"
	"strings"
)

// Resource types, spelled as ARM returns them in "type" and in IDs.
const (
	typeASG    = "Microsoft.Network/applicationSecurityGroups"
	typeNSG    = "Microsoft.Network/networkSecurityGroups"
	typeNIC    = "Microsoft.Network/networkInterfaces"
	typeVNet   = "Microsoft.Network/virtualNetworks"
	typeVM     = "Microsoft.Compute/virtualMachines"
	typeRule   = typeNSG + "/securityRules"
	typeDefRul = typeNSG + "/defaultSecurityRules"
	typeSubnet = typeVNet + "/subnets"
	typeIPConf = typeNIC + "/ipConfigurations"
)

// target is an ARM request path taken apart. Segment values keep the case they
// were sent in; kind is the canonical name of what the path addresses.
type target struct {
	sub, rg   string // rg is "" for a subscription-wide list
	ns, typ   string
	name      string // "" for a collection
	child     string // child type, e.g. securityRules
	childName string // "" for a child collection
	kind      string // e.g. "networkSecurityGroups", "securityRules", "operations"
	location  string // of an operation
	opID      string
	list      bool
}

func (t target) poll() bool { return t.kind == "operations" || t.kind == "operationResults" }

func (t target) resourcePath() string {
	p := "/subscriptions/" + t.sub + "/resourceGroups/" + t.rg + "/providers/" + t.ns + "/" + t.typ + "/" + t.name
	if t.child != "" {
		p += "/" + t.child + "/" + t.childName
	}
	return p
}

// kinds maps "namespace/type[/child]" in lower case to the canonical kind.
var kinds = map[string]string{
	"microsoft.network/applicationsecuritygroups":                  "applicationSecurityGroups",
	"microsoft.network/networksecuritygroups":                      "networkSecurityGroups",
	"microsoft.network/networksecuritygroups/securityrules":        "securityRules",
	"microsoft.network/networksecuritygroups/defaultsecurityrules": "defaultSecurityRules",
	"microsoft.network/networkinterfaces":                          "networkInterfaces",
	"microsoft.network/virtualnetworks":                            "virtualNetworks",
	"microsoft.network/virtualnetworks/subnets":                    "subnets",
	"microsoft.compute/virtualmachines":                            "virtualMachines",
}

var namespaces = map[string]bool{"microsoft.network": true, "microsoft.compute": true}

// parsePath reads /subscriptions/{s}/resourceGroups/{rg}/providers/{ns}/{type}
// [/{name}[/{child}[/{childName}]]], the same without the resource group (a
// subscription-wide list), and
// /subscriptions/{s}/providers/Microsoft.Network/locations/{l}/operations|operationResults/{id}.
func parsePath(path string) (target, *apiError) {
	seg := strings.Split(strings.Trim(path, "/"), "/")
	var t target
	bad := newErr(http.StatusNotFound, "InvalidResourceType", "The resource type could not be found for the path '%s'.", path)
	if len(seg) < 2 || !strings.EqualFold(seg[0], "subscriptions") {
		return t, bad
	}
	t.sub, seg = seg[1], seg[2:]
	if len(seg) >= 2 && strings.EqualFold(seg[0], "resourceGroups") {
		t.rg, seg = seg[1], seg[2:]
	}
	if len(seg) < 3 || !strings.EqualFold(seg[0], "providers") {
		return t, bad
	}
	t.ns, t.typ, seg = seg[1], seg[2], seg[3:]
	if !namespaces[strings.ToLower(t.ns)] {
		return t, newErr(http.StatusNotFound, "InvalidResourceNamespace", "The resource namespace '%s' is invalid.", t.ns)
	}
	if t.rg == "" && strings.EqualFold(t.typ, "locations") {
		return parseOperation(t, seg, bad)
	}
	key := strings.ToLower(t.ns + "/" + t.typ)
	switch len(seg) {
	case 0:
		t.list = true
	case 1, 2, 3:
		t.name = seg[0]
		if len(seg) > 1 {
			t.child = seg[1]
			key += "/" + strings.ToLower(t.child)
			if len(seg) == 3 {
				t.childName = seg[2]
			} else {
				t.list = true
			}
		}
	default:
		return t, bad
	}
	t.kind = kinds[key]
	if t.kind == "" || t.rg == "" && !(t.list && t.child == "") {
		return t, newErr(http.StatusNotFound, "InvalidResourceType",
			"The resource type '%s' could not be found in the namespace '%s'.", strings.TrimPrefix(key, strings.ToLower(t.ns)+"/"), t.ns)
	}
	return t, nil
}

func parseOperation(t target, seg []string, bad *apiError) (target, *apiError) {
	if len(seg) != 3 || !strings.EqualFold(t.ns, "Microsoft.Network") {
		return t, bad
	}
	t.location, t.opID = seg[0], seg[2]
	switch strings.ToLower(seg[1]) {
	case "operations":
		t.kind = "operations"
	case "operationresults":
		t.kind = "operationResults"
	default:
		return t, bad
	}
	return t, nil
}

// callKey names a call for Calls: the verb (LIST for a collection GET, POLL for
// an operation) and the kind.
func callKey(method string, t target, perr *apiError) string {
	if perr != nil {
		return method + " unknown"
	}
	switch {
	case t.poll():
		return "POLL " + t.kind
	case method == http.MethodGet && t.list:
		return "LIST " + t.kind
	}
	return method + " " + t.kind
}

// armRequest is one ARM call as a handler sees it.
type armRequest struct {
	t       target
	method  string
	body    []byte
	header  http.Header
	query   url.Values
	version string
	base    string // https://host:port, for nextLink and polling URLs
	path    string
}

type handler func(e *Emulator, req *armRequest) *response

// handlers by kind, whether the path is a collection, and method.
var handlers = map[string]map[bool]map[string]handler{
	"applicationSecurityGroups": {
		true:  {http.MethodGet: (*Emulator).listASGs},
		false: {http.MethodGet: (*Emulator).getASG, http.MethodPut: (*Emulator).putASG, http.MethodDelete: (*Emulator).deleteASG},
	},
	"networkSecurityGroups": {
		true:  {http.MethodGet: (*Emulator).listNSGs},
		false: {http.MethodGet: (*Emulator).getNSG, http.MethodPut: (*Emulator).putNSG, http.MethodDelete: (*Emulator).deleteNSG},
	},
	"securityRules": {
		true:  {http.MethodGet: (*Emulator).listRules},
		false: {http.MethodGet: (*Emulator).getRule, http.MethodPut: (*Emulator).putRule, http.MethodDelete: (*Emulator).deleteRule},
	},
	"defaultSecurityRules": {
		true:  {http.MethodGet: (*Emulator).listDefaultRules},
		false: {http.MethodGet: (*Emulator).getDefaultRule},
	},
	"networkInterfaces": {
		true:  {http.MethodGet: (*Emulator).listNICs},
		false: {http.MethodGet: (*Emulator).getNIC, http.MethodPut: (*Emulator).putNIC, http.MethodDelete: (*Emulator).deleteNIC},
	},
	"virtualNetworks": {
		true:  {http.MethodGet: (*Emulator).listVNets},
		false: {http.MethodGet: (*Emulator).getVNet},
	},
	"subnets": {
		true:  {http.MethodGet: (*Emulator).listSubnets},
		false: {http.MethodGet: (*Emulator).getSubnet, http.MethodPut: (*Emulator).putSubnet},
	},
	"virtualMachines": {
		true:  {http.MethodGet: (*Emulator).listVMs},
		false: {http.MethodGet: (*Emulator).getVM},
	},
	"operations":       {false: {http.MethodGet: (*Emulator).pollOperation}},
	"operationResults": {false: {http.MethodGet: (*Emulator).pollOperationResult}},
}

func lookupHandler(method string, t target, version string) (handler, *apiError) {
	h := handlers[t.kind][t.list][method]
	if h == nil {
		return nil, newErr(http.StatusMethodNotAllowed, "MethodNotAllowed",
			"The emulator does not implement %s on %s (api-version %s).", method, t.kind, version)
	}
	return h, nil
}

// armID is a resource ID taken apart, for references in request bodies.
type armID struct {
	sub, rg, ns, typ, name, child, childName string
}

// parseID reads /subscriptions/{s}/resourceGroups/{rg}/providers/{ns}/{type}/{name}
// [/{child}/{childName}]; ok is false for anything else.
func parseID(id string) (armID, bool) {
	seg := strings.Split(strings.Trim(id, "/"), "/")
	if !strings.HasPrefix(id, "/") || (len(seg) != 8 && len(seg) != 10) ||
		!strings.EqualFold(seg[0], "subscriptions") || !strings.EqualFold(seg[2], "resourceGroups") ||
		!strings.EqualFold(seg[4], "providers") {
		return armID{}, false
	}
	for _, s := range seg {
		if s == "" {
			return armID{}, false
		}
	}
	a := armID{sub: seg[1], rg: seg[3], ns: seg[5], typ: seg[6], name: seg[7]}
	if len(seg) == 10 {
		a.child, a.childName = seg[8], seg[9]
	}
	return a, true
}

// is tells whether the ID names a resource of the given type ("ns/type" or
// "ns/type/child") in the subscription.
func (a armID) is(sub, typ string) bool {
	full := a.ns + "/" + a.typ
	if a.child != "" {
		full += "/" + a.child
	}
	return strings.EqualFold(a.sub, sub) && strings.EqualFold(full, typ)
}
