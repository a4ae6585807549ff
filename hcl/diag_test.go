package hclload

import (
	"errors"
	"strings"
	"testing"

	"github.com/microseg/microseg/model"
)

// TestCompileDiagnostics: problems model.Compile finds print as load problems do,
// located with a snippet; other errors print without a range.
func TestCompileDiagnostics(t *testing.T) {
	src := "network \"internet\" { cidrs = [\"0.0.0.0/0\"] }\nallow \"x\" {\n  from = [network.internet]\n}\n"
	loaded, diags := LoadSources(map[string][]byte{"p.hcl": []byte(src)})
	_ = diags // the policy is incomplete on purpose; only its file matters here
	err := &model.CompileError{Problems: []model.Problem{
		{Pos: model.Pos{File: "p.hcl", Line: 2, Column: 1}, Message: `allow "x" names no service`},
		{Message: "a problem of a policy built in code"},
	}}
	var b strings.Builder
	if err := WriteDiagnostics(&b, loaded.Files, CompileDiagnostics(loaded.Files, err)); err != nil {
		t.Fatal(err)
	}
	want := "p.hcl:2:1: error: Policy does not compile\n" +
		"    2 | allow \"x\" {\n" +
		"      | ^\n" +
		"  allow \"x\" names no service\n" +
		"error: Policy does not compile\n" +
		"  a problem of a policy built in code\n"
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	other := CompileDiagnostics(loaded.Files, errors.New("boom"))
	if len(other) != 1 || other[0].Summary != "boom" || other[0].Subject != nil {
		t.Errorf("plain error: %+v", other)
	}
}
