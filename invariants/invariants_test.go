package invariants

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// goFile is one parsed source file of the module.
type goFile struct {
	path string // relative to the repository root
	test bool
	ast  *ast.File
	src  string
}

func repoFiles(t *testing.T) []goFile {
	t.Helper()
	root := ".."
	var files []goFile
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case "node_modules", "testdata", ".git":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") {
			return nil
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		f, err := parser.ParseFile(fset, p, src, parser.ParseComments)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		files = append(files, goFile{path: filepath.ToSlash(rel), test: strings.HasSuffix(p, "_test.go"), ast: f, src: string(src)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 50 {
		t.Fatalf("found only %d Go files: is the test running from invariants/?", len(files))
	}
	return files
}

func imports(f goFile) []string {
	var out []string
	for _, s := range f.ast.Imports {
		p, _ := strconv.Unquote(s.Path.Value)
		out = append(out, p)
	}
	return out
}

// cryptoPackages must take randomness only from crypto/rand (via entropy).
var cryptoPackages = []string{"entropy/", "identity/", "handshake/", "ratchet/", "envelope/", "session/", "vault/", "canary/", "transcript/", "docstream/", "client/", "server/api/", "devicelist/", "devicelink/", "contacts/", "backup/"}

func TestNoMathRandInCryptography(t *testing.T) {
	for _, f := range repoFiles(t) {
		if f.test || strings.HasPrefix(f.path, "canary/eval/") || strings.HasPrefix(f.path, "transcript/doctor/") {
			continue // simulators of leaks may use seeded math/rand
		}
		for _, p := range cryptoPackages {
			if !strings.HasPrefix(f.path, p) {
				continue
			}
			for _, imp := range imports(f) {
				if imp == "math/rand" || imp == "math/rand/v2" {
					t.Errorf("%s imports %s: cryptographic code must use crypto/rand", f.path, imp)
				}
			}
		}
	}
}

func TestDeterministicEntropyOnlyInTests(t *testing.T) {
	for _, f := range repoFiles(t) {
		if f.test || strings.HasPrefix(f.path, "entropy/entropytest/") {
			continue
		}
		for _, imp := range imports(f) {
			if imp == "backchannel/entropy/entropytest" || imp == "crypto/mlkem/mlkemtest" || imp == "testing/cryptotest" {
				t.Errorf("%s imports %s outside a test: its randomness is predictable", f.path, imp)
			}
		}
	}
}

// secretWord matches argument text that names secret material.
var secretWord = regexp.MustCompile(`(?i)(passphrase|password|seed|secret|priv|signingkey|markingkey|\bkey\b|plaintext|\.Text\b|copysalt|\bsalt\b|token)`)

func TestNoSecretInLogCalls(t *testing.T) {
	for _, f := range repoFiles(t) {
		if f.test {
			continue
		}
		ast.Inspect(f.ast, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			switch sel.Sel.Name {
			case "Debug", "Info", "Warn", "Error", "Log", "DebugContext", "InfoContext", "WarnContext", "ErrorContext", "LogAttrs":
			default:
				return true
			}
			recv := exprText(f, sel.X)
			if !strings.Contains(strings.ToLower(recv), "log") && recv != "slog" {
				return true
			}
			for i, a := range call.Args {
				if _, lit := a.(*ast.BasicLit); lit && i == 0 {
					continue // a constant message ("key log epoch published") holds no secret; attribute names are still checked
				}
				if txt := exprText(f, a); secretWord.MatchString(txt) {
					t.Errorf("%s: log call passes %q, which looks like secret material", f.path, txt)
				}
			}
			return true
		})
	}
}

func exprText(f goFile, e ast.Expr) string {
	// Positions are file offsets plus the file base (1 for a fresh FileSet
	// entry); the source slice is enough for short expressions.
	start, end := int(e.Pos())-int(f.ast.FileStart), int(e.End())-int(f.ast.FileStart)
	if start < 0 || end > len(f.src) || start > end {
		return ""
	}
	return f.src[start:end]
}

// TestLabelsAreDocumented: every domain-separation label or KDF info string
// in the code appears word for word in docs/.
func TestLabelsAreDocumented(t *testing.T) {
	var docs strings.Builder
	entries, err := os.ReadDir("../docs")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("../docs", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		docs.Write(b)
	}
	labelName := regexp.MustCompile(`(Label|Info)$`)
	found := 0
	for _, f := range repoFiles(t) {
		if f.test {
			continue
		}
		for _, d := range f.ast.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if !labelName.MatchString(name.Name) || i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						continue
					}
					val, _ := strconv.Unquote(lit.Value)
					found++
					if !strings.Contains(docs.String(), val) {
						t.Errorf("%s: %s = %q is not written in docs/", f.path, name.Name, val)
					}
				}
			}
		}
	}
	if found < 10 {
		t.Fatalf("found only %d labels: the scan is broken", found)
	}
}
