package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/report"
	"github.com/microseg/microseg/workflows/results"
)

// buildReport loads the policy and the results history of the window and builds
// the report.
func buildReport(name, dir, since, target string, stderr io.Writer) (*report.Report, bool) {
	prefix := "microseg " + name + ":"
	lookback, err := parseSince(since)
	if err != nil {
		fmt.Fprintln(stderr, prefix, err)
		return nil, false
	}
	p := loadPolicy(dir, stderr)
	if p == nil {
		return nil, false
	}
	if target != "" {
		if _, ok := p.Targets[target]; !ok {
			fmt.Fprintf(stderr, "%s no target %q in the policy%s\n", prefix, target, didYouMean(target, model.SortedKeys(p.Targets)))
			return nil, false
		}
	}
	ctx := context.Background()
	db, err := results.Open(ctx, resultsDSN())
	if err != nil {
		fmt.Fprintln(stderr, prefix, err)
		return nil, false
	}
	defer db.Close()
	// Whole seconds, rounded up: an audit that ended this second is in.
	now := time.Now().UTC().Truncate(time.Second).Add(time.Second)
	from := now.Add(-lookback)
	in := report.Inputs{PolicyName: policyName(dir), Now: now, Since: from}
	if in.Runs, err = db.AuditRuns(ctx, from, target); err == nil {
		if in.Drift, err = db.DriftEvents(ctx, from, target); err == nil {
			if in.Updates, err = db.PolicyUpdates(ctx, from, target); err == nil {
				in.Findings, err = db.Findings(ctx, from, target)
			}
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, prefix, err)
		return nil, false
	}
	return report.Build(p, in), true
}

func didYouMean(name string, names []string) string {
	if c, ok := model.ClosestName(name, names); ok {
		return fmt.Sprintf("; did you mean %q?", c)
	}
	return ""
}

// output opens -o FILE, or stdout; close writes the file out.
func output(path string, stdout io.Writer) (w *bufio.Writer, close func() error, err error) {
	if path == "" || path == "-" {
		w = bufio.NewWriter(stdout)
		return w, w.Flush, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, err
	}
	w = bufio.NewWriter(f)
	return w, func() error {
		if err := w.Flush(); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}, nil
}

func runReport(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	format := fs.String("format", "html", "html, json, csv or md")
	out := fs.String("o", "", "write to this file instead of stdout")
	since := fs.String("since", "30d", "the window the report covers (30d, 720h)")
	target := fs.String("target", "", "report on this target only")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `usage: microseg report [-format html|json|csv|md] [-o FILE] [-since 30d] [-target NAME] [DIR]

The compliance report of the policy in DIR over the window, from the results history
(audits, drift events, policy updates): segmentation coverage, violations per week,
would-block flows per audit-mode segment (the go/no-go list for enforcement), drift
and time to remediate, time to update policy, blast radius per segment, every allow
with owner, ticket and expiry, the segment graph with observed flows, and the findings
mapped to PCI DSS v4.0 requirement 1. HTML is one self-contained file; JSON follows
report/report.schema.json.

flags:`)
		fs.PrintDefaults()
	}
	dir, code, ok := policyArgs(fs, args, stderr)
	if !ok {
		return code
	}
	var write func(*report.Report, io.Writer) error
	switch *format {
	case "html":
		write = (*report.Report).WriteHTML
	case "json":
		write = (*report.Report).WriteJSON
	case "csv":
		write = (*report.Report).WriteCSV
	case "md", "markdown":
		write = (*report.Report).WriteMarkdown
	default:
		fmt.Fprintf(stderr, "microseg report: -format %q: want html, json, csv or md\n", *format)
		return exitError
	}
	r, ok := buildReport("report", dir, *since, *target, stderr)
	if !ok {
		return exitError
	}
	return writeOut(*out, stdout, stderr, "report", func(w io.Writer) error { return write(r, w) })
}

func writeOut(path string, stdout, stderr io.Writer, name string, write func(io.Writer) error) int {
	w, closeOut, err := output(path, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "microseg %s: %v\n", name, err)
		return exitError
	}
	err = write(w)
	if cerr := closeOut(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintf(stderr, "microseg %s: %v\n", name, err)
		return exitError
	}
	if path != "" && path != "-" {
		fmt.Fprintf(stderr, "wrote %s\n", path)
	}
	return exitOK
}

func runGraph(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("graph", flag.ContinueOnError)
	format := fs.String("format", "svg", "svg or dot")
	out := fs.String("o", "", "write to this file instead of stdout")
	since := fs.String("since", "30d", "overlay the flows observed in this window")
	target := fs.String("target", "", "overlay only this target's flows")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `usage: microseg graph [-format svg|dot] [-o FILE] [-since 30d] [DIR]

Draws the segment graph of the policy in DIR: segments and networks as nodes, allows as
edges, with the flows audits observed in the window overlaid (violations and would-block
flows marked). DOT is for Graphviz (dot -Tpng).

flags:`)
		fs.PrintDefaults()
	}
	dir, code, ok := policyArgs(fs, args, stderr)
	if !ok {
		return code
	}
	var write func(*report.Report, io.Writer) error
	switch *format {
	case "svg":
		write = (*report.Report).WriteSVG
	case "dot":
		write = (*report.Report).WriteDOT
	default:
		fmt.Fprintf(stderr, "microseg graph: -format %q: want svg or dot\n", *format)
		return exitError
	}
	r, ok := buildReport("graph", dir, *since, *target, stderr)
	if !ok {
		return exitError
	}
	return writeOut(*out, stdout, stderr, "graph", func(w io.Writer) error { return write(r, w) })
}
