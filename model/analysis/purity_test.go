package analysis_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImportsArePure keeps the package as pure as model: the standard library and
// model only, never a cloud SDK or the HCL loader, so that every caller shares one
// meaning of the policy without pulling them in.
func TestImportsArePure(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			first, _, _ := strings.Cut(path, "/")
			if path != "github.com/microseg/microseg/model" && strings.Contains(first, ".") {
				t.Errorf("%s imports %s: analysis may import only the standard library and model", file, path)
			}
		}
	}
}
