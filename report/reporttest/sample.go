// Package reporttest makes the sample inputs the report's tests (golden files, the
// headless-browser test) build reports from: nine weeks of audit rows, drift events
// and policy updates over the three-tier example, and a policy full of hostile
// names. It is pure, like report, so that any test can use it.
package reporttest

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/model/verdict"
	"github.com/microseg/microseg/report"
)

// Now is the end of the sample window: a date at which the example's batch-to-db
// allow (expires 2027-06-30) is within its 30-day expiry warning.
var Now = time.Date(2027, 6, 10, 12, 0, 0, 0, time.UTC)

// Since is the start of the sample window, a Monday nine weeks before Now.
var Since = time.Date(2027, 4, 12, 0, 0, 0, 0, time.UTC)

// row builds one day's row.
func row(day time.Time, target string, class verdict.Class, src, dst string, proto model.Protocol, port uint16, allow, service string, flows uint64, sampleSrc, sampleDst string) verdict.Row {
	return verdict.Row{
		Key:   verdict.Key{Day: day, Target: target, Class: class, Src: src, Dst: dst, Protocol: proto, Port: port, Allow: allow, Service: service},
		Flows: flows, Bytes: flows * 1400, Packets: flows * 3,
		First: day.Add(time.Duration(port%20) * time.Hour), Last: day.Add(23 * time.Hour),
		SampleSrc: sampleSrc, SampleDst: sampleDst,
	}
}

// ThreeTier returns inputs for the examples/three-tier policy: weekly audit runs of
// the AWS and hosts targets with allowed traffic every day, violations in weeks 3 to
// 5, would-block traffic from the audit-mode batch segment, a blocked probe, an
// outage, and flows nobody governs; three drift events (one still open) and two
// policy rollouts (one pending).
func ThreeTier() report.Inputs {
	const tcp, udp = model.ProtocolTCP, model.ProtocolUDP
	in := report.Inputs{PolicyName: "three-tier", Now: Now, Since: Since}
	week := 0
	for start := Since; start.Before(Now); start = start.AddDate(0, 0, 7) {
		end := start.AddDate(0, 0, 7)
		if end.After(Now) {
			end = Now
		}
		aws := report.AuditRun{ID: fmt.Sprintf("aws-w%d", week), Target: "prod-use1", Source: "s3://acme-flowlogs/AWSLogs/123456789012/vpcflowlogs/us-east-1/",
			PolicyHash: "a1b2c3d4", Started: end.Add(10 * time.Minute), Since: start, Until: end}
		dc1 := report.AuditRun{ID: fmt.Sprintf("dc1-w%d", week), Target: "dc1", Source: "nflog:dc1",
			PolicyHash: "a1b2c3d4", Started: end.Add(12 * time.Minute), Since: start, Until: end}
		gcp := report.AuditRun{ID: fmt.Sprintf("gcp-w%d", week), Target: "prod", Source: "gs://acme-logs/",
			PolicyHash: "a1b2c3d4", Started: end.Add(14 * time.Minute), Since: start, Until: end}
		for day := start; day.Before(end); day = day.AddDate(0, 0, 1) {
			n := uint64(day.YearDay()%7 + 1)
			aws.Rows = append(aws.Rows,
				row(day, "prod-use1", verdict.Allowed, "network.internet", "segment.lb", tcp, 443, "internet-to-lb", "https", 900*n, "198.51.100.20", "10.10.0.5"),
				row(day, "prod-use1", verdict.Allowed, "segment.lb", "segment.web", tcp, 443, "lb-to-web", "https", 850*n, "10.10.0.5", "10.10.1.10"),
				row(day, "prod-use1", verdict.Allowed, "segment.web", "network.dns-resolvers", udp, 53, "dns", "dns", 40*n, "10.10.1.10", "10.0.0.2"))
			dc1.Rows = append(dc1.Rows,
				row(day, "dc1", verdict.Allowed, "segment.app", "segment.db", tcp, 5432, "app-to-db", "postgres", 300*n, "10.30.0.7", "10.20.0.11"),
				row(day, "dc1", verdict.Allowed, "segment.monitoring", "segment.db", tcp, 9100, "monitoring", "node-exporter", 24, "10.20.1.10", "10.20.0.12"),
				row(day, "dc1", verdict.Blocked, "network.internet", "segment.db", tcp, 5432, "", "", 2, "203.0.113.66", "10.20.0.11"))
			gcp.Rows = append(gcp.Rows,
				row(day, "prod", verdict.Allowed, "segment.batch", "segment.db", tcp, 5432, "batch-to-db", "postgres", 12, "10.40.0.3", "10.20.0.12"),
				row(day, "prod", verdict.Allowed, "segment.batch", "network.dns-resolvers", udp, 53, "dns", "dns", 30, "10.40.0.3", "10.0.0.3"),
				row(day, "prod", verdict.Unknown, "", "", tcp, 8443, "", "", 5, "192.168.50.4", "192.168.50.9"))
			if week >= 1 && week <= 7 && day.Weekday() == time.Wednesday {
				gcp.Rows = append(gcp.Rows, row(day, "prod", verdict.WouldBlock, "segment.batch", "network.internet", tcp, 443, "", "", uint64(4+week), "10.40.0.3", "198.51.100.77"))
			}
			if week >= 4 && day.Weekday() == time.Friday {
				gcp.Rows = append(gcp.Rows, row(day, "prod", verdict.WouldBlock, "segment.batch", "segment.monitoring", tcp, 9100, "", "", 3, "10.40.0.3", "10.20.1.10"))
			}
			if week >= 2 && week <= 4 && day.Weekday() != time.Sunday {
				dc1.Rows = append(dc1.Rows, row(day, "dc1", verdict.Violation, "segment.web", "segment.db", tcp, 5432, "", "", uint64(6*week), "10.10.1.10", "10.20.0.11"))
			}
			if week == 3 && day.Weekday() == time.Tuesday {
				aws.Rows = append(aws.Rows, row(day, "prod-use1", verdict.Violation, "network.internet", "segment.web", tcp, 22, "", "", 17, "203.0.113.9", "10.10.1.10"))
			}
			if week == 6 && day.Weekday() == time.Thursday {
				dc1.Rows = append(dc1.Rows, row(day, "dc1", verdict.WantedButBlocked, "segment.app", "segment.db", tcp, 5432, "app-to-db", "postgres", 41, "10.30.0.7", "10.20.0.11"))
			}
		}
		aws.Records = int(sumFlows(aws.Rows))
		dc1.Records = int(sumFlows(dc1.Rows))
		gcp.Records = int(sumFlows(gcp.Rows))
		if week == 5 {
			aws.Malformed = 3
		}
		in.Runs = append(in.Runs, aws, dc1, gcp)
		week++
	}
	in.Drift = []report.DriftEvent{
		{ID: "drift-1", Target: "prod-use1", Detected: time.Date(2027, 4, 28, 9, 30, 0, 0, time.UTC), Changes: 1,
			Summary: "security group microseg-web gained ingress tcp/22 from 0.0.0.0/0", Remediated: time.Date(2027, 4, 28, 11, 45, 0, 0, time.UTC)},
		{ID: "drift-2", Target: "dc1", Detected: time.Date(2027, 5, 6, 14, 0, 0, 0, time.UTC), Changes: 2,
			Summary: "table inet microseg on db-01 changed by hand", Remediated: time.Date(2027, 5, 6, 14, 30, 0, 0, time.UTC)},
		{ID: "drift-3", Target: "prod-weu", Detected: time.Date(2027, 6, 9, 8, 0, 0, 0, time.UTC), Changes: 1,
			Summary: "NSG rule microseg-app-in-8080 priority changed"},
	}
	in.Findings = []report.Finding{
		{Target: "prod-use1", Subject: "interface eni-0a1b2c3d4e5f60718",
			Message:   "member of web also carries security group sg-0f1e2d3c4b5a69788 (default), which microseg does not manage: it widens what the member may send and receive (exclusive_membership = true removes it)",
			FirstSeen: time.Date(2027, 4, 20, 10, 5, 0, 0, time.UTC), LastSeen: time.Date(2027, 6, 10, 11, 55, 0, 0, time.UTC)},
		{Target: "prod-use1", Subject: "interface eni-0ffffffffffffffff", Message: "seen before the window only",
			FirstSeen: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), LastSeen: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)},
	}
	in.Updates = []report.PolicyUpdate{
		{PolicyHash: "a1b2c3d4", Target: "prod-use1", Submitted: time.Date(2027, 4, 20, 10, 0, 0, 0, time.UTC), Enforced: time.Date(2027, 4, 20, 10, 4, 0, 0, time.UTC)},
		{PolicyHash: "a1b2c3d4", Target: "dc1", Submitted: time.Date(2027, 4, 20, 10, 0, 0, 0, time.UTC), Enforced: time.Date(2027, 4, 20, 10, 12, 30, 0, time.UTC)},
		{PolicyHash: "e5f6a7b8", Target: "prod", Submitted: time.Date(2027, 6, 10, 9, 0, 0, 0, time.UTC)},
	}
	return in
}

func sumFlows(rows []verdict.Row) uint64 {
	var n uint64
	for _, r := range rows {
		n += r.Flows
	}
	return n
}

// Hostile is a policy built in code whose names, owners, tickets and descriptions
// carry markup, quotes, ampersands and spreadsheet formulas, with inputs whose rows
// and drift summaries do too: every renderer must show them as text.
func Hostile() (*model.Policy, report.Inputs) {
	p := model.NewPolicy()
	p.Targets["t<1>"] = &model.Target{Kind: model.KindHosts, Name: "t<1>", Hosts: &model.HostsTarget{Hosts: map[string]*model.Host{
		`h"1"`: {Name: `h"1"`, Addresses: []netip.Addr{netip.MustParseAddr("10.0.0.1")}},
	}}}
	p.Networks["net&<b>"] = &model.Network{Name: "net&<b>", CIDRs: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}}
	p.Services["svc"] = &model.Service{Name: "svc", Ports: []model.ServicePort{{Protocol: model.ProtocolTCP, Ports: model.PortRange{First: 443, Last: 443}}}}
	p.Segments["<script>alert(1)</script>"] = &model.Segment{Name: "<script>alert(1)</script>", Target: "t<1>",
		Members: model.Members{Hosts: []string{`h"1"`}}, Labels: map[string]string{"scope": "pci"}, Mode: model.ModeAudit}
	p.Allows[`a"&'<x>`] = &model.Allow{Name: `a"&'<x>`,
		From: []model.PeerRef{{Kind: model.PeerNetwork, Name: "net&<b>"}}, To: []model.PeerRef{{Kind: model.PeerSegment, Name: "<script>alert(1)</script>"}},
		Services: []string{"svc"}, Owner: "<script>alert('owner')</script>", Ticket: `=HYPERLINK("http://x","&")`,
		Description: "</td></tr><img src=x onerror=alert(1)> & \"quoted\"\nsecond line | pipe", Expires: time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC)}
	day := time.Date(2027, 6, 7, 0, 0, 0, 0, time.UTC)
	in := report.Inputs{PolicyName: `<policy "x" & y>`, Now: Now, Since: Now.AddDate(0, 0, -14),
		Runs: []report.AuditRun{{ID: "<run>", Target: "t<1>", Source: "file:///<x>&y", Since: day, Until: day.AddDate(0, 0, 1), Records: 3,
			Rows: []verdict.Row{
				row(day, "t<1>", verdict.WouldBlock, "network.net&<b>", "segment.<script>alert(1)</script>", model.ProtocolTCP, 22, "", "", 2, "<img>", `"q"`),
				row(day, "t<1>", verdict.Allowed, "network.net&<b>", "segment.<script>alert(1)</script>", model.ProtocolTCP, 443, `a"&'<x>`, "svc", 1, "1.2.3.4", "10.0.0.1"),
			}}},
		Drift: []report.DriftEvent{{ID: "d", Target: "t<1>", Detected: day, Summary: "<b>bold</b> & \"drift\""}},
		Findings: []report.Finding{{Target: "t<1>", Subject: "<b>interface</b>", Message: `=HYPERLINK("http://x") & <script>x</script> | pipe`,
			FirstSeen: day, LastSeen: day}},
	}
	return p, in
}
