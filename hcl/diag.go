package hclload

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/hcl/v2"
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
