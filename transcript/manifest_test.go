package transcript

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// manifestVector is one known-answer test of the copy manifest: the
// canonical text and each member's copy with its salt (salts from
// testSalt) give the commitments and the manifest bytes.
type manifestVector struct {
	Name                string            `json:"name"`
	Canonical           string            `json:"canonical_text"`
	CanonicalCommitment string            `json:"canonical_commitment"`
	Copies              map[string]string `json:"copies"`
	Salts               map[string]string `json:"salts"`
	Commitments         map[string]string `json:"copy_commitments"`
	Manifest            string            `json:"manifest"`
}

func buildManifestVectors() []manifestVector {
	ins := []struct {
		name, canonical string
		copies          map[string]string
	}{
		{"three members, invisible and typographic marks", "we will not sign before friday",
			map[string]string{"envoy": "We will not sign before Friday.", "aide": "We will not\u200b sign before Friday.", "counsel": "We will\u2060 not sign before Friday."}},
		{"lexical marks", "it is a firm no to the 10 per cent",
			map[string]string{"envoy": "It is a firm no to the 10 per cent.", "aide": "It's a firm no to the 10 per cent."}},
		{"a document", `document "terms.pdf"`,
			map[string]string{"aide": `document "terms.pdf", 1200 bytes, sha256 00`, "envoy": `document "terms.pdf", 1200 bytes, sha256 00`}},
	}
	var out []manifestVector
	for _, in := range ins {
		v := manifestVector{Name: in.name, Canonical: in.canonical, Copies: in.copies,
			Salts: map[string]string{}, Commitments: map[string]string{}}
		c := CommitCanonical(in.canonical)
		v.CanonicalCommitment = c.String()
		commits := map[string]Hash{}
		for u, text := range in.copies {
			salt := testSalt(in.name + " " + u)
			commits[u] = CommitCopy(salt[:], text)
			v.Salts[u] = hex.EncodeToString(salt[:])
			v.Commitments[u] = commits[u].String()
		}
		v.Manifest = string(NewManifest(c, commits).Encode())
		out = append(out, v)
	}
	return out
}

// TestManifestVectors checks testdata/manifest_vectors.json against the
// generator (drift) and, independently, parses and opens every vector.
func TestManifestVectors(t *testing.T) {
	path := filepath.Join("testdata", "manifest_vectors.json")
	data, err := json.MarshalIndent(buildManifestVectors(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	data = append(data, '\n')
	if *update {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./transcript -run TestManifestVectors -update)", err)
	}
	if !bytes.Equal(want, data) {
		t.Fatalf("manifest vectors drifted from %s; if the format change is intended, rerun with -update and document it", path)
	}
	var vs []manifestVector
	if err := json.Unmarshal(want, &vs); err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		m, err := ParseManifest([]byte(v.Manifest))
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		if err := m.CheckCanonical(v.Canonical); err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		for u, text := range v.Copies {
			salt, _ := hex.DecodeString(v.Salts[u])
			if err := m.OpenCopy(u, salt, text); err != nil {
				t.Fatalf("%s: %s: %v", v.Name, u, err)
			}
		}
	}
}

func TestManifestRoundTripAndChecks(t *testing.T) {
	salt := testSalt("s")
	m := NewManifest(CommitCanonical("we accept"), map[string]Hash{
		"bob": CommitCopy(salt[:], "We accept."), "carol": CommitCopy(salt[:], "We reject."), "alice": CommitCopy(salt[:], "We accept"),
	})
	enc := m.Encode()
	if !strings.HasPrefix(string(enc), ManifestHeader+CanonicalLinePrefix) {
		t.Fatalf("manifest starts %q", enc[:40])
	}
	got, err := ParseManifest(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Encode(), enc) || strings.Join(got.Members(), ",") != "alice,bob,carol" {
		t.Fatalf("round trip: %q", got.Encode())
	}
	tests := []struct {
		name      string
		member    string
		copy      string
		canonical string
		open      error
		meaning   error
	}{
		{"own copy, same words", "bob", "We accept.", "we accept", nil, nil},
		{"odd copy, other words", "carol", "We reject.", "we reject", nil, ErrDifferentMeaning},
		{"someone else's copy", "bob", "We reject.", "we reject", ErrCopyMismatch, ErrDifferentMeaning},
		{"not a member", "dave", "We accept.", "we accept", ErrNotInManifest, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := got.OpenCopy(tc.member, salt[:], tc.copy); !errors.Is(err, tc.open) {
				t.Fatalf("open: %v, want %v", err, tc.open)
			}
			if err := got.CheckCanonical(tc.canonical); !errors.Is(err, tc.meaning) {
				t.Fatalf("canonical: %v, want %v", err, tc.meaning)
			}
		})
	}
	v1 := &Manifest{Version: 1, Copies: m.Copies}
	p1, err := ParseManifest(v1.Encode())
	if err != nil || p1.Version != 1 {
		t.Fatalf("version 1: %v", err)
	}
	if err := p1.CheckCanonical("we accept"); !errors.Is(err, ErrNoCanonical) {
		t.Fatalf("version 1 canonical: %v", err)
	}
}

func TestParseManifestRejects(t *testing.T) {
	h := strings.Repeat("ab", 32)
	canon := ManifestHeader + CanonicalLinePrefix + h + "\n"
	for name, s := range map[string]string{
		"empty":                "",
		"no header":            "bob " + h + "\n",
		"no canonical line":    ManifestHeader + "bob " + h + "\n",
		"no members":           canon,
		"unsorted":             canon + "carol " + h + "\nbob " + h + "\n",
		"duplicate":            canon + "bob " + h + "\nbob " + h + "\n",
		"upper-case hex":       canon + "bob " + strings.ToUpper(h) + "\n",
		"short hash":           canon + "bob " + h[:62] + "\n",
		"no final newline":     canon + "bob " + h,
		"bad name":             canon + "Bob " + h + "\n",
		"canonical twice":      canon + CanonicalLinePrefix + h + "\n",
		"trailing space":       canon + "bob " + h + " \n",
		"blank line":           canon + "\nbob " + h + "\n",
		"v1 with canonical":    ManifestHeaderV1 + CanonicalLinePrefix + h + "\n",
		"bad canonical hex":    ManifestHeader + CanonicalLinePrefix + h[:63] + "g\nbob " + h + "\n",
		"crlf":                 canon + "bob " + h + "\r\n",
		"name with a colon":    canon + "canonical: " + h + "\n",
		"member name too long": canon + strings.Repeat("a", 33) + " " + h + "\n",
	} {
		if _, err := ParseManifest([]byte(s)); !errors.Is(err, ErrManifest) {
			t.Errorf("%s: %v, want ErrManifest", name, err)
		}
	}
}

func FuzzParseManifest(f *testing.F) {
	for _, v := range buildManifestVectors() {
		f.Add([]byte(v.Manifest))
	}
	f.Add([]byte(ManifestHeaderV1 + "bob " + strings.Repeat("0", 64) + "\n"))
	f.Add([]byte(ManifestHeader))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseManifest(b)
		if err != nil {
			if !errors.Is(err, ErrManifest) {
				t.Fatalf("error without ErrManifest: %v", err)
			}
			return
		}
		// One encoding: whatever parses re-encodes to the same bytes.
		if !bytes.Equal(m.Encode(), b) {
			t.Fatalf("non-canonical manifest accepted: %q", b)
		}
	})
}
