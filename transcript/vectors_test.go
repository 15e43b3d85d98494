package transcript

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/entry_vectors.json")

// vector is one known-answer test for the entry format. Keys come from
// testKey (SHA-256 of a fixed label and the member name as the Ed25519 seed).
type vector struct {
	Name         string   `json:"name"`
	KeySeedLabel string   `json:"key_seed_label"`
	Mode         string   `json:"mode"`
	Kind         string   `json:"kind"`
	Room         string   `json:"room"`
	Sender       string   `json:"sender"`
	Seq          uint64   `json:"seq"`
	TimeUnixNano int64    `json:"time_unix_nano"`
	Parents      []string `json:"parents"`
	SaltHex      string   `json:"salt"`
	Content      string   `json:"content"`
	Commitment   string   `json:"commitment"`
	Body         string   `json:"body"`
	Encoding     string   `json:"encoding"`
	Hash         string   `json:"hash"`
	Signature    string   `json:"signature"`
}

func buildVectors(t *testing.T) []vector {
	t.Helper()
	type in struct {
		name, mode, sender, content string
		kind                        Kind
		seq                         uint64
		at                          time.Time
		parents                     []Hash
	}
	p1 := Hash(testSalt("parent one"))
	p2 := Hash(testSalt("parent two"))
	ins := []in{
		{"on-record first message", "on-record", "envoy", "We will not sign before Friday.", KindMessage, 1, t0, nil},
		{"on-record reply with two parents", "on-record", "aide", "Understood — 10 copies by noon.", KindMessage, 7, t0.Add(90 * time.Second), []Hash{p2, p1}},
		{"on-record membership change", "on-record", "envoy", "add counsel", KindMembership, 2, t0.Add(time.Hour), []Hash{p1}},
		{"deniable message", "deniable", "aide", "off the record", KindMessage, 3, t0.Add(2 * time.Hour), []Hash{p2}},
		{"empty content", "on-record", "counsel", "", KindMessage, 1, time.Unix(0, 1).UTC(), nil},
	}
	var out []vector
	for _, v := range ins {
		mode, err := ParseMode(v.mode)
		if err != nil {
			t.Fatal(err)
		}
		key := testKey(v.sender)
		salt := testSalt(v.name)
		e := &Entry{Mode: mode, Kind: v.kind, Room: "room-vectors", Sender: v.sender,
			SenderKey: key.Public().(ed25519.PublicKey), Seq: v.seq, Time: v.at,
			Parents: SortParents(v.parents), Commitment: Commit(salt, []byte(v.content))}
		if mode == ModeOnRecord {
			if err := e.Sign(key); err != nil {
				t.Fatal(err)
			}
		}
		body, err := e.Body()
		if err != nil {
			t.Fatal(err)
		}
		enc, err := e.Encode()
		if err != nil {
			t.Fatal(err)
		}
		h, _ := e.Hash()
		vec := vector{Name: v.name, KeySeedLabel: "backchannel transcript test key " + v.sender,
			Mode: v.mode, Kind: v.kind.String(), Room: e.Room, Sender: v.sender, Seq: v.seq,
			TimeUnixNano: v.at.UnixNano(), SaltHex: hex.EncodeToString(salt[:]), Content: v.content,
			Commitment: e.Commitment.String(), Body: hex.EncodeToString(body), Encoding: hex.EncodeToString(enc),
			Hash: h.String(), Signature: hex.EncodeToString(e.Signature)}
		for _, p := range e.Parents {
			vec.Parents = append(vec.Parents, p.String())
		}
		out = append(out, vec)
	}
	return out
}

// TestVectors checks the encoding, hash, commitment and signature against
// testdata/entry_vectors.json; -update rewrites the file.
func TestVectors(t *testing.T) {
	path := filepath.Join("testdata", "entry_vectors.json")
	got := buildVectors(t)
	data, err := json.MarshalIndent(got, "", "  ")
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
		t.Fatalf("%v (run go test ./transcript -run TestVectors -update)", err)
	}
	if !bytes.Equal(want, data) {
		t.Fatalf("entry vectors drifted from %s; if the format change is intended, rerun with -update and document it", path)
	}
	// Independently of the generator, every stored vector must decode,
	// re-encode identically and verify.
	var vs []vector
	if err := json.Unmarshal(want, &vs); err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		enc, _ := hex.DecodeString(v.Encoding)
		e, err := DecodeEntry(enc)
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		if err := e.VerifySignature(); err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		h, _ := e.Hash()
		if h.String() != v.Hash {
			t.Fatalf("%s: hash %s, want %s", v.Name, h, v.Hash)
		}
		salt, _ := hex.DecodeString(v.SaltHex)
		if err := CheckCommitment(e.Commitment, Salt(salt), []byte(v.Content)); err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		re, _ := e.Encode()
		if !bytes.Equal(re, enc) {
			t.Fatalf("%s: re-encoding differs", v.Name)
		}
	}
}
