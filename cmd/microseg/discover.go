package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/microseg/microseg/discover"
	"github.com/microseg/microseg/model"
)

func runDiscover(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("discover", flag.ContinueOnError)
	flows := fs.String("flows", "", "the flow logs to learn from: a file or a directory (required)")
	format := fs.String("format", "", "their format: "+formatNames())
	since := fs.String("since", "14d", "learn from flows from at most this long ago (0 for all)")
	target := fs.String("target", "", "the target the proposed segments belong to (default: the records' own)")
	prefix := fs.Int("prefix", discover.DefaultIPv4Prefix, "group IPv4 addresses by subnets of this size first")
	minFlows := fs.Uint64("min-flows", 0, "ignore dependencies seen in fewer flows (noise)")
	labelsFrom := fs.String("labels-from", "", "group addresses by the tags of this target's workloads: an aws target's running instances (EC2), an azure target's NICs and their VMs (ARM), a gcp target's instances' labels (needs DIR; -target defaults to it)")
	labelKeys := fs.String("label-keys", strings.Join(discover.DefaultLabelKeys, ","), "the tag keys that group addresses, comma-separated, in the order they make a segment's name (with -labels-from)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `usage: microseg discover -flows FILE_OR_DIR -format FORMAT [-since 14d] [-target NAME]
                         [-labels-from TARGET [-label-keys app,role,tier]] [DIR] > proposed.hcl

Application dependency mapping: groups the addresses of the accepted flows into proposed
segments (by subnet, merged when their traffic is alike), names their services, proposes
an allow for every observed dependency, and prints it as HCL, every segment in audit mode,
that validates next to the policy in DIR (which declares the targets). The share of
observed flows the proposal covers goes to stderr.

With -labels-from, the addresses of the target's running instances that carry any of the
label keys group by those tags first (one segment per app, say, even when apps share a
subnet), named from the tag values and selecting their members by the same tags.

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
	keysSet := false
	fs.Visit(func(f *flag.Flag) { keysSet = keysSet || f.Name == "label-keys" })
	keys, err := parseLabelKeys(*labelKeys)
	if err != nil {
		fmt.Fprintln(stderr, "microseg discover:", err)
		return exitError
	}
	if keysSet && *labelsFrom == "" {
		fmt.Fprintln(stderr, "microseg discover: -label-keys needs -labels-from: the labels come from a target's inventory")
		return exitError
	}
	opts := discover.Options{Target: *target, IPv4Prefix: *prefix, MinFlows: *minFlows, LabelKeys: keys}
	// The policy is optional: it gives the targets' kinds and the names to keep clear of.
	if len(positional) > 1 {
		fmt.Fprintf(stderr, "microseg discover: want at most one policy directory, got %d arguments\n", len(positional))
		return exitError
	}
	if *labelsFrom != "" && len(positional) == 0 {
		fmt.Fprintf(stderr, "microseg discover: -labels-from %s needs the policy directory that declares the target (DIR)\n", *labelsFrom)
		return exitError
	}
	if len(positional) == 1 {
		if opts.Policy = loadPolicy(positional[0], stderr); opts.Policy == nil {
			return exitError
		}
	}
	var labelsTarget *model.Target
	if *labelsFrom != "" {
		if labelsTarget, err = inventoryTarget(opts.Policy, *labelsFrom); err != nil {
			fmt.Fprintln(stderr, "microseg discover: -labels-from:", err)
			return exitError
		}
		if *target == "" {
			// The tags select the target's instances: its segments are where they go.
			*target, opts.Target = labelsTarget.Name, labelsTarget.Name
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
	// The inventory is read last: every mistake in the arguments shows before a cloud
	// call is made.
	ctx, stop := signalContext()
	defer stop()
	if t := labelsTarget; t != nil {
		if opts.Labels, err = inventory(ctx, t, policyName(positional[0])); err != nil {
			fmt.Fprintf(stderr, "microseg discover: inventory of target %s: %v\n", t.Name, err)
			return exitError
		}
		grouped := 0
		for _, l := range opts.Labels {
			if slices.ContainsFunc(keys, func(k string) bool { _, ok := l[k]; return ok }) {
				grouped++
			}
		}
		workloads := map[model.TargetKind]string{model.KindAWS: "running instances", model.KindAzure: "network interfaces", model.KindGCP: "instances"}[t.Kind]
		fmt.Fprintf(stderr, "discover: inventory of target %s: %d addresses of %s, %d of them with a grouping tag (%s)\n",
			t.Name, len(opts.Labels), workloads, grouped, strings.Join(keys, ", "))
		if grouped == 0 && len(opts.Labels) > 0 {
			fmt.Fprintln(stderr, "discover: no workload carries a grouping tag; every address groups by subnet (choose the tag keys with -label-keys)")
		}
	}
	var from time.Time
	if lookback > 0 {
		from = time.Now().Add(-lookback)
	}
	d := discover.New(opts)
	stats, err := src.Flows(ctx, from, func(r model.FlowRecord) error { d.Add(&r); return nil })
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

// parseLabelKeys reads -label-keys: tag keys separated by commas, none empty or
// repeated.
func parseLabelKeys(text string) ([]string, error) {
	var keys []string
	for k := range strings.SplitSeq(text, ",") {
		k = strings.TrimSpace(k)
		switch {
		case k == "":
			return nil, fmt.Errorf("-label-keys %q: an empty key; give tag keys separated by commas, like app,role,tier", text)
		case slices.Contains(keys, k):
			return nil, fmt.Errorf("-label-keys %q: key %q is given twice", text, k)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// inventoryTarget finds the target -labels-from names (NAME, aws.NAME or
// target.aws.NAME) in the policy, and checks that it has an inventory.
func inventoryTarget(p *model.Policy, ref string) (*model.Target, error) {
	name := strings.TrimPrefix(ref, "target.")
	kind, rest, qualified := strings.Cut(name, ".")
	if qualified {
		name = rest
	}
	t, ok := p.Targets[name]
	if !ok || t == nil {
		msg := fmt.Sprintf("target %q is not declared in the policy", name)
		if best, ok := model.ClosestName(name, model.SortedKeys(p.Targets)); ok {
			msg += fmt.Sprintf("; did you mean %q?", best)
		} else if names := model.SortedKeys(p.Targets); len(names) > 0 {
			msg += fmt.Sprintf(" (it declares %s)", strings.Join(names, ", "))
		}
		return nil, errors.New(msg)
	}
	if qualified && kind != string(t.Kind) {
		return nil, fmt.Errorf("target %q: the policy declares it as target.%s.%s", ref, t.Kind, t.Name)
	}
	if t.Kind == model.KindHosts {
		return nil, fmt.Errorf("target %s is a %s target: only cloud targets have an inventory", t.Name, t.Kind)
	}
	return t, nil
}

// inventoried is a provider that knows the tags behind its target's addresses.
type inventoried interface {
	Inventory(ctx context.Context) (map[netip.Addr]map[string]string, error)
}

// inventory reads the tags of an aws target's running instances by address, with
// the credentials and endpoint the other cloud commands use.
func inventory(ctx context.Context, t *model.Target, policy string) (map[netip.Addr]map[string]string, error) {
	prov, err := cloudProviders.New(ctx, t, policy)
	if err != nil {
		return nil, err
	}
	p, ok := prov.(inventoried)
	if !ok {
		return nil, fmt.Errorf("only cloud targets have an inventory, and target %s is a %s target", t.Name, t.Kind)
	}
	return p.Inventory(ctx)
}
