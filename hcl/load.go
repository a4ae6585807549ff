package hclload

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/microseg/microseg/model"
)

// Loaded is the result of loading a policy: the policy and the parsed files, which
// diagnostics need to print source snippets.
type Loaded struct {
	Policy *model.Policy
	Files  map[string]*hcl.File
}

// LoadDir loads every *.hcl file directly inside dir (not recursively), in name order.
// The returned policy is complete only when the diagnostics hold no error.
func LoadDir(dir string) (*Loaded, hcl.Diagnostics) {
	sources, diags := ReadDir(dir)
	if sources == nil {
		return emptyLoaded(), diags
	}
	loaded, more := LoadSources(sources)
	return loaded, append(diags, more...)
}

// ReadDir reads the *.hcl files of dir, by path: what LoadDir loads (and what a
// cache of loaded policies is keyed by). It returns nil sources when there are none
// to load, with the diagnostic that says why.
func ReadDir(dir string) (map[string][]byte, hcl.Diagnostics) {
	names, err := filepath.Glob(filepath.Join(dir, "*.hcl"))
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot list policy files", Detail: err.Error()}}
	}
	if len(names) == 0 {
		detail := fmt.Sprintf("The directory %s holds no *.hcl files.", dir)
		if _, err := os.Stat(dir); err != nil {
			detail = fmt.Sprintf("Cannot read the policy directory: %v.", err)
		}
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "No policy files", Detail: detail}}
	}
	sort.Strings(names)
	sources := make(map[string][]byte, len(names))
	var diags hcl.Diagnostics
	for _, name := range names {
		src, err := os.ReadFile(name)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot read policy file", Detail: err.Error()})
			continue
		}
		sources[name] = src
	}
	return sources, diags
}

func emptyLoaded() *Loaded {
	return &Loaded{Policy: model.NewPolicy(), Files: map[string]*hcl.File{}}
}

// LoadSources loads a policy from in-memory files, keyed by the file name that
// diagnostics show.
func LoadSources(sources map[string][]byte) (*Loaded, hcl.Diagnostics) {
	l := &loader{
		loaded: emptyLoaded(),
		decls:  map[string]map[string]*hcl.Block{},
	}
	names := model.SortedKeys(sources)
	parsed := parseAll(names, sources)
	var bodies []*hcl.BodyContent
	for i, name := range names {
		file, diags := parsed[i].file, parsed[i].diags
		l.diags = append(l.diags, diags...)
		if file == nil {
			continue
		}
		l.loaded.Files[name] = file
		if !diags.HasErrors() {
			content, diags := file.Body.Content(rootSchema)
			l.diags = append(l.diags, diags...)
			bodies = append(bodies, content)
		}
	}
	// A syntax error leaves a partial body whose decoding would only add noise
	// (missing arguments, unknown names declared further down): report the syntax
	// errors of every file and stop there.
	if l.diags.HasErrors() {
		sortDiagnostics(l.diags)
		return l.loaded, l.diags
	}
	// First pass: declare every name, so that references resolve whatever the file
	// or block order.
	var blocks []*hcl.Block
	for _, content := range bodies {
		for _, block := range content.Blocks {
			if l.declare(block) {
				blocks = append(blocks, block)
			}
		}
	}
	// Second pass, in dependency order: targets, networks and services before the
	// segments that refer to targets, segments before the allows that refer to all.
	for _, kind := range []string{"target", "network", "service", "segment", "allow"} {
		for _, block := range blocks {
			if block.Type == kind {
				l.decode(block)
			}
		}
	}
	l.checkCrossTargetReferences()
	sortDiagnostics(l.diags)
	return l.loaded, l.diags
}

type parsedFile struct {
	file  *hcl.File
	diags hcl.Diagnostics
}

// parseAll parses the files on every core: parsing is most of the cost of loading a
// large policy, and files are independent. Results keep the order of names.
func parseAll(names []string, sources map[string][]byte) []parsedFile {
	out := make([]parsedFile, len(names))
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(names)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				out[i].file, out[i].diags = parse(names[i], sources[names[i]])
			}
		}()
	}
	for i := range names {
		work <- i
	}
	close(work)
	wg.Wait()
	return out
}

// parse parses one file. hclsyntax is third-party code fed with arbitrary input; a
// panic in it is turned into a diagnostic so that no policy file can crash microseg.
func parse(name string, src []byte) (file *hcl.File, diags hcl.Diagnostics) {
	defer func() {
		if r := recover(); r != nil {
			file = nil
			diags = hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "Cannot parse policy file",
				Detail:   fmt.Sprintf("The HCL parser failed on %s: %v. Please report this file to the microseg developers.", name, r),
			}}
		}
	}()
	return hclsyntax.ParseConfig(src, name, hcl.InitialPos)
}

var rootSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
	{Type: "target", LabelNames: []string{"kind", "name"}},
	{Type: "network", LabelNames: []string{"name"}},
	{Type: "service", LabelNames: []string{"name"}},
	{Type: "segment", LabelNames: []string{"name"}},
	{Type: "allow", LabelNames: []string{"name"}},
}}

// loader holds the state of one load.
type loader struct {
	loaded *Loaded
	diags  hcl.Diagnostics
	// decls maps a block type to its declared names; targets are keyed by name
	// alone, since target names are unique across kinds.
	decls map[string]map[string]*hcl.Block
	// refs remembers where allows refer to segments, for the cross-target check.
	refs []allowRef
}

func (l *loader) errorf(rng *hcl.Range, summary, detailFormat string, args ...any) {
	l.diags = append(l.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: fmt.Sprintf(detailFormat, args...), Subject: rng})
}

func (l *loader) warnf(rng *hcl.Range, summary, detailFormat string, args ...any) {
	l.diags = append(l.diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: summary, Detail: fmt.Sprintf(detailFormat, args...), Subject: rng})
}

// declare records a block's name; it reports false for a block that cannot be decoded
// (bad or duplicate name), which then takes no further part.
func (l *loader) declare(block *hcl.Block) bool {
	nameIdx := len(block.Labels) - 1
	name := block.Labels[nameIdx]
	nameRange := block.LabelRanges[nameIdx].Ptr()
	if block.Type == "target" {
		kind := block.Labels[0]
		if !isTargetKind(kind) {
			l.errorf(block.LabelRanges[0].Ptr(), "Unknown target kind",
				"%q is not a target kind. Use one of: aws, azure, gcp, hosts.%s", kind, suggest(kind, targetKindNames()))
			return false
		}
	}
	if !hclsyntax.ValidIdentifier(name) {
		l.errorf(nameRange, "Invalid name",
			"%q cannot be used as a %s name: names start with a letter or underscore and hold only letters, digits, underscores and dashes, so that they can be referred to as %s.NAME.", name, block.Type, block.Type)
		return false
	}
	names := l.decls[block.Type]
	if names == nil {
		names = map[string]*hcl.Block{}
		l.decls[block.Type] = names
	}
	if prev, ok := names[name]; ok {
		detail := fmt.Sprintf("The %s name %q is already declared at %s; each name is declared once.", block.Type, name, prev.DefRange.String())
		if block.Type == "target" {
			detail += " Target names are unique across kinds, so that -target NAME is never ambiguous."
		}
		l.errorf(nameRange, "Duplicate "+block.Type, "%s", detail)
		return false
	}
	names[name] = block
	return true
}

func (l *loader) decode(block *hcl.Block) {
	switch block.Type {
	case "target":
		l.decodeTarget(block)
	case "network":
		l.decodeNetwork(block)
	case "service":
		l.decodeService(block)
	case "segment":
		l.decodeSegment(block)
	case "allow":
		l.decodeAllow(block)
	}
}

func posOf(r hcl.Range) model.Pos {
	return model.Pos{File: r.Filename, Line: r.Start.Line, Column: r.Start.Column}
}

func sortDiagnostics(diags hcl.Diagnostics) {
	sort.SliceStable(diags, func(i, j int) bool {
		a, b := diags[i].Subject, diags[j].Subject
		switch {
		case a == nil || b == nil:
			return a == nil && b != nil
		case a.Filename != b.Filename:
			return a.Filename < b.Filename
		case a.Start.Line != b.Start.Line:
			return a.Start.Line < b.Start.Line
		default:
			return a.Start.Column < b.Start.Column
		}
	})
}

func isTargetKind(kind string) bool {
	for _, k := range model.TargetKinds {
		if string(k) == kind {
			return true
		}
	}
	return false
}

func targetKindNames() []string {
	names := make([]string, len(model.TargetKinds))
	for i, k := range model.TargetKinds {
		names[i] = string(k)
	}
	return names
}

// suggest returns ` Did you mean "x"?` for the closest candidate, or "".
func suggest(given string, candidates []string) string {
	if best, ok := model.ClosestName(given, candidates); ok {
		return fmt.Sprintf(" Did you mean %q?", best)
	}
	return ""
}
