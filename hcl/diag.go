package hclload

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/microseg/microseg/model"
)

// WriteDiagnostics prints diagnostics the way compilers do, so that editors and CI
// logs can jump to them: "file:line:col: severity: summary", the source line with the
// problem underlined, and the detail.
func WriteDiagnostics(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics) error {
	var b strings.Builder
	for _, d := range diags {
		severity := "error"
		if d.Severity == hcl.DiagWarning {
			severity = "warning"
		}
		if d.Subject == nil {
			fmt.Fprintf(&b, "%s: %s\n", severity, d.Summary)
		} else {
			fmt.Fprintf(&b, "%s:%d:%d: %s: %s\n", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column, severity, d.Summary)
			if f, ok := files[d.Subject.Filename]; ok {
				writeSnippet(&b, f.Bytes, *d.Subject)
			}
		}
		if d.Detail != "" {
			fmt.Fprintf(&b, "  %s\n", d.Detail)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// CompileDiagnostics turns what model.Compile refused into diagnostics located in
// files, so that compile problems print as load problems do: file:line:col, with a
// snippet. An error that is not a *model.CompileError is one diagnostic without a
// range.
func CompileDiagnostics(files map[string]*hcl.File, err error) hcl.Diagnostics {
	var ce *model.CompileError
	if !errors.As(err, &ce) {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: err.Error()}}
	}
	diags := make(hcl.Diagnostics, 0, len(ce.Problems))
	for _, p := range ce.Problems {
		d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Policy does not compile", Detail: p.Message}
		if p.Pos.File != "" && p.Pos.Line > 0 {
			start := hcl.Pos{Line: p.Pos.Line, Column: max(p.Pos.Column, 1)}
			end := start
			end.Column++
			d.Subject = &hcl.Range{Filename: p.Pos.File, Start: start, End: end}
		}
		diags = append(diags, d)
	}
	return diags
}

// writeSnippet prints the subject's first line with a caret line under the subject.
func writeSnippet(b *strings.Builder, src []byte, rng hcl.Range) {
	sc := bufio.NewScanner(bytes.NewReader(src))
	sc.Buffer(make([]byte, 0, 64*1024), len(src)+1)
	for line := 1; sc.Scan(); line++ {
		if line != rng.Start.Line {
			continue
		}
		text := strings.ReplaceAll(sc.Text(), "\t", " ")
		gutter := fmt.Sprintf("%5d | ", line)
		fmt.Fprintf(b, "%s%s\n", gutter, text)
		// Columns count characters; the caret line is built the same way.
		runes := []rune(text)
		start := min(max(rng.Start.Column-1, 0), len(runes))
		end := len(runes)
		if rng.End.Line == rng.Start.Line {
			end = min(max(rng.End.Column-1, start+1), len(runes)+1)
		}
		fmt.Fprintf(b, "%s%s%s\n", strings.Repeat(" ", len(gutter)-2)+"| ", strings.Repeat(" ", start), strings.Repeat("^", max(end-start, 1)))
		return
	}
}
