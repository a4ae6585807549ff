package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/model/verdict"
	"github.com/microseg/microseg/onprem"
	"github.com/microseg/microseg/providers"
	awsprovider "github.com/microseg/microseg/providers/aws"
	"github.com/microseg/microseg/providers/azure"
	"github.com/microseg/microseg/providers/flowfiles"
	"github.com/microseg/microseg/providers/gcp"
	"github.com/microseg/microseg/report"
	"github.com/microseg/microseg/workflows"
	"github.com/microseg/microseg/workflows/results"
)

// flowFormats are the vendor formats `audit -flows` and `discover -flows` read.
var flowFormats = map[string]providers.FlowDecoder{
	"aws":          awsprovider.DecodeFlowLog,
	"azure-nsg":    azure.DecodeNSGFlowLog,
	"azure-vnet":   azure.DecodeVNetFlowLog,
	"gcp-vpc":      gcp.DecodeVPCFlowLog,
	"gcp-firewall": gcp.DecodeFirewallLog,
	"nflog":        onprem.DecodeSpool,
	"conntrack":    onprem.DecodeConntrack,
}

func formatNames() string {
	names := make([]string, 0, len(flowFormats))
	for n := range flowFormats {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, "|")
}

// resultsDSN is where the results history lives: MICROSEG_RESULTS (a SQLite file, or
// a postgres:// URL), or results.db in the state directory.
func resultsDSN() string {
	if d := os.Getenv("MICROSEG_RESULTS"); d != "" {
		return d
	}
	return filepath.Join(stateDir(), "results.db")
}

// parseSince reads a lookback: a Go duration ("36h") or a number of days ("30d").
func parseSince(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("-since %q: want a duration like 24h or a number of days like 30d", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("-since %q: want a duration like 24h or a number of days like 30d", s)
	}
	return d, nil
}

// fileSource opens -flows PATH -format F as a flow source.
func fileSource(path, format, target string) (*flowfiles.Files, error) {
	if format == "" {
		return nil, fmt.Errorf("-flows needs -format (%s)", formatNames())
	}
	dec, ok := flowFormats[format]
	if !ok {
		return nil, fmt.Errorf("-format %q: unknown flow log format; want one of %s", format, formatNames())
	}
	return &flowfiles.Files{Path: path, Decode: dec, Target: target, Format: format}, nil
}

func runAudit(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	since := fs.String("since", "24h", "read flows from at most this long ago (24h, 7d; 0 for everything, the default with -flows)")
	target := fs.String("target", "", "audit only this target (with -flows: the target the records are filed under)")
	flows := fs.String("flows", "", "audit exported flow-log files (a file or a directory) instead of the targets' configured logs")
	format := fs.String("format", "", "the format of -flows: "+formatNames())
	settle := fs.String("settle", "", "end cloud sources' windows this long before now (default: each cloud's delivery delay: aws 15m, azure 20m, gcp 75m)")
	rescan := fs.Bool("rescan", false, "read the whole -since window again, even what earlier audits read")
	noStore := fs.Bool("no-store", false, "print the results without keeping them in the results history")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	detailed := fs.Bool("detailed-exitcode", false, "exit 2 when a violation or a wanted-but-blocked flow was found")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `usage: microseg audit [-since 24h] [-target NAME] [-json] [-detailed-exitcode] [DIR]
       microseg audit -flows FILE_OR_DIR -format FORMAT [-since 0] [-target NAME] [DIR]

Judges observed flows against the policy in DIR: allowed (by which allow), blocked as
intended, would be blocked once an audit-mode segment enforces, violations (accepted
although denied) and wanted-but-blocked (dropped although allowed). The first form runs
the Audit workflow: every target's flow logs (flow_logs blocks) and every host's NFLOG
spool, in parallel, from where the last audit ended. The second reads exported files
offline, without Temporal. Results go to the results history for `+"`microseg report`"+`.

flags:`)
		fs.PrintDefaults()
	}
	dir, code, ok := policyArgs(fs, args, stderr)
	if !ok {
		return code
	}
	// Exported files are read whole unless -since says otherwise: they are usually
	// older than a day.
	sinceSet := false
	fs.Visit(func(f *flag.Flag) { sinceSet = sinceSet || f.Name == "since" })
	if *flows != "" && !sinceSet {
		*since = "0s"
	}
	lookback, err := parseSince(*since)
	if err != nil {
		fmt.Fprintln(stderr, "microseg audit:", err)
		return exitError
	}
	var runs []report.AuditRun
	var skipped []string
	if *flows != "" {
		p := loadPolicy(dir, stderr)
		if p == nil {
			return exitError
		}
		run, err := auditFiles(p, *flows, *format, *target, lookback)
		if err != nil {
			fmt.Fprintln(stderr, "microseg audit:", err)
			return exitError
		}
		runs = []report.AuditRun{run}
		if !*noStore {
			if err := saveRuns(runs); err != nil {
				fmt.Fprintln(stderr, "microseg audit:", err)
				return exitError
			}
		}
	} else {
		if *noStore {
			fmt.Fprintln(stderr, "microseg audit: -no-store applies to -flows only; the Audit workflow always keeps its results")
			return exitError
		}
		if *format != "" {
			fmt.Fprintln(stderr, "microseg audit: -format applies to -flows only")
			return exitError
		}
		req := workflows.AuditRequest{Target: *target, Lookback: lookback, Resume: !*rescan}
		if *settle != "" {
			d, err := parseSince(*settle)
			if err != nil {
				fmt.Fprintln(stderr, "microseg audit: -settle:", err)
				return exitError
			}
			req.Settle = &d
		}
		res, err := auditWorkflow(dir, req, stderr)
		if err != nil {
			fmt.Fprintln(stderr, "microseg audit:", err)
			return exitError
		}
		skipped = res.Skipped
		failed := false
		for _, part := range res.Parts {
			if part.Error != "" {
				fmt.Fprintln(stderr, "microseg audit:", part.Error)
				failed = true
				continue
			}
			runs = append(runs, partRun(part))
		}
		if failed && len(runs) == 0 {
			return exitError
		}
	}
	found := printAudit(stdout, runs, skipped, *asJSON)
	if *detailed && found {
		return exitFindings
	}
	return exitOK
}

// auditFiles judges exported files in this process.
func auditFiles(p *model.Policy, path, format, target string, lookback time.Duration) (report.AuditRun, error) {
	if target == "" {
		target = format
	}
	src, err := fileSource(path, format, target)
	if err != nil {
		return report.AuditRun{}, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return report.AuditRun{}, err
	}
	now := time.Now().UTC()
	var since time.Time
	if lookback > 0 {
		since = now.Add(-lookback)
	}
	audit := workflows.NewSourceAudit(p, time.Time{}, now)
	stats, err := src.Flows(context.Background(), since, func(rec model.FlowRecord) error {
		audit.Add(&rec)
		return nil
	})
	if err != nil {
		return report.AuditRun{}, err
	}
	if since.IsZero() {
		since = audit.First
	}
	until := audit.Last.Add(time.Nanosecond)
	if audit.Last.IsZero() {
		// No flow at all (an empty file, or only NODATA and SKIPDATA records: a quiet
		// interface): a run with an empty window at the audit's time.
		if since.IsZero() {
			since = now
		}
		until = since
	}
	// Re-auditing the same files replaces the earlier run rather than counting
	// their flows twice.
	sum256 := sha256.Sum256([]byte(format + "\x00" + abs + "\x00" + since.String()))
	return workflows.AuditRunOf(workflows.RunMeta{ID: "files/" + hex.EncodeToString(sum256[:8]), Target: target, Source: "file:" + abs,
		Started: now, Since: since, Until: until}, stats, audit.Rows()), nil
}

func saveRuns(runs []report.AuditRun) error {
	return withResults(func(ctx context.Context, db *results.DB) error {
		for _, r := range runs {
			if err := db.SaveAuditRun(ctx, r); err != nil {
				return err
			}
		}
		return nil
	})
}

// auditWorkflow runs the Audit workflow and waits for it.
func auditWorkflow(dir string, req workflows.AuditRequest, stderr io.Writer) (workflows.AuditResult, error) {
	abs, err := absDir(dir)
	if err != nil {
		return workflows.AuditResult{}, err
	}
	req.Dir = abs
	c, err := connect(stderr)
	if err != nil {
		return workflows.AuditResult{}, err
	}
	defer c.Close()
	var res workflows.AuditResult
	err = withWorker(c, func() error {
		run, err := c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
			ID:                                       workflows.AuditWorkflowID(req.Target),
			TaskQueue:                                workflows.TaskQueue,
			WorkflowExecutionErrorWhenAlreadyStarted: true,
		}, workflows.AuditWorkflow, req)
		if err != nil {
			return err
		}
		if err := run.Get(context.Background(), &res); err != nil {
			return errors.New(workflowError(err))
		}
		return nil
	})
	return res, err
}

// partRun reads a workflow part's rows back from the store, for printing.
func partRun(part workflows.AuditPart) report.AuditRun {
	var rows []verdict.Row
	if data, err := contentStore().Get(context.Background(), workflows.KindAuditRows, part.RowsHash); err == nil {
		_ = json.Unmarshal(data, &rows)
	}
	j := part.Job
	return report.AuditRun{
		Target: j.Target, Source: j.Source, Since: j.Since, Until: j.Until,
		Records: part.Stats.Records, NoData: part.Stats.NoData, SkipData: part.Stats.SkipData, Malformed: part.Stats.Malformed,
		Rows: rows,
	}
}

// printAudit prints what the runs found, and reports whether any flow was a
// violation or wanted-but-blocked.
func printAudit(w io.Writer, runs []report.AuditRun, skipped []string, asJSON bool) bool {
	type finding struct {
		Src, Dst, Port, Sample string
		Flows                  uint64
	}
	type summary struct {
		Target, Source   string
		Since, Until     time.Time
		Records          int
		Malformed        int
		NoData, SkipData int
		Classes          map[string]uint64
		Findings         map[string][]finding `json:",omitempty"`
	}
	found := false
	var out []summary
	for _, r := range runs {
		s := summary{Target: r.Target, Source: r.Source, Since: r.Since, Until: r.Until, Records: r.Records,
			Malformed: r.Malformed, NoData: r.NoData, SkipData: r.SkipData, Classes: map[string]uint64{}, Findings: map[string][]finding{}}
		for _, c := range verdict.Classes {
			s.Classes[c.String()] = 0
		}
		agg := map[string]map[string]*finding{}
		for _, row := range r.Rows {
			s.Classes[row.Class.String()] += row.Flows
			if row.Class == verdict.Allowed || row.Class == verdict.Unknown || row.Class == verdict.Blocked {
				continue
			}
			if row.Class == verdict.Violation || row.Class == verdict.WantedButBlocked {
				found = true
			}
			key := row.Src + "|" + row.Dst + "|" + portName(row.Protocol, row.Port)
			m := agg[row.Class.String()]
			if m == nil {
				m = map[string]*finding{}
				agg[row.Class.String()] = m
			}
			f := m[key]
			if f == nil {
				f = &finding{Src: peerName(row.Src), Dst: peerName(row.Dst), Port: portName(row.Protocol, row.Port), Sample: row.SampleSrc + " -> " + row.SampleDst}
				m[key] = f
			}
			f.Flows += row.Flows
		}
		for class, m := range agg {
			for _, f := range m {
				s.Findings[class] = append(s.Findings[class], *f)
			}
			sort.Slice(s.Findings[class], func(i, j int) bool {
				a, b := s.Findings[class][i], s.Findings[class][j]
				if a.Flows != b.Flows {
					return a.Flows > b.Flows
				}
				return a.Src+a.Dst+a.Port < b.Src+b.Dst+b.Port
			})
		}
		out = append(out, s)
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(map[string]any{"runs": out, "skipped": skipped})
		return found
	}
	for _, s := range out {
		fmt.Fprintf(w, "%s (%s): %d flows", s.Target, s.Source, s.Records)
		if !s.Since.IsZero() {
			fmt.Fprintf(w, " from %s to %s", s.Since.UTC().Format(time.RFC3339), s.Until.UTC().Format(time.RFC3339))
		}
		if s.Malformed+s.NoData+s.SkipData > 0 {
			fmt.Fprintf(w, " (not flows: %d malformed, %d no data, %d skipped data)", s.Malformed, s.NoData, s.SkipData)
		}
		fmt.Fprintln(w)
		var parts []string
		for _, c := range verdict.Classes {
			parts = append(parts, fmt.Sprintf("%s %d", c, s.Classes[c.String()]))
		}
		fmt.Fprintf(w, "  %s\n", strings.Join(parts, ", "))
		for _, c := range []verdict.Class{verdict.Violation, verdict.WantedButBlocked, verdict.WouldBlock} {
			fs := s.Findings[c.String()]
			if len(fs) == 0 {
				continue
			}
			fmt.Fprintf(w, "  %s:\n", c)
			for i, f := range fs {
				if i == 10 {
					fmt.Fprintf(w, "    ... and %d more (microseg report lists them all)\n", len(fs)-10)
					break
				}
				fmt.Fprintf(w, "    %s -> %s %s: %d flows (e.g. %s)\n", f.Src, f.Dst, f.Port, f.Flows, f.Sample)
			}
		}
	}
	for _, s := range skipped {
		fmt.Fprintln(w, "skipped", s)
	}
	return found
}

func peerName(p string) string {
	if p == "" {
		return "(unknown)"
	}
	return p
}

func portName(proto model.Protocol, port uint16) string {
	if proto.HasPorts() {
		return fmt.Sprintf("%s/%d", proto, port)
	}
	if proto.IsICMP() {
		return fmt.Sprintf("%s type %d", proto, port)
	}
	return proto.String()
}
