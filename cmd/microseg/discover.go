package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/model/discover"
)

func runDiscover(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("discover", flag.ContinueOnError)
	flows := fs.String("flows", "", "the flow logs to learn from: a file or a directory (required)")
	format := fs.String("format", "", "their format: "+formatNames())
	since := fs.String("since", "14d", "learn from flows from at most this long ago (0 for all)")
	target := fs.String("target", "", "the target the proposed segments belong to (default: the records' own)")
	prefix := fs.Int("prefix", discover.DefaultIPv4Prefix, "group IPv4 addresses by subnets of this size first")
	minFlows := fs.Uint64("min-flows", 0, "ignore dependencies seen in fewer flows (noise)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `usage: microseg discover -flows FILE_OR_DIR -format FORMAT [-since 14d] [-target NAME] [DIR] > proposed.hcl

Application dependency mapping: groups the addresses of the accepted flows into proposed
segments (by subnet, merged when their traffic is alike), names their services, proposes
an allow for every observed dependency, and prints it as HCL, every segment in audit mode,
that validates next to the policy in DIR (which declares the targets). The share of
observed flows the proposal covers goes to stderr.

flags:`)
		fs.PrintDefaults()
	}
	positional, code, ok := parseArgs(fs, args, stderr)
	if !ok {
		return code
	}
	if *flows == "" {
		fmt.Fprintln(stderr, "microseg discover: -flows is required (a file or directory of flow logs)")
		return exitError
	}
	lookback, err := parseSince(*since)
	if err != nil {
		fmt.Fprintln(stderr, "microseg discover:", err)
		return exitError
	}
	opts := discover.Options{Target: *target, IPv4Prefix: *prefix, MinFlows: *minFlows}
	// The policy is optional: it gives the targets' kinds and the names to keep clear of.
	if len(positional) > 1 {
		fmt.Fprintf(stderr, "microseg discover: want at most one policy directory, got %d arguments\n", len(positional))
		return exitError
	}
	if len(positional) == 1 {
		if opts.Policy = loadPolicy(positional[0], stderr); opts.Policy == nil {
			return exitError
		}
	}
	if err := opts.Validate(); err != nil {
		fmt.Fprintln(stderr, "microseg discover:", err)
		return exitError
	}
	src, err := fileSource(*flows, *format, *target)
	if err != nil {
		fmt.Fprintln(stderr, "microseg discover:", err)
		return exitError
	}
	var from time.Time
	if lookback > 0 {
		from = time.Now().Add(-lookback)
	}
	d := discover.New(opts)
	stats, err := src.Flows(context.Background(), from, func(r model.FlowRecord) error { d.Add(&r); return nil })
	if err != nil {
		fmt.Fprintln(stderr, "microseg discover:", err)
		return exitError
	}
	p := d.Propose()
	name := *target
	if name == "" && opts.Policy != nil && len(opts.Policy.Targets) == 1 {
		name = model.SortedKeys(opts.Policy.Targets)[0]
	}
	if name == "" {
		fmt.Fprintln(stderr, "microseg discover: -target is required: the target the proposed segments belong to")
		return exitError
	}
	if err := p.WriteHCL(stdout, name); err != nil {
		fmt.Fprintln(stderr, "microseg discover:", err)
		return exitError
	}
	c := p.Coverage
	fmt.Fprintf(stderr, "discover: %d flows read (%d malformed); the proposal allows %d of %d observed accepted flows (%.1f%%)\n",
		stats.Records, stats.Malformed, c.Allowed, c.Observed, 100*c.Share)
	return exitOK
}
