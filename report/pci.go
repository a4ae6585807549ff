package report

import (
	"fmt"
	"slices"
	"strings"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/model/analysis"
)

// PCISection maps the report's findings to PCI DSS v4.0 Requirement 1, "Install and
// Maintain Network Security Controls": for each sub-requirement the report can give
// evidence for, a status and that evidence in plain words.
//
// The cardholder data environment (CDE) is the segments labelled scope = "pci" (or
// cde = "true"); untrusted networks are the networks holding public address space,
// such as 0.0.0.0/0. Requirement numbers and wording follow PCI DSS v4.0 (and
// v4.0.1, which did not renumber Requirement 1).
type PCISection struct {
	Standard          string           `json:"standard"`
	CDESegments       []string         `json:"cde_segments"`
	UntrustedNetworks []string         `json:"untrusted_networks"`
	Requirements      []PCIRequirement `json:"requirements"`
	// NotCovered names the parts of Requirement 1 this report gives no evidence
	// for, so that an assessor knows to look elsewhere.
	NotCovered string `json:"not_covered"`
}

// PCIRequirement is one sub-requirement, its status and the evidence for it.
type PCIRequirement struct {
	ID       string   `json:"id"`
	Title    string   `json:"title"`
	Status   string   `json:"status"` // "met", "attention", "not met" or "not applicable"
	Evidence []string `json:"evidence"`
}

// PCI statuses.
const (
	StatusMet           = "met"
	StatusAttention     = "attention"
	StatusNotMet        = "not met"
	StatusNotApplicable = "not applicable"
)

// pciFacts is what the PCI mapping reads from the policy and the flows.
type pciFacts struct {
	cde       map[string]bool // segment names
	untrusted map[string]bool // network names
	// Flows crossing the CDE boundary (or from an untrusted network), per class.
	inbound, outbound, fromUntrusted, untrustedToCDE ClassCounts
	// auditUntrusted counts, per audit-mode segment, the flows it exchanged with
	// untrusted networks: traffic no control stood in the way of.
	auditUntrusted map[string]uint64
}

func (b *builder) pciFacts() pciFacts {
	f := pciFacts{cde: map[string]bool{}, untrusted: map[string]bool{}, auditUntrusted: map[string]uint64{}}
	for name, s := range b.p.Segments {
		if isCDE(s) {
			f.cde[name] = true
		}
	}
	for name, n := range b.p.Networks {
		if isUntrusted(n) {
			f.untrusted[name] = true
		}
	}
	for _, row := range b.rows {
		srcCDE, dstCDE := f.cde[segmentOf(row.Src)], f.cde[segmentOf(row.Dst)]
		untrustedSrc := false
		if n, ok := strings.CutPrefix(row.Src, "network."); ok && f.untrusted[n] {
			untrustedSrc = true
		}
		if dstCDE && !srcCDE {
			f.inbound.add(row.Class, row.Flows)
		}
		if srcCDE && !dstCDE {
			f.outbound.add(row.Class, row.Flows)
		}
		untrustedDst := false
		if n, ok := strings.CutPrefix(row.Dst, "network."); ok && f.untrusted[n] {
			untrustedDst = true
		}
		for _, end := range []struct {
			seg         string
			untrustedTo bool
		}{{segmentOf(row.Src), untrustedDst}, {segmentOf(row.Dst), untrustedSrc}} {
			if s, ok := b.p.Segments[end.seg]; ok && s.Mode == model.ModeAudit && end.untrustedTo {
				f.auditUntrusted[end.seg] += row.Flows
			}
		}
		if untrustedSrc {
			f.fromUntrusted.add(row.Class, row.Flows)
			if dstCDE {
				f.untrustedToCDE.add(row.Class, row.Flows)
			}
		}
	}
	return f
}

// allowLine describes an allow for evidence: `internet-to-lb (network.internet -> segment.lb on tcp/443)`.
func allowLine(a AllowEntry) string {
	return fmt.Sprintf("%s (%s -> %s on %s)", a.Name, strings.Join(a.From, ", "), strings.Join(a.To, ", "), strings.Join(a.Ports, ", "))
}

func joinLimited(items []string, limit int) string {
	if len(items) <= limit {
		return strings.Join(items, "; ")
	}
	return strings.Join(items[:limit], "; ") + fmt.Sprintf("; and %d more", len(items)-limit)
}

func refNames(refs []string, kind string) []string {
	var out []string
	for _, r := range refs {
		if n, ok := strings.CutPrefix(r, kind+"."); ok {
			out = append(out, n)
		}
	}
	return out
}

func (b *builder) pci(r *Report) PCISection {
	f := b.pciFacts()
	s := PCISection{
		Standard:          "PCI DSS v4.0, Requirement 1: Install and Maintain Network Security Controls",
		CDESegments:       nonNil(model.SortedKeys(f.cde)),
		UntrustedNetworks: nonNil(model.SortedKeys(f.untrusted)),
		NotCovered: "1.1.1-1.1.2 (policies, roles and responsibilities), 1.2.4 (data-flow diagram), 1.2.6 (insecure services), " +
			"1.2.8 (protection of configuration files), 1.3.3 (wireless), 1.4.3 (anti-spoofing), 1.4.5 (disclosure of internal addresses) " +
			"and 1.5 (devices that connect to both untrusted networks and the CDE) are processes or controls outside what microseg observes; evidence them separately.",
	}
	hasCDE := len(f.cde) > 0
	flowNote := "Flow logs were read for the window: this evidence includes what actually happened, not only what the policy says."
	if !r.Header.HasFlowData {
		flowNote = "No flow logs were read for the window: the evidence below rests on the policy alone."
	}

	auditSegs := func(names []string) []string {
		var out []string
		for _, n := range names {
			if s, ok := b.p.Segments[n]; ok && s.Mode == model.ModeAudit {
				out = append(out, n)
			}
		}
		return out
	}
	cdeNames := model.SortedKeys(f.cde)

	// 1.2.1: configuration standards defined, implemented, maintained.
	{
		req := PCIRequirement{ID: "1.2.1", Title: "Configuration standards for network security control rulesets are defined, implemented and maintained."}
		cov := r.Coverage
		req.Evidence = append(req.Evidence,
			fmt.Sprintf("One policy, kept as code, defines %s and %s on %s; microseg applies the same meaning on every target.",
				plural(len(b.p.Segments), "segment", "segments"), plural(len(b.p.Allows), "allow", "allows"), plural(len(b.p.Targets), "target", "targets")),
			fmt.Sprintf("Implemented: %d of %d workloads (%.1f%%) are under enforcement; %d in audit mode, %d in no segment.", cov.Enforced, cov.Workloads, cov.Percent, cov.Audit, cov.Uncovered),
			fmt.Sprintf("Maintained: %s in the window, %d still open.", plural(len(r.Drift.Events), "drift event", "drift events"), r.Drift.Open))
		switch {
		case cov.Workloads > 0 && cov.Enforced == cov.Workloads && r.Drift.Open == 0:
			req.Status = StatusMet
		case cov.Enforced == 0:
			req.Status = StatusNotMet
		default:
			req.Status = StatusAttention
		}
		s.Requirements = append(s.Requirements, req)
	}

	// 1.2.2: changes approved and managed.
	{
		req := PCIRequirement{ID: "1.2.2", Title: "All changes to network connections and to configurations of network security controls are approved and managed through change control."}
		u := r.PolicyUpdates
		if len(u.Rollouts) == 0 {
			req.Evidence = append(req.Evidence, "No policy change was rolled out in the window.")
		} else {
			req.Evidence = append(req.Evidence, fmt.Sprintf("%s went through plan and apply: %d enforced everywhere (median %s, longest %s), %d still rolling out.",
				plural(len(u.Rollouts), "policy change", "policy changes"), u.Complete, Duration(u.MedianSeconds), Duration(u.MaxSeconds), u.Pending))
		}
		d := r.Drift
		if len(d.Events) == 0 {
			req.Evidence = append(req.Evidence, "No drift was detected: no enforcement point was changed outside the policy.")
		} else {
			req.Evidence = append(req.Evidence, fmt.Sprintf("%s: enforcement points were changed outside the policy; %d repaired (median %s), %d still open.",
				plural(len(d.Events), "drift event", "drift events"), d.Remediated, Duration(d.MedianSeconds), d.Open))
		}
		switch {
		case d.Open > 0:
			req.Status = StatusNotMet
		case len(d.Events) > 0 || u.Pending > 0:
			req.Status = StatusAttention
		default:
			req.Status = StatusMet
		}
		s.Requirements = append(s.Requirements, req)
	}

	// 1.2.3: an accurate network diagram of the CDE's connections.
	{
		req := PCIRequirement{ID: "1.2.3", Title: "An accurate network diagram is maintained that shows all connections between the CDE and other networks."}
		var unexpected []string
		for _, e := range r.Graph.Edges {
			touches := f.cde[segmentOf(e.From)] || f.cde[segmentOf(e.To)]
			seen := e.Observed.Allowed + e.Observed.Violation + e.Observed.WouldBlock
			if touches && !e.Policy && seen > 0 {
				unexpected = append(unexpected, fmt.Sprintf("%s -> %s (%s)", e.From, e.To, plural64(seen, "flow", "flows")))
			}
		}
		req.Evidence = append(req.Evidence, fmt.Sprintf("The segment graph in this report is drawn from the policy (%s, %s) and overlays the flows observed in the window.",
			plural(len(r.Graph.Nodes), "node", "nodes"), plural(len(r.Graph.Edges), "connection", "connections")), flowNote)
		switch {
		case !hasCDE:
			req.Status = StatusNotApplicable
			req.Evidence = append(req.Evidence, `No segment is labelled scope = "pci", so the report cannot tell the CDE apart.`)
		case len(unexpected) > 0:
			req.Status = StatusAttention
			req.Evidence = append(req.Evidence, "Connections to or from the CDE were observed that the policy does not show: "+joinLimited(unexpected, 5)+".")
		default:
			req.Status = StatusMet
			req.Evidence = append(req.Evidence, "Every connection to or from the CDE seen in the window is one the policy shows.")
		}
		s.Requirements = append(s.Requirements, req)
	}

	// 1.2.5: services, protocols and ports identified, approved, with a business need.
	{
		req := PCIRequirement{ID: "1.2.5", Title: "All services, protocols and ports allowed are identified, approved and have a defined business need."}
		var noOwner, noTicket, unused, cdeUnowned []string
		for _, a := range r.Allows {
			if a.Owner == "" {
				noOwner = append(noOwner, a.Name)
			}
			if a.Ticket == "" {
				noTicket = append(noTicket, a.Name)
			}
			if a.Owner == "" && a.Ticket == "" {
				for _, seg := range append(refNames(a.From, "segment"), refNames(a.To, "segment")...) {
					if f.cde[seg] {
						cdeUnowned = append(cdeUnowned, a.Name)
						break
					}
				}
			}
			if a.Unused {
				unused = append(unused, a.Name)
			}
		}
		req.Evidence = append(req.Evidence, fmt.Sprintf("Every permitted service, protocol and port is named by one of %s; the allows table lists each with its owner and ticket.", plural(len(r.Allows), "allow", "allows")))
		if len(noOwner) > 0 {
			req.Evidence = append(req.Evidence, "Without an owner: "+joinLimited(noOwner, 8)+".")
		}
		if len(noTicket) > 0 {
			req.Evidence = append(req.Evidence, "Without a ticket recording the approval: "+joinLimited(noTicket, 8)+".")
		}
		if len(unused) > 0 {
			req.Evidence = append(req.Evidence, "No traffic used these in the window; confirm the business need still exists: "+joinLimited(unused, 8)+".")
		}
		switch {
		case len(cdeUnowned) > 0:
			req.Status = StatusNotMet
			req.Evidence = append(req.Evidence, "Allows touching the CDE with neither owner nor ticket: "+joinLimited(cdeUnowned, 8)+".")
		case len(noOwner)+len(noTicket)+len(unused) > 0:
			req.Status = StatusAttention
		default:
			req.Status = StatusMet
		}
		s.Requirements = append(s.Requirements, req)
	}

	// 1.2.7: configurations reviewed at least every six months.
	{
		req := PCIRequirement{ID: "1.2.7", Title: "Configurations of network security controls are reviewed at least once every six months to confirm they are relevant and effective."}
		var expired, expiring []string
		dated := 0
		for _, a := range r.Allows {
			switch a.ExpiryStatus {
			case ExpiryExpired:
				expired = append(expired, fmt.Sprintf("%s (expired %s)", a.Name, a.Expires))
			case ExpiryExpiring:
				expiring = append(expiring, fmt.Sprintf("%s (expires %s)", a.Name, a.Expires))
			}
			if a.Expires != "" {
				dated++
			}
		}
		req.Evidence = append(req.Evidence, fmt.Sprintf("%d of %d allows carry an expiry date that forces a review.", dated, len(r.Allows)))
		if len(expired) > 0 {
			req.Evidence = append(req.Evidence, "Past their expiry, still in the policy: "+joinLimited(expired, 8)+".")
		}
		if len(expiring) > 0 {
			req.Evidence = append(req.Evidence, "Expiring within 30 days: "+joinLimited(expiring, 8)+".")
		}
		req.Evidence = append(req.Evidence, "This report (unused allows, owners, blast radius) supports the review; the review record itself is kept outside microseg.")
		switch {
		case len(expired) > 0:
			req.Status = StatusNotMet
		case len(expiring) > 0:
			req.Status = StatusAttention
		default:
			req.Status = StatusMet
		}
		s.Requirements = append(s.Requirements, req)
	}

	// 1.3.1 and 1.3.2: traffic into and out of the CDE restricted.
	boundary := func(id, title, dir string, counts ClassCounts, inbound bool) PCIRequirement {
		req := PCIRequirement{ID: id, Title: title}
		if !hasCDE {
			req.Status = StatusNotApplicable
			req.Evidence = []string{`No segment is labelled scope = "pci", so there is no CDE boundary to evidence.`}
			return req
		}
		var allows []string
		for _, a := range r.Allows {
			from, to := a.From, a.To
			if !inbound {
				from, to = to, from
			}
			outside := slices.ContainsFunc(from, func(p string) bool { return !f.cde[segmentOf(p)] })
			inside := slices.ContainsFunc(to, func(p string) bool { return f.cde[segmentOf(p)] })
			if outside && inside {
				allows = append(allows, allowLine(a))
			}
		}
		audit := auditSegs(cdeNames)
		req.Evidence = append(req.Evidence, fmt.Sprintf("The CDE is %s: %s. Everything not allowed is denied by default on enforced segments.", plural(len(cdeNames), "segment", "segments"), strings.Join(cdeNames, ", ")))
		if len(allows) == 0 {
			req.Evidence = append(req.Evidence, fmt.Sprintf("No allow lets traffic %s the CDE.", dir))
		} else {
			req.Evidence = append(req.Evidence, fmt.Sprintf("%s let traffic %s the CDE: %s.", plural(len(allows), "allow", "allows"), dir, joinLimited(allows, 6)))
		}
		if len(audit) > 0 {
			req.Evidence = append(req.Evidence, "In audit mode, so not yet restricting anything: "+strings.Join(audit, ", ")+".")
		}
		req.Evidence = append(req.Evidence, flowNote)
		if r.Header.HasFlowData {
			req.Evidence = append(req.Evidence, fmt.Sprintf("Flows %s the CDE in the window: %s allowed by the policy, %s denied as intended, %s violations (let through although denied), %s that enforcement would block.",
				dir, thousands(counts.Allowed), thousands(counts.Blocked), thousands(counts.Violation), thousands(counts.WouldBlock)))
		}
		switch {
		case len(audit) > 0 || counts.Violation > 0:
			req.Status = StatusNotMet
		case counts.WouldBlock > 0 || !r.Header.HasFlowData:
			req.Status = StatusAttention
		default:
			req.Status = StatusMet
		}
		return req
	}
	s.Requirements = append(s.Requirements,
		boundary("1.3.1", "Inbound traffic to the CDE is restricted to only traffic that is necessary; all other traffic is specifically denied.", "into", f.inbound, true),
		boundary("1.3.2", "Outbound traffic from the CDE is restricted to only traffic that is necessary; all other traffic is specifically denied.", "out of", f.outbound, false))

	// 1.4.x: trusted and untrusted networks.
	untrustedNames := model.SortedKeys(f.untrusted)
	var facing, facingCDE []string // segments an untrusted network may reach or be reached from
	var fromUntrusted []string     // allows from an untrusted network
	for _, a := range r.Allows {
		fromU := slices.ContainsFunc(refNames(a.From, "network"), func(n string) bool { return f.untrusted[n] })
		toU := slices.ContainsFunc(refNames(a.To, "network"), func(n string) bool { return f.untrusted[n] })
		if fromU {
			fromUntrusted = append(fromUntrusted, allowLine(a))
			for _, seg := range refNames(a.To, "segment") {
				if f.cde[seg] {
					facingCDE = append(facingCDE, seg)
				}
			}
			facing = append(facing, refNames(a.To, "segment")...)
		}
		if toU {
			facing = append(facing, refNames(a.From, "segment")...)
		}
	}
	slices.Sort(facing)
	facing = slices.Compact(facing)
	slices.Sort(facingCDE)
	facingCDE = slices.Compact(facingCDE)
	notApplicable := func(id, title string) PCIRequirement {
		return PCIRequirement{ID: id, Title: title, Status: StatusNotApplicable,
			Evidence: []string{"No network in the policy holds public address space, so no untrusted network is a peer of any segment."}}
	}
	untrustedLine := func() string {
		parts := make([]string, len(untrustedNames))
		for i, n := range untrustedNames {
			var cidrs []string
			for _, c := range b.p.Networks[n].CIDRs {
				cidrs = append(cidrs, c.String())
			}
			parts[i] = fmt.Sprintf("%s (%s)", n, strings.Join(cidrs, ", "))
		}
		return "Untrusted networks: " + strings.Join(parts, "; ") + "."
	}

	// 1.4.1: controls between trusted and untrusted networks.
	const t141 = "Network security controls are implemented between trusted and untrusted networks."
	if len(untrustedNames) == 0 {
		s.Requirements = append(s.Requirements, notApplicable("1.4.1", t141))
	} else {
		req := PCIRequirement{ID: "1.4.1", Title: t141}
		req.Evidence = append(req.Evidence, untrustedLine())
		audit := auditSegs(facing)
		if len(facing) == 0 {
			req.Evidence = append(req.Evidence, "No allow connects a segment with an untrusted network; enforced segments deny such traffic by default.")
		} else {
			req.Evidence = append(req.Evidence, "Segments that exchange traffic with an untrusted network: "+strings.Join(facing, ", ")+".")
		}
		var observed []string
		for _, seg := range model.SortedKeys(f.auditUntrusted) {
			observed = append(observed, fmt.Sprintf("%s (%s)", seg, plural64(f.auditUntrusted[seg], "flow", "flows")))
		}
		switch {
		case len(audit) > 0:
			req.Status = StatusNotMet
			req.Evidence = append(req.Evidence, "Of these, in audit mode (no control in place yet): "+strings.Join(audit, ", ")+".")
		case len(observed) > 0:
			req.Status = StatusAttention
		default:
			req.Status = StatusMet
			if len(facing) > 0 {
				req.Evidence = append(req.Evidence, "Each of them is enforced.")
			}
		}
		if len(observed) > 0 {
			req.Evidence = append(req.Evidence, "Segments in audit mode exchanged traffic with an untrusted network in the window, with no control in the way: "+strings.Join(observed, ", ")+".")
		}
		s.Requirements = append(s.Requirements, req)
	}

	// 1.4.2: inbound from untrusted networks limited to public services.
	const t142 = "Inbound traffic from untrusted networks is restricted to authorized publicly accessible services, protocols and ports and to stateful responses; all other traffic is denied."
	if len(untrustedNames) == 0 {
		s.Requirements = append(s.Requirements, notApplicable("1.4.2", t142))
	} else {
		req := PCIRequirement{ID: "1.4.2", Title: t142}
		if len(fromUntrusted) == 0 {
			req.Evidence = append(req.Evidence, "No allow admits traffic from an untrusted network.")
		} else {
			req.Evidence = append(req.Evidence, "Publicly accessible services, as allowed: "+joinLimited(fromUntrusted, 6)+".")
		}
		req.Evidence = append(req.Evidence, "Responses are admitted only as return traffic of connections a trusted workload opened: every enforcement point microseg drives is stateful.")
		var pciBroad, broad []string
		for _, fd := range analysis.Lint(b.p, analysis.LintOptions{Now: b.now}) {
			switch fd.Rule {
			case "broad-source-pci":
				pciBroad = append(pciBroad, fd.Message)
			case "broad-source":
				broad = append(broad, fd.Message)
			}
		}
		for _, m := range append(pciBroad, broad...) {
			req.Evidence = append(req.Evidence, "Lint: "+m+".")
		}
		u := f.fromUntrusted
		if r.Header.HasFlowData {
			req.Evidence = append(req.Evidence, fmt.Sprintf("Flows from untrusted networks in the window: %s allowed, %s denied as intended, %s violations, %s that enforcement would block.",
				thousands(u.Allowed), thousands(u.Blocked), thousands(u.Violation), thousands(u.WouldBlock)))
		} else {
			req.Evidence = append(req.Evidence, flowNote)
		}
		switch {
		case len(pciBroad) > 0 || u.Violation > 0:
			req.Status = StatusNotMet
		case len(broad) > 0 || u.WouldBlock > 0:
			req.Status = StatusAttention
		default:
			req.Status = StatusMet
		}
		s.Requirements = append(s.Requirements, req)
	}

	// 1.4.4: components storing cardholder data not directly reachable.
	const t144 = "System components that store cardholder data are not directly accessible from untrusted networks."
	switch {
	case len(untrustedNames) == 0:
		s.Requirements = append(s.Requirements, notApplicable("1.4.4", t144))
	case !hasCDE:
		s.Requirements = append(s.Requirements, PCIRequirement{ID: "1.4.4", Title: t144, Status: StatusNotApplicable,
			Evidence: []string{`No segment is labelled scope = "pci", so the report cannot tell which components hold cardholder data.`}})
	default:
		req := PCIRequirement{ID: "1.4.4", Title: t144}
		u := f.untrustedToCDE
		if len(facingCDE) == 0 {
			req.Evidence = append(req.Evidence, "No allow lets an untrusted network reach a CDE segment directly.")
		} else {
			req.Evidence = append(req.Evidence, "CDE segments an untrusted network reaches directly: "+strings.Join(facingCDE, ", ")+
				". Confirm they store no cardholder data (a load balancer or web tier should not), and that the data stores sit further in.")
		}
		if r.Header.HasFlowData {
			req.Evidence = append(req.Evidence, fmt.Sprintf("Flows from untrusted networks into the CDE in the window: %s allowed, %s violations, %s that enforcement would block.",
				thousands(u.Allowed), thousands(u.Violation), thousands(u.WouldBlock)))
		}
		switch {
		case u.Violation > 0 || u.WouldBlock > 0:
			req.Status = StatusNotMet
		case len(facingCDE) > 0:
			req.Status = StatusAttention
		default:
			req.Status = StatusMet
		}
		s.Requirements = append(s.Requirements, req)
	}
	return s
}
