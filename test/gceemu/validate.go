package gceemu

import (
	"fmt"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// Validation of firewall rules. Messages found in public material, verbatim
// apart from the values: the name regex ("Must be a match of regex"), the
// protocol list, "Service accounts must be valid RFC 822 email addresses.",
// "Value for field '...' is too large: maximum size N element(s); actual size
// M." (413 fieldSizeTooLarge), "The resource '...' was not found" and
// "already exists", "Quota 'FIREWALLS' exceeded. Limit: N globally.". The
// others (mixed address families, ports on a protocol without ports, EGRESS
// sources, tags beside service accounts, allowed beside denied, a missing
// allowed) keep GCP's "Invalid value for field" form, code and reason with
// wording of our own.

// nameRegex is the regular expression GCP quotes in its errors.
const nameRegex = "(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)"

var nameRE = regexp.MustCompile("^" + nameRegex + "$")

// protocols are the IPProtocol names GCP accepts; the rest must be numbers.
var protocols = map[string]bool{"tcp": true, "udp": true, "icmp": true, "esp": true, "ah": true, "sctp": true, "ipip": true, "all": true}

// withPorts are the protocols whose rules may name ports: tcp, udp and sctp,
// by name or number.
var withPorts = map[string]bool{"tcp": true, "udp": true, "sctp": true, "6": true, "17": true, "132": true}

// normalize validates a rule as GCP does and fills in GCP's defaults, so that
// it is stored as GCP returns it. It does not look at output-only fields.
func (e *Emulator) normalize(f *firewallJSON) *apiError {
	if f.Name == "" {
		return errRequired("resource.name")
	}
	if !nameRE.MatchString(f.Name) {
		return errInvalidValue("resource.name", f.Name, "Must be a match of regex '"+nameRegex+"'")
	}
	if aerr := e.resolveNetwork(f); aerr != nil {
		return aerr
	}
	if aerr := normalizeScalars(f); aerr != nil {
		return aerr
	}
	if aerr := e.checkSizes(f); aerr != nil {
		return aerr
	}
	if aerr := checkRules(f); aerr != nil {
		return aerr
	}
	if aerr := checkPorts(f, e.opts.MaxPorts); aerr != nil {
		return aerr
	}
	family, aerr := checkRanges(f)
	if aerr != nil {
		return aerr
	}
	if aerr := checkPeers(f); aerr != nil {
		return aerr
	}
	// GCP's documented defaults: an ingress rule without a source applies to
	// every source, an egress rule without destinations to every destination.
	all := "0.0.0.0/0"
	if family == 6 {
		all = "::/0"
	}
	if f.Direction == "INGRESS" && len(f.SourceRanges)+len(f.SourceTags)+len(f.SourceServiceAccounts) == 0 {
		f.SourceRanges = []string{all}
	}
	if f.Direction == "EGRESS" && len(f.DestinationRanges) == 0 {
		f.DestinationRanges = []string{all}
	}
	return nil
}

// resolveNetwork takes a full or partial URL (GCP refuses a bare name) and
// stores the full one.
func (e *Emulator) resolveNetwork(f *firewallJSON) *apiError {
	if f.Network == "" {
		f.Network = e.selfLink("global/networks/default")
	}
	ref := f.Network
	for _, host := range []string{"https://www.googleapis.com/compute/v1/", "https://compute.googleapis.com/compute/v1/"} {
		ref = strings.TrimPrefix(ref, host)
	}
	project := e.opts.Project
	if rest, ok := strings.CutPrefix(ref, "projects/"); ok {
		project, ref, _ = strings.Cut(rest, "/")
	}
	name, ok := strings.CutPrefix(ref, "global/networks/")
	if !ok || !nameRE.MatchString(name) || project == "" {
		return errInvalidValue("resource.network", f.Network, "The URL is malformed.")
	}
	if project != e.opts.Project || e.networks[name] == nil {
		return errNotFound("projects/" + project + "/global/networks/" + name)
	}
	f.Network = e.selfLink("global/networks/" + name)
	return nil
}

func normalizeScalars(f *firewallJSON) *apiError {
	if f.Priority == nil {
		p := int64(1000)
		f.Priority = &p
	}
	switch p := *f.Priority; {
	case p < 0:
		return errInvalidValue("resource.priority", strconv.FormatInt(p, 10), "Must be greater than or equal to 0")
	case p > 65535:
		return errInvalidValue("resource.priority", strconv.FormatInt(p, 10), "Must be less than or equal to 65535")
	}
	switch f.Direction {
	case "":
		f.Direction = "INGRESS"
	case "INGRESS", "EGRESS":
	default:
		return errInvalidValue("resource.direction", f.Direction, "Must be one of [EGRESS, INGRESS].")
	}
	if f.LogConfig == nil {
		f.LogConfig = &logConfigJSON{}
	}
	switch f.LogConfig.Metadata {
	case "":
		if f.LogConfig.Enable {
			f.LogConfig.Metadata = "INCLUDE_ALL_METADATA"
		}
	case "INCLUDE_ALL_METADATA", "EXCLUDE_ALL_METADATA":
	default:
		return errInvalidValue("resource.logConfig.metadata", f.LogConfig.Metadata, "Must be one of [EXCLUDE_ALL_METADATA, INCLUDE_ALL_METADATA].")
	}
	if f.Disabled == nil {
		f.Disabled = new(bool)
	}
	return nil
}

// checkSizes applies the per-rule limits.
func (e *Emulator) checkSizes(f *firewallJSON) *apiError {
	o := e.opts
	for _, c := range []struct {
		field string
		n     int
		max   int
	}{
		{"resource.sourceRanges", len(f.SourceRanges), o.MaxSourceRanges},
		{"resource.destinationRanges", len(f.DestinationRanges), o.MaxDestinationRanges},
		{"resource.sourceTags", len(f.SourceTags), o.MaxSourceTags},
		{"resource.targetTags", len(f.TargetTags), o.MaxTargetTags},
		{"resource.sourceServiceAccounts", len(f.SourceServiceAccounts), o.MaxSourceServiceAccounts},
		{"resource.targetServiceAccounts", len(f.TargetServiceAccounts), o.MaxTargetServiceAccounts},
	} {
		if c.n > c.max {
			return errTooLarge(c.field, c.max, c.n)
		}
	}
	return nil
}

// checkRules wants exactly one of allowed and denied, and known protocols,
// which it stores in lower case.
func checkRules(f *firewallJSON) *apiError {
	switch {
	case len(f.Allowed) == 0 && len(f.Denied) == 0:
		return errRequired("resource.allowed")
	case len(f.Allowed) > 0 && len(f.Denied) > 0:
		return errInvalidValue("resource.denied[0].IPProtocol", f.Denied[0].IPProtocol,
			"A firewall rule takes either allowed or denied entries, not both.")
	}
	field, rules := "resource.allowed", f.Allowed
	if len(f.Denied) > 0 {
		field, rules = "resource.denied", f.Denied
	}
	for i := range rules {
		p := strings.ToLower(rules[i].IPProtocol)
		if p == "" {
			return errRequired(fmt.Sprintf("%s[%d].IPProtocol", field, i))
		}
		if n, err := strconv.Atoi(p); !protocols[p] && (err != nil || n < 0 || n > 255 || strconv.Itoa(n) != p) {
			return errInvalidValue(fmt.Sprintf("%s[%d].IPProtocol", field, i), rules[i].IPProtocol,
				`Must be one of ["ah", "all", "esp", "icmp", "ipip", "sctp", "tcp", "udp"] or an IP protocol number between 0 and 255.`)
		}
		rules[i].IPProtocol = p
	}
	return nil
}

// checkPorts wants ports only on tcp, udp and sctp, each a port or a range.
func checkPorts(f *firewallJSON, max int) *apiError {
	field, rules := "resource.allowed", f.Allowed
	if len(f.Denied) > 0 {
		field, rules = "resource.denied", f.Denied
	}
	for i, r := range rules {
		if max > 0 && len(r.Ports) > max {
			return errTooLarge(fmt.Sprintf("%s[%d].ports", field, i), max, len(r.Ports))
		}
		for j, p := range r.Ports {
			name := fmt.Sprintf("%s[%d].ports[%d]", field, i, j)
			if !withPorts[r.IPProtocol] {
				return errInvalidValue(name, p, "Ports may only be specified on rules whose protocol is one of [TCP, UDP, SCTP].")
			}
			if !validPortSpec(p) {
				return errInvalidValue(name, p, "Must be a port number or a range of port numbers (for example 22 or 8000-8080) between 0 and 65535.")
			}
		}
	}
	return nil
}

func validPortSpec(s string) bool {
	lo, hi, isRange := strings.Cut(s, "-")
	if !isRange {
		hi = lo
	}
	a, err1 := strconv.Atoi(lo)
	b, err2 := strconv.Atoi(hi)
	return err1 == nil && err2 == nil && strconv.Itoa(a) == lo && strconv.Itoa(b) == hi && a >= 0 && a <= b && b <= 65535
}

// checkRanges wants CIDR ranges (or addresses) without host bits, all of one
// family, as a VPC firewall rule holds IPv4 or IPv6 ranges but not both. It
// returns that family, 4 or 6 (4 when the rule has no ranges).
func checkRanges(f *firewallJSON) (int, *apiError) {
	family := 0
	for _, set := range []struct {
		field  string
		ranges []string
	}{{"resource.sourceRanges", f.SourceRanges}, {"resource.destinationRanges", f.DestinationRanges}} {
		for i, s := range set.ranges {
			name := fmt.Sprintf("%s[%d]", set.field, i)
			fam, ok := rangeFamily(s)
			if !ok {
				return 0, errInvalidValue(name, s, "Must be a valid IPV4 or IPV6 CIDR address range.")
			}
			if family != 0 && fam != family {
				return 0, errInvalidValue(name, s, "IPv4 and IPv6 ranges cannot be mixed in one firewall rule.")
			}
			family = fam
		}
	}
	if family == 0 {
		family = 4
	}
	return family, nil
}

func rangeFamily(s string) (int, bool) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		a, aerr := netip.ParseAddr(s)
		if aerr != nil || a.Zone() != "" {
			return 0, false
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if p.Masked() != p {
		return 0, false
	}
	if p.Addr().Is4() {
		return 4, true
	}
	return 6, true
}

// checkPeers checks tags and service accounts: their form, no source tags or
// source service accounts in EGRESS rules, and no tags beside service
// accounts, as the Firewall resource documents.
func checkPeers(f *firewallJSON) *apiError {
	for _, set := range []struct {
		field string
		tags  []string
	}{{"resource.sourceTags", f.SourceTags}, {"resource.targetTags", f.TargetTags}} {
		for i, t := range set.tags {
			if !nameRE.MatchString(t) {
				return errInvalidValue(fmt.Sprintf("%s[%d]", set.field, i), t, "Must be a match of regex '"+nameRegex+"'")
			}
		}
	}
	for _, set := range []struct {
		field    string
		accounts []string
	}{{"resource.sourceServiceAccounts", f.SourceServiceAccounts}, {"resource.targetServiceAccounts", f.TargetServiceAccounts}} {
		for i, a := range set.accounts {
			local, domain, ok := strings.Cut(a, "@")
			if !ok || local == "" || domain == "" || strings.ContainsAny(a, " \t,;<>\"") || strings.Contains(domain, "@") {
				return errInvalidValue(fmt.Sprintf("%s[%d]", set.field, i), a, "Service accounts must be valid RFC 822 email addresses.")
			}
		}
	}
	if f.Direction == "EGRESS" {
		if len(f.SourceTags) > 0 {
			return errInvalidValue("resource.sourceTags[0]", f.SourceTags[0], "Source tags cannot be specified for EGRESS firewall rules.")
		}
		if len(f.SourceServiceAccounts) > 0 {
			return errInvalidValue("resource.sourceServiceAccounts[0]", f.SourceServiceAccounts[0], "Source service accounts cannot be specified for EGRESS firewall rules.")
		}
	}
	tags := len(f.SourceTags) + len(f.TargetTags)
	accounts := len(f.SourceServiceAccounts) + len(f.TargetServiceAccounts)
	if tags > 0 && accounts > 0 {
		field, v := "resource.targetServiceAccounts[0]", ""
		if len(f.TargetServiceAccounts) > 0 {
			v = f.TargetServiceAccounts[0]
		} else {
			field, v = "resource.sourceServiceAccounts[0]", f.SourceServiceAccounts[0]
		}
		return errInvalidValue(field, v, "Service accounts cannot be used together with network tags in one firewall rule.")
	}
	return nil
}

// errQuota is the error of the operation of an insert beyond the project's
// FIREWALLS quota.
func errQuota(limit int) *apiError {
	return newErr(http.StatusForbidden, OperationErrorQuotaExceeded, "Quota 'FIREWALLS' exceeded. Limit: %d.0 globally.", limit)
}
