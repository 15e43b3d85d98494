package webapp

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

// The page's own rules, read from its source: what others wrote never
// becomes HTML, nothing is kept in the browser's storage, nothing is
// loaded from elsewhere, and the CSP would refuse inline code anyway.
func TestPageSourceRules(t *testing.T) {
	forbidden := []struct {
		what string
		re   *regexp.Regexp
		exts []string
	}{
		{"HTML built from strings (innerHTML, outerHTML, insertAdjacentHTML, document.write)", regexp.MustCompile(`\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write|createContextualFragment|DOMParser`), []string{".js"}},
		{"code built from strings (eval, Function, string timers)", regexp.MustCompile(`\beval\(|new Function\(|setTimeout\(\s*['"` + "`" + `]`), []string{".js"}},
		{"browser storage (localStorage, sessionStorage, IndexedDB, the Cache API, service workers, cookies)", regexp.MustCompile(`localStorage|sessionStorage|indexedDB|\bcaches\.|serviceWorker|document\.cookie`), []string{".js"}},
		{"an external address", regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/`), []string{".js", ".html", ".css"}},
		{"inline script, style or event handler (the CSP refuses them)", regexp.MustCompile(`(?i)<script>|<script [^>]*>[^<]|<style|\sstyle="|\son[a-z]+="`), []string{".html"}},
	}
	files := 0
	err := fs.WalkDir(staticFiles, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(staticFiles, p)
		if err != nil {
			return err
		}
		files++
		for i, line := range strings.Split(string(b), "\n") {
			code := line
			if strings.HasSuffix(p, ".js") {
				if j := strings.Index(code, "// "); j >= 0 {
					code = code[:j] // a comment may name what it avoids
				}
			}
			for _, f := range forbidden {
				ok := false
				for _, e := range f.exts {
					ok = ok || strings.HasSuffix(p, e)
				}
				if ok && f.re.MatchString(code) {
					t.Errorf("%s:%d: %s: %s", p, i+1, f.what, strings.TrimSpace(line))
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 3 {
		t.Fatalf("only %d files embedded: the page is missing", files)
	}
}
