package report

import (
	"cmp"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/model/analysis"
	"github.com/microseg/microseg/model/verdict"
)

// Build computes the report of policy p over in's window. It reads the policy and
// the inputs only, and sorts everything it emits, so that the same inputs give the
// same report, byte for byte, in every format. A row naming a segment or allow the
// policy no longer has still counts in the totals and lists; it just cannot be
// placed on the graph or in a coverage figure.
func Build(p *model.Policy, in Inputs) *Report {
	if p == nil {
		p = model.NewPolicy()
	}
	now := in.Now
	if now.IsZero() {
		now = time.Now()
	}
	now = now.UTC()
	since := in.Since.UTC()
	if in.Since.IsZero() {
		since = now.Add(-DefaultWindow)
	}
	if since.After(now) {
		since = now
	}
	b := &builder{p: p, now: now, since: since}
	b.selectRuns(in.Runs)

	r := &Report{}
	r.Header = b.header(in.PolicyName)
	r.Coverage = b.coverage()
	r.Weekly = b.weekly()
	r.WouldBlock = b.wouldBlock()
	r.Violations = b.flowEntries(verdict.Violation)
	r.Outages = b.flowEntries(verdict.WantedButBlocked)
	r.Drift = b.drift(in.Drift)
	r.Findings = b.findings(in.Findings)
	r.PolicyUpdates = b.updates(in.Updates)
	r.BlastRadius = b.blastRadius()
	r.Allows = b.allows()
	r.Graph = b.graph()
	r.PCI = b.pci(r)
	r.Summary = summarize(r)
	return r
}

// builder holds what every section reads: the policy, the window and the rows of
// the window, merged by key across runs.
type builder struct {
	p          *model.Policy
	now, since time.Time
	runs       []AuditRun
	rows       []verdict.Row // in the window, one per key, sorted by key
}

// dayOf is the UTC midnight of t, the unit rows are counted in.
func dayOf(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// selectRuns keeps the runs that overlap the window (one per ID, the last given)
// and merges their rows of the window's days by key: two runs over the same target
// and day add up rather than appear twice.
func (b *builder) selectRuns(all []AuditRun) {
	byID := make(map[string]int)
	var runs []AuditRun
	for _, run := range all {
		if i, ok := byID[run.ID]; ok && run.ID != "" {
			runs[i] = run
			continue
		}
		byID[run.ID] = len(runs)
		runs = append(runs, run)
	}
	first, last := dayOf(b.since), b.now
	merged := make(map[verdict.Key]*verdict.Row)
	for _, run := range runs {
		overlaps := !run.Until.Before(b.since) && !run.Since.After(b.now)
		if overlaps {
			b.runs = append(b.runs, run)
		}
		for _, row := range run.Rows {
			day := dayOf(row.Day)
			if day.Before(first) || day.After(last) {
				continue
			}
			row.Day = day
			m, ok := merged[row.Key]
			if !ok {
				c := row
				c.First, c.Last = row.First.UTC(), row.Last.UTC()
				merged[row.Key] = &c
				continue
			}
			mergeRow(m, row)
		}
	}
	slices.SortFunc(b.runs, func(a, c AuditRun) int {
		return cmp.Or(a.Started.Compare(c.Started), strings.Compare(a.ID, c.ID), strings.Compare(a.Target, c.Target))
	})
	for _, row := range merged {
		b.rows = append(b.rows, *row)
	}
	slices.SortFunc(b.rows, func(a, c verdict.Row) int { return compareKey(a.Key, c.Key) })
}

// mergeRow adds row's counts into m; the sample is the earliest flow's.
func mergeRow(m *verdict.Row, row verdict.Row) {
	m.Flows += row.Flows
	m.Bytes += row.Bytes
	m.Packets += row.Packets
	if !row.First.IsZero() && (m.First.IsZero() || row.First.Before(m.First)) {
		m.First = row.First.UTC()
		m.SampleSrc, m.SampleDst = row.SampleSrc, row.SampleDst
	}
	if row.Last.After(m.Last) {
		m.Last = row.Last.UTC()
	}
}

func compareKey(a, b verdict.Key) int {
	return cmp.Or(
		a.Day.Compare(b.Day),
		strings.Compare(a.Target, b.Target),
		cmp.Compare(a.Class, b.Class),
		strings.Compare(a.Src, b.Src),
		strings.Compare(a.Dst, b.Dst),
		cmp.Compare(a.Protocol, b.Protocol),
		cmp.Compare(a.Port, b.Port),
		strings.Compare(a.Allow, b.Allow),
		strings.Compare(a.Service, b.Service),
	)
}

func (c *ClassCounts) add(class verdict.Class, n uint64) {
	switch class {
	case verdict.Allowed:
		c.Allowed += n
	case verdict.Blocked:
		c.Blocked += n
	case verdict.WouldBlock:
		c.WouldBlock += n
	case verdict.Violation:
		c.Violation += n
	case verdict.WantedButBlocked:
		c.WantedButBlocked += n
	default:
		c.Unknown += n
	}
}

func (b *builder) header(name string) Header {
	h := Header{
		Policy:      name,
		Generated:   b.now,
		WindowStart: b.since,
		WindowEnd:   b.now,
		Segments:    len(b.p.Segments),
		AllowsCount: len(b.p.Allows),
		Targets:     model.SortedKeys(b.p.Targets),
		AuditRuns:   []RunEntry{},
		HasFlowData: len(b.runs) > 0 || len(b.rows) > 0,
	}
	for _, row := range b.rows {
		h.Totals.add(row.Class, row.Flows)
	}
	for _, run := range b.runs {
		h.FlowsRead += run.Records
		h.Malformed += run.Malformed
		h.NoData += run.NoData
		h.SkipData += run.SkipData
		h.AuditRuns = append(h.AuditRuns, RunEntry{
			ID: run.ID, Target: run.Target, Source: run.Source, PolicyHash: run.PolicyHash,
			Started: run.Started.UTC(), WindowStart: run.Since.UTC(), WindowEnd: run.Until.UTC(),
			Records: run.Records, Malformed: run.Malformed,
		})
	}
	return h
}

// percent is n of total as a percentage with one decimal; 0 of 0 is 0.
func percent(n, total int) float64 {
	if total == 0 {
		return 0
	}
	// Integer rounding to a tenth keeps the figure identical on every platform.
	tenths := (n*1000 + total/2) / total
	return float64(tenths) / 10
}

func (b *builder) coverage() Coverage {
	c := Coverage{Targets: []TargetCoverage{}}
	segmentsOf := make(map[string][]string) // target -> its segments, sorted
	for _, name := range model.SortedKeys(b.p.Segments) {
		s := b.p.Segments[name]
		segmentsOf[s.Target] = append(segmentsOf[s.Target], name)
	}
	for _, tname := range model.SortedKeys(b.p.Targets) {
		t := b.p.Targets[tname]
		tc := TargetCoverage{Target: tname, Kind: string(t.Kind), Items: []CoverageItem{}}
		if t.Kind == model.KindHosts && t.Hosts != nil {
			tc.Unit = "host"
			memberOf := make(map[string][]string)
			for _, sname := range segmentsOf[tname] {
				for _, h := range b.p.Segments[sname].Members.Hosts {
					memberOf[h] = append(memberOf[h], sname)
				}
			}
			for _, host := range model.SortedKeys(t.Hosts.Hosts) {
				segs := slices.Compact(slices.Sorted(slices.Values(memberOf[host])))
				state := "uncovered"
				if len(segs) > 0 {
					state = "enforce"
					for _, s := range segs {
						if b.p.Segments[s].Mode == model.ModeAudit {
							state = "audit"
						}
					}
				}
				tc.Items = append(tc.Items, CoverageItem{Name: host, State: state, Segments: nonNil(segs)})
			}
		} else {
			tc.Unit = "segment"
			for _, sname := range segmentsOf[tname] {
				tc.Items = append(tc.Items, CoverageItem{Name: sname, State: b.p.Segments[sname].Mode.String(), Segments: []string{sname}})
			}
		}
		for _, it := range tc.Items {
			switch it.State {
			case "enforce":
				tc.Enforced++
			case "audit":
				tc.Audit++
			default:
				tc.Uncovered++
			}
		}
		tc.Workloads = len(tc.Items)
		tc.Percent = percent(tc.Enforced, tc.Workloads)
		c.Workloads += tc.Workloads
		c.Enforced += tc.Enforced
		c.Audit += tc.Audit
		c.Uncovered += tc.Uncovered
		c.Targets = append(c.Targets, tc)
	}
	c.Percent = percent(c.Enforced, c.Workloads)
	return c
}

// isoMonday is the Monday 00:00 UTC of t's ISO week.
func isoMonday(t time.Time) time.Time {
	d := dayOf(t)
	offset := (int(d.Weekday()) + 6) % 7 // Monday 0 ... Sunday 6
	return d.AddDate(0, 0, -offset)
}

func (b *builder) weekly() []Week {
	weeks := []Week{}
	index := make(map[time.Time]int)
	for w := isoMonday(b.since); !w.After(b.now); w = w.AddDate(0, 0, 7) {
		y, n := w.ISOWeek()
		index[w] = len(weeks)
		weeks = append(weeks, Week{Start: w, ISOWeek: fmt.Sprintf("%04d-W%02d", y, n)})
	}
	for _, row := range b.rows {
		if i, ok := index[isoMonday(row.Day)]; ok {
			weeks[i].Flows.add(row.Class, row.Flows)
		}
	}
	return weeks
}

// segmentOf returns the name of the segment a peer string names, or "".
func segmentOf(peer string) string {
	if name, ok := strings.CutPrefix(peer, "segment."); ok {
		return name
	}
	return ""
}

func portText(proto model.Protocol, port uint16) string { return portWords(proto.String(), port) }

// portWords writes a protocol (by name, as the report stores it) and port as a
// reader expects: "tcp/5432", "icmp type 8", "gre".
func portWords(proto string, port uint16) string {
	switch proto {
	case "tcp", "udp", "sctp":
		return fmt.Sprintf("%s/%d", proto, port)
	case "icmp", "icmpv6":
		return fmt.Sprintf("%s type %d", proto, port)
	default:
		return proto
	}
}

func (b *builder) wouldBlock() []WouldBlockSegment {
	type itemKey struct {
		segment, direction, peer string
		proto                    model.Protocol
		port                     uint16
	}
	items := make(map[itemKey]*WouldBlockFlow)
	observed := make(map[string]uint64)
	for _, row := range b.rows {
		ends := []struct{ seg, dir, peer string }{
			{segmentOf(row.Src), "outbound", row.Dst},
			{segmentOf(row.Dst), "inbound", row.Src},
		}
		for i, e := range ends {
			if e.seg == "" || (i == 1 && e.seg == segmentOf(row.Src)) {
				continue // a flow inside one segment counts once
			}
			observed[e.seg] += row.Flows
			if row.Class != verdict.WouldBlock {
				continue
			}
			k := itemKey{e.seg, e.dir, e.peer, row.Protocol, row.Port}
			it, ok := items[k]
			if !ok {
				it = &WouldBlockFlow{Direction: e.dir, Peer: e.peer, Protocol: row.Protocol.String(), Port: row.Port,
					First: row.First, SampleSrc: row.SampleSrc, SampleDst: row.SampleDst}
				items[k] = it
			}
			it.Flows += row.Flows
			it.Bytes += row.Bytes
			if row.First.Before(it.First) {
				it.First, it.SampleSrc, it.SampleDst = row.First, row.SampleSrc, row.SampleDst
			}
			if row.Last.After(it.Last) {
				it.Last = row.Last
			}
		}
	}
	out := []WouldBlockSegment{}
	for _, name := range model.SortedKeys(b.p.Segments) {
		s := b.p.Segments[name]
		if s.Mode != model.ModeAudit {
			continue
		}
		ws := WouldBlockSegment{Segment: name, Target: s.Target, Observed: observed[name], Items: []WouldBlockFlow{}}
		for k, it := range items {
			if k.segment == name {
				it.Suggestion = suggestion(name, *it, k.proto)
				ws.Items = append(ws.Items, *it)
				ws.Flows += it.Flows
			}
		}
		slices.SortFunc(ws.Items, func(a, c WouldBlockFlow) int {
			return cmp.Or(cmp.Compare(c.Flows, a.Flows), strings.Compare(a.Direction, c.Direction),
				strings.Compare(a.Peer, c.Peer), strings.Compare(a.Protocol, c.Protocol), cmp.Compare(a.Port, c.Port))
		})
		switch {
		case len(ws.Items) > 0:
			ws.Decision = DecisionNoGo
			ws.Reason = fmt.Sprintf("enforcing it would block %s of %s (listed below): allow what is needed, or stop it, before enforcing",
				plural64(ws.Flows, "flow", "flows"), plural(len(ws.Items), "kind", "kinds"))
		case ws.Observed == 0:
			ws.Decision = DecisionGo
			ws.Reason = "nothing would be blocked, but no flow of this segment was seen in the window: check that its flow logs are read before relying on this"
		default:
			ws.Decision = DecisionGo
			ws.Reason = fmt.Sprintf("nothing would be blocked: all %s seen in the window are allowed", plural64(ws.Observed, "flow", "flows"))
		}
		out = append(out, ws)
	}
	return out
}

// suggestion says what to do about one kind of would-block traffic of segment seg.
func suggestion(seg string, it WouldBlockFlow, proto model.Protocol) string {
	port := portText(proto, it.Port)
	self := "segment." + seg
	peer := it.Peer
	if peer == "" {
		addr := it.SampleSrc
		if it.Direction == "outbound" {
			addr = it.SampleDst
		}
		peer = "a network for " + addr
		if it.Direction == "inbound" {
			return fmt.Sprintf("declare %s and allow it to reach %s on %s, or stop this traffic", peer, self, port)
		}
		return fmt.Sprintf("declare %s and allow %s to reach it on %s, or stop this traffic", peer, self, port)
	}
	if it.Direction == "inbound" {
		return fmt.Sprintf("allow %s -> %s on %s, or stop this traffic", peer, self, port)
	}
	return fmt.Sprintf("allow %s -> %s on %s, or stop this traffic", self, peer, port)
}

// flowEntries lists the rows of one class summed over the window's days, by flows
// (most first), then key.
func (b *builder) flowEntries(class verdict.Class) []FlowEntry {
	type entryKey struct {
		target, src, dst string
		proto            model.Protocol
		port             uint16
		allow, service   string
	}
	byKey := make(map[entryKey]*FlowEntry)
	days := make(map[entryKey]map[time.Time]bool)
	for _, row := range b.rows {
		if row.Class != class {
			continue
		}
		k := entryKey{row.Target, row.Src, row.Dst, row.Protocol, row.Port, row.Allow, row.Service}
		e, ok := byKey[k]
		if !ok {
			e = &FlowEntry{Target: row.Target, Src: row.Src, Dst: row.Dst, Protocol: row.Protocol.String(), Port: row.Port,
				Allow: row.Allow, Service: row.Service, First: row.First, SampleSrc: row.SampleSrc, SampleDst: row.SampleDst}
			byKey[k] = e
			days[k] = make(map[time.Time]bool)
		}
		e.Flows += row.Flows
		e.Bytes += row.Bytes
		e.Packets += row.Packets
		days[k][row.Day] = true
		if row.First.Before(e.First) {
			e.First, e.SampleSrc, e.SampleDst = row.First, row.SampleSrc, row.SampleDst
		}
		if row.Last.After(e.Last) {
			e.Last = row.Last
		}
	}
	out := []FlowEntry{}
	keys := make([]entryKey, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, c entryKey) int {
		return cmp.Or(cmp.Compare(byKey[c].Flows, byKey[a].Flows),
			strings.Compare(a.target, c.target), strings.Compare(a.src, c.src), strings.Compare(a.dst, c.dst),
			cmp.Compare(a.proto, c.proto), cmp.Compare(a.port, c.port), strings.Compare(a.allow, c.allow), strings.Compare(a.service, c.service))
	})
	for _, k := range keys {
		e := byKey[k]
		e.Days = len(days[k])
		out = append(out, *e)
	}
	return out
}

// median of sorted values; the mean of the middle two (rounded down) for an even count.
func median(sorted []int64) int64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

func seconds(d time.Duration) int64 { return int64(d / time.Second) }

// findings keeps the findings seen in the window, by target, subject and message.
func (b *builder) findings(in []Finding) []FindingEntry {
	out := []FindingEntry{}
	for _, f := range in {
		if f.LastSeen.Before(b.since) || f.FirstSeen.After(b.now) {
			continue
		}
		out = append(out, FindingEntry{Target: f.Target, Subject: f.Subject, Message: f.Message, FirstSeen: f.FirstSeen.UTC(), LastSeen: f.LastSeen.UTC()})
	}
	slices.SortFunc(out, func(a, c FindingEntry) int {
		return cmp.Or(strings.Compare(a.Target, c.Target), strings.Compare(a.Subject, c.Subject), strings.Compare(a.Message, c.Message))
	})
	return out
}

func (b *builder) drift(events []DriftEvent) DriftSection {
	d := DriftSection{Events: []DriftEntry{}}
	var times []int64
	for _, ev := range events {
		detected := ev.Detected.UTC()
		open := ev.Remediated.IsZero() || ev.Remediated.After(b.now)
		if detected.After(b.now) || (!open && ev.Remediated.Before(b.since)) {
			continue // not open at any time in the window
		}
		e := DriftEntry{ID: ev.ID, Target: ev.Target, Detected: detected, Open: open, Changes: ev.Changes, Summary: ev.Summary}
		if open {
			e.Seconds = seconds(b.now.Sub(detected))
			d.Open++
		} else {
			rem := ev.Remediated.UTC()
			e.Remediated = &rem
			e.Seconds = max(0, seconds(rem.Sub(detected)))
			times = append(times, e.Seconds)
			d.Remediated++
		}
		d.Events = append(d.Events, e)
	}
	slices.SortFunc(d.Events, func(a, c DriftEntry) int {
		return cmp.Or(a.Detected.Compare(c.Detected), strings.Compare(a.Target, c.Target), strings.Compare(a.ID, c.ID))
	})
	slices.Sort(times)
	d.MedianSeconds = median(times)
	if len(times) > 0 {
		d.MaxSeconds = times[len(times)-1]
	}
	return d
}

func (b *builder) updates(updates []PolicyUpdate) UpdateSection {
	byHash := make(map[string][]PolicyUpdate)
	for _, u := range updates {
		byHash[u.PolicyHash] = append(byHash[u.PolicyHash], u)
	}
	s := UpdateSection{Rollouts: []Rollout{}}
	var times []int64
	for _, hash := range model.SortedKeys(byHash) {
		ro := Rollout{PolicyHash: hash, Targets: []RolloutTarget{}}
		var enforced time.Time
		for _, u := range byHash[hash] {
			sub := u.Submitted.UTC()
			if ro.Submitted.IsZero() || sub.Before(ro.Submitted) {
				ro.Submitted = sub
			}
			rt := RolloutTarget{Target: u.Target, Submitted: sub}
			if u.Enforced.IsZero() || u.Enforced.After(b.now) {
				ro.Pending = true
				rt.Seconds = max(0, seconds(b.now.Sub(sub)))
			} else {
				enf := u.Enforced.UTC()
				rt.Enforced = &enf
				rt.Seconds = max(0, seconds(enf.Sub(sub)))
				if enf.After(enforced) {
					enforced = enf
				}
			}
			ro.Targets = append(ro.Targets, rt)
		}
		if ro.Submitted.After(b.now) || (!ro.Pending && enforced.Before(b.since)) {
			continue // not under way at any time in the window
		}
		slices.SortFunc(ro.Targets, func(a, c RolloutTarget) int {
			return cmp.Or(strings.Compare(a.Target, c.Target), a.Submitted.Compare(c.Submitted))
		})
		if ro.Pending {
			ro.Seconds = max(0, seconds(b.now.Sub(ro.Submitted)))
			s.Pending++
		} else {
			ro.Enforced = &enforced
			ro.Seconds = max(0, seconds(enforced.Sub(ro.Submitted)))
			times = append(times, ro.Seconds)
			s.Complete++
		}
		s.Rollouts = append(s.Rollouts, ro)
	}
	slices.SortStableFunc(s.Rollouts, func(a, c Rollout) int { return a.Submitted.Compare(c.Submitted) })
	slices.Sort(times)
	s.MedianSeconds = median(times)
	if len(times) > 0 {
		s.MaxSeconds = times[len(times)-1]
	}
	return s
}

// isCDE reports whether a segment is in the cardholder data environment: its labels
// say scope = "pci" (as lint's broad-source-pci rule reads them) or cde = "true".
func isCDE(s *model.Segment) bool {
	return strings.EqualFold(s.Labels["scope"], "pci") || strings.EqualFold(s.Labels["cde"], "true")
}

func (b *builder) blastRadius() []BlastEntry {
	out := []BlastEntry{}
	for _, name := range model.SortedKeys(b.p.Segments) {
		e := BlastEntry{Segment: name, CDE: isCDE(b.p.Segments[name]), Reached: []string{}}
		reaches, err := analysis.BlastRadius(b.p, model.PeerRef{Kind: model.PeerSegment, Name: name})
		if err != nil {
			panic(fmt.Sprintf("report: blast radius of a segment of the policy: %v", err)) // the start is taken from the policy
		}
		for _, r := range reaches {
			if r.Node.Kind == model.PeerSegment {
				e.Segments++
			} else {
				e.Networks++
			}
			e.MaxHops = max(e.MaxHops, r.Hops)
			e.Reached = append(e.Reached, r.Node.String())
		}
		out = append(out, e)
	}
	return out
}

func peerStrings(refs []model.PeerRef) []string {
	out := make([]string, 0, len(refs))
	for _, r := range refs {
		out = append(out, r.String())
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (b *builder) allows() []AllowEntry {
	used := make(map[string]uint64)
	for _, row := range b.rows {
		if row.Class == verdict.Allowed && row.Allow != "" {
			used[row.Allow] += row.Flows
		}
	}
	today := dayOf(b.now)
	out := []AllowEntry{}
	for _, name := range model.SortedKeys(b.p.Allows) {
		a := b.p.Allows[name]
		e := AllowEntry{
			Name: name, From: peerStrings(a.From), To: peerStrings(a.To), Services: nonNil(slices.Clone(a.Services)),
			Owner: a.Owner, Ticket: a.Ticket, Description: a.Description, ExpiryStatus: ExpiryNone,
			ObservedFlows: used[name], Ports: []string{},
		}
		if a.Pos.File != "" {
			e.Source = fmt.Sprintf("%s:%d", filepath.Base(a.Pos.File), a.Pos.Line)
		}
		var ports []model.ServicePort
		for _, svc := range a.Services {
			if s, ok := b.p.Services[svc]; ok {
				ports = append(ports, s.Ports...)
			}
		}
		for _, port := range analysis.NewPortSet(ports...).Ports() {
			e.Ports = append(e.Ports, port.String())
		}
		if !a.Expires.IsZero() {
			day := dayOf(a.Expires)
			e.Expires = day.Format(time.DateOnly)
			e.DaysToExpiry = int(day.Sub(today).Hours() / 24)
			switch {
			case day.Before(today):
				e.ExpiryStatus = ExpiryExpired
			case !day.After(today.Add(ExpiryWindow)):
				e.ExpiryStatus = ExpiryExpiring
			default:
				e.ExpiryStatus = ExpiryOK
			}
		}
		e.Unused = e.ObservedFlows == 0 && len(b.rows) > 0
		out = append(out, e)
	}
	return out
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func plural64(n uint64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%s %s", thousands(n), many)
}

// thousands writes n with comma separators, as a report reader expects: 12,345.
func thousands(n uint64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// Duration writes a number of seconds as a person reads it: "45s", "12m", "3h 5m",
// "2d 4h".
func Duration(secs int64) string {
	d := time.Duration(secs) * time.Second
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", secs)
	case d < time.Hour:
		return fmt.Sprintf("%dm", int64(d/time.Minute))
	case d < 24*time.Hour:
		h := int64(d / time.Hour)
		m := int64((d % time.Hour) / time.Minute)
		if m == 0 {
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh %dm", h, m)
	default:
		days := int64(d / (24 * time.Hour))
		h := int64((d % (24 * time.Hour)) / time.Hour)
		if h == 0 {
			return fmt.Sprintf("%dd", days)
		}
		return fmt.Sprintf("%dd %dh", days, h)
	}
}
