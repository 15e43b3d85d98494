package webapp

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// Direction controls in what others wrote are shown, not obeyed; the
// zero-width marks of marked copies are kept.
func TestVisibleBidi(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Price: \u202e00.0001$", "Price: ⟨U+202E⟩00.0001$"},
		{"a\u2066b\u2069c", "a⟨U+2066⟩b⟨U+2069⟩c"},
		{"Opening\u200bposition\u2060", "Opening\u200bposition\u2060"},
		{"plain", "plain"},
	} {
		if got := visibleBidi(tc.in); got != tc.want {
			t.Errorf("visibleBidi(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// Every answer names this start's instance, the same one every time, and
// another start has another.
func TestInstanceHeader(t *testing.T) {
	a, _ := New(Options{})
	b, _ := New(Options{})
	a.addr, b.addr = "127.0.0.1:1", "127.0.0.1:1"
	get := func(s *Server, path string) string {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		r.Host = "127.0.0.1:1"
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		return w.Header().Get(InstanceHeader)
	}
	first := get(a, "/api/state")
	if first == "" || get(a, "/") != first || get(a, "/nope") != first {
		t.Fatalf("instance header missing or changing: %q", first)
	}
	if get(b, "/api/state") == first {
		t.Fatal("two starts share an instance")
	}
}
