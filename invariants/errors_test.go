package invariants

import (
	"go/ast"
	"path"
	"strconv"
	"strings"
	"testing"
)

// TestNoPackagePrefixInErrors: an error's text reaches the user's screen
// (the CLI prints it, often wrapped in another), so it never starts with a
// package's name ("client: ", "vault: ", "keylog/verify: "): the text says
// what went wrong in words, and wrapping adds context, not module layout.
// Checked on every errors.New and fmt.Errorf with a literal text in non-test
// code, against the names and paths of the module's own packages.
func TestNoPackagePrefixInErrors(t *testing.T) {
	files := repoFiles(t)
	pkgs := map[string]bool{}
	for _, f := range files {
		if f.test {
			continue
		}
		if name := f.ast.Name.Name; name != "main" {
			pkgs[name] = true
		}
		if dir := path.Dir(f.path); dir != "." {
			pkgs[dir] = true
		}
	}
	if !pkgs["client"] || !pkgs["server/apiclient"] || !pkgs["vault"] {
		t.Fatalf("package names not found: %v", pkgs)
	}
	checked := 0
	for _, f := range files {
		if f.test {
			continue
		}
		ast.Inspect(f.ast, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			id, ok := sel.X.(*ast.Ident)
			if !ok || !(id.Name == "errors" && sel.Sel.Name == "New" || id.Name == "fmt" && sel.Sel.Name == "Errorf") {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok {
				return true
			}
			text, err := strconv.Unquote(lit.Value)
			if err != nil {
				return true
			}
			checked++
			if prefix, _, found := strings.Cut(text, ": "); found && pkgs[prefix] {
				t.Errorf("%s: %s.%s(%q) starts with the package name %q: say what went wrong instead", f.path, id.Name, sel.Sel.Name, text, prefix)
			}
			return true
		})
	}
	if checked < 500 {
		t.Fatalf("checked only %d error texts: is the walk broken?", checked)
	}
}
