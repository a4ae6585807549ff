package report

import (
	"fmt"
	"strings"
	"time"
)

// summarize writes the key figures as sentences an auditor reads first.
func summarize(r *Report) []string {
	h := r.Header
	var out []string
	name := h.Policy
	if name == "" {
		name = "the policy"
	}
	scope := fmt.Sprintf("This report covers %s from %s to %s (UTC): %s on %s and %s.",
		name, h.WindowStart.Format(time.DateOnly), h.WindowEnd.Format(time.DateOnly),
		plural(h.Segments, "segment", "segments"), plural(len(h.Targets), "target", "targets"), plural(h.AllowsCount, "allow", "allows"))
	if h.HasFlowData {
		scope += fmt.Sprintf(" It is based on %s read by %s.", plural64(uint64(h.FlowsRead), "flow record", "flow records"), plural(len(h.AuditRuns), "audit run", "audit runs"))
		if h.Malformed > 0 {
			scope += fmt.Sprintf(" %s could not be read (malformed).", plural(h.Malformed, "record", "records"))
		}
	} else {
		scope += " No flow logs were read in this window, so the figures about traffic are empty and the rest rests on the policy alone."
	}
	out = append(out, scope)

	c := r.Coverage
	cov := fmt.Sprintf("Coverage: %.1f%% of workloads are under enforcement (%d of %d)", c.Percent, c.Enforced, c.Workloads)
	var rest []string
	if c.Audit > 0 {
		rest = append(rest, fmt.Sprintf("%d in audit mode", c.Audit))
	}
	if c.Uncovered > 0 {
		rest = append(rest, fmt.Sprintf("%d in no segment", c.Uncovered))
	}
	if len(rest) > 0 {
		cov += "; " + strings.Join(rest, ", ")
	}
	out = append(out, cov+".")

	if len(r.Violations) == 0 {
		out = append(out, "Violations: none. No flow got through that the policy denies.")
	} else {
		top := r.Violations[0]
		out = append(out, fmt.Sprintf("Violations: %s got through although the policy denies them, in %s; the largest is %s -> %s on %s (%s).",
			plural64(h.Totals.Violation, "flow", "flows"), plural(len(r.Violations), "kind of traffic", "kinds of traffic"),
			peerWords(top.Src), peerWords(top.Dst), entryPort(top), plural64(top.Flows, "flow", "flows")))
	}

	if len(r.WouldBlock) == 0 {
		out = append(out, "Enforcement readiness: no segment is in audit mode.")
	} else {
		var ready, notReady []string
		for _, w := range r.WouldBlock {
			if w.Decision == DecisionGo {
				if w.Observed == 0 {
					ready = append(ready, w.Segment+" (but no flow of it was seen: check its flow logs are read)")
					continue
				}
				ready = append(ready, w.Segment)
			} else {
				notReady = append(notReady, fmt.Sprintf("%s (would block %s)", w.Segment, plural(len(w.Items), "kind of traffic", "kinds of traffic")))
			}
		}
		s := fmt.Sprintf("Enforcement readiness: %s in audit mode.", plural(len(r.WouldBlock), "segment is", "segments are"))
		if len(ready) > 0 {
			s += " Ready to enforce (go): " + strings.Join(ready, ", ") + "."
		}
		if len(notReady) > 0 {
			s += " Not ready (no-go): " + strings.Join(notReady, ", ") + "."
		}
		out = append(out, s)
	}

	if h.Totals.WantedButBlocked == 0 {
		out = append(out, "Outages: none. No flow the policy allows was blocked.")
	} else {
		out = append(out, fmt.Sprintf("Outages: %s that the policy allows were blocked, in %s.",
			plural64(h.Totals.WantedButBlocked, "flow", "flows"), plural(len(r.Outages), "kind of traffic", "kinds of traffic")))
	}

	d := r.Drift
	switch {
	case len(d.Events) == 0:
		out = append(out, "Drift: none detected. No enforcement point was changed outside the policy.")
	default:
		s := fmt.Sprintf("Drift: %s detected", plural(len(d.Events), "event", "events"))
		if d.Remediated > 0 {
			s += fmt.Sprintf("; %d repaired, in a median %s (longest %s)", d.Remediated, Duration(d.MedianSeconds), Duration(d.MaxSeconds))
		}
		if d.Open > 0 {
			s += fmt.Sprintf("; %d still open", d.Open)
		}
		out = append(out, s+".")
	}

	u := r.PolicyUpdates
	switch {
	case len(u.Rollouts) == 0:
		out = append(out, "Policy updates: none in the window.")
	default:
		s := fmt.Sprintf("Policy updates: %s", plural(len(u.Rollouts), "change", "changes"))
		if u.Complete > 0 {
			s += fmt.Sprintf("; %d enforced everywhere in a median %s (longest %s)", u.Complete, Duration(u.MedianSeconds), Duration(u.MaxSeconds))
		}
		if u.Pending > 0 {
			s += fmt.Sprintf("; %d still rolling out", u.Pending)
		}
		out = append(out, s+".")
	}

	var expired, expiring, unused, noTicket int
	for _, a := range r.Allows {
		switch a.ExpiryStatus {
		case ExpiryExpired:
			expired++
		case ExpiryExpiring:
			expiring++
		}
		if a.Unused {
			unused++
		}
		if a.Ticket == "" {
			noTicket++
		}
	}
	allows := fmt.Sprintf("Allows: %d; %d expired, %d expiring within 30 days, %d without a ticket", len(r.Allows), expired, expiring, noTicket)
	if h.HasFlowData {
		allows += fmt.Sprintf(", %d unused in the window", unused)
	}
	out = append(out, allows+".")

	counts := map[string]int{}
	for _, req := range r.PCI.Requirements {
		counts[req.Status]++
	}
	out = append(out, fmt.Sprintf("PCI DSS v4.0 Requirement 1: %d met, %d need attention, %d not met, %d not applicable.",
		counts[StatusMet], counts[StatusAttention], counts[StatusNotMet], counts[StatusNotApplicable]))
	return out
}

// peerWords names a peer for a sentence; "" is an address in no segment or network.
func peerWords(peer string) string {
	if peer == "" {
		return "an unknown address"
	}
	return peer
}

func entryPort(e FlowEntry) string { return portWords(e.Protocol, e.Port) }
