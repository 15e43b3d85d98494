package demo

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode"

	"backchannel/client"
	"backchannel/store"
)

// searchWords are the words the storage search looks for: every word of
// six letters or more of the negotiation and the briefing, lower-cased,
// and the room's name. Names the server needs for routing (members, the
// device name) are left out: they are the search's control.
func searchWords(deviceName string) []string {
	seen := map[string]bool{roomName: true}
	for _, m := range members {
		seen[m] = true
	}
	seen[strings.ToLower(deviceName)] = true
	out := []string{roomName}
	texts := []string{briefing}
	for _, l := range Script {
		texts = append(texts, l.Text)
	}
	for _, t := range texts {
		for _, w := range strings.FieldsFunc(strings.ToLower(t), func(r rune) bool { return !unicode.IsLetter(r) }) {
			if len(w) >= 6 && !seen[w] {
				seen[w] = true
				out = append(out, w)
			}
		}
	}
	return out
}

// scan is what a search of the server's storage found.
type scan struct {
	files int
	size  int64
	found map[string][]string // word -> files that hold it
}

// scanStorage searches every file under dir for each of words
// (case-insensitively, in the raw bytes).
func scanStorage(ctx context.Context, dir string, words []string) (*scan, error) {
	sc := &scan{found: map[string][]string{}}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // a temporary file gone since the listing
		}
		if err != nil {
			return err
		}
		sc.files++
		sc.size += int64(len(data))
		lower := bytes.ToLower(data)
		rel, _ := filepath.Rel(dir, path)
		for _, w := range words {
			if bytes.Contains(lower, []byte(w)) {
				sc.found[w] = append(sc.found[w], rel)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("search the server's storage: %w", err)
	}
	return sc, nil
}

// serverStorage searches every file the server wrote for the negotiation's
// words: a check, not a claim. Words the server's storage held before
// anyone registered (its table definitions: "create", "primary") are left
// out, and said so. The same search must find the member and device names
// (routing metadata the server holds in the clear), so that it is known to
// read the data.
func (s *story) serverStorage(ctx context.Context) (Step, error) {
	st := Step{Step: "server-storage", Title: "The server holds ciphertext only (searched, not assumed)"}
	var search, excluded []string
	for _, w := range searchWords(s.opt.Client.DeviceName) {
		if _, ok := s.baseline[w]; ok {
			excluded = append(excluded, w)
		} else {
			search = append(search, w)
		}
	}
	control := append(slices.Clone(members), s.opt.Client.DeviceName)
	sc, err := scanStorage(ctx, s.srv.Dir, append(slices.Clone(search), control...))
	if err != nil {
		return st, err
	}
	found := map[string][]string{}
	for _, w := range search {
		if fs, ok := sc.found[w]; ok {
			found[w] = fs
		}
	}
	controlFound := map[string]bool{}
	for _, w := range control {
		controlFound[w] = len(sc.found[w]) > 0
	}
	if err := os.WriteFile(filepath.Join(s.dir, "words.txt"), []byte(strings.Join(search, "\n")+"\n"), 0o600); err != nil {
		return st, fmt.Errorf("write the word list: %w", err)
	}
	st.Outcome = struct {
		Files        int                 `json:"files"`
		Bytes        int64               `json:"bytes"`
		WordsSought  int                 `json:"words_sought"`
		Excluded     []string            `json:"excluded"`
		Found        map[string][]string `json:"found"`
		ControlFound map[string]bool     `json:"control_found"`
	}{sc.files, sc.size, len(search), excluded, found, controlFound}
	if len(found) > 0 {
		var ws []string
		for w, fs := range found {
			ws = append(ws, fmt.Sprintf("%q in %s", w, strings.Join(fs, ", ")))
		}
		slices.Sort(ws)
		return st, fmt.Errorf("the server holds plaintext: %s", strings.Join(ws, "; "))
	}
	for _, w := range control {
		if !controlFound[w] {
			return st, fmt.Errorf("the storage search does not even find the name %q, which the server holds in the clear: it reads nothing", w)
		}
	}
	st.show = append(st.show,
		"$ grep -rlaiF -f words.txt ./server     # prints nothing",
		fmt.Sprintf("searched every file the server wrote (%d files, %s KiB: database, write-ahead log, key log)", sc.files, thousands(int((sc.size+1023)/1024))),
		fmt.Sprintf("for the %s words of six letters or more of the negotiation and the briefing, and the", thousands(len(search))),
		"room's name: none is there. The same search finds the member and device names, which the",
		"server needs for routing, so it does read the data.")
	if len(excluded) > 0 {
		st.show = append(st.show, fmt.Sprintf("(left out: %s, which its storage held before anyone registered)", quoteList(excluded)))
	}
	return st, nil
}

// quoteList writes "a", "b" and "c".
func quoteList(ws []string) string {
	q := make([]string, len(ws))
	for i, w := range ws {
		q[i] = `"` + w + `"`
	}
	if len(q) < 2 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " and " + q[len(q)-1]
}

// ghostDevice: a malicious operator adds a device of its own to the
// adviser's account in the server's database; the envoy's next message is
// encrypted only to the devices of the adviser's signed device list (which
// the key log vouches for), and the envoy is told.
func (s *story) ghostDevice(ctx context.Context) (Step, error) {
	const victim, ghostID = "adviser", 2
	st := Step{Step: "ghost-device", Title: "A malicious operator adds a ghost device to the " + victim + "'s account"}
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		return st, fmt.Errorf("the ghost device's key: %w", err)
	}
	if err := s.srv.Store.AddDevice(ctx, store.Device{User: victim, ID: ghostID, SigningKey: pub, CreatedAt: time.Now()}); err != nil {
		return st, fmt.Errorf("add the ghost device: %w", err)
	}
	const text = "We meet again at nine; I will bring the annex."
	if _, err := s.people["envoy"].c.Sync(ctx); err != nil {
		return st, fmt.Errorf("envoy syncs: %w", err)
	}
	m, err := s.people["envoy"].c.Send(ctx, s.room, text)
	if err != nil {
		return st, fmt.Errorf("envoy sends: %w", err)
	}
	want := fmt.Sprintf("the server lists a device %d for %s that is not in %s's signed device list: nothing was encrypted to it", ghostID, victim, victim)
	if !slices.Contains(m.Warnings, want) {
		return st, fmt.Errorf("the envoy was not told of the ghost device; warnings %q", m.Warnings)
	}
	v := s.people[victim].c
	if _, err := v.Sync(ctx); err != nil {
		return st, fmt.Errorf("%s syncs: %w", victim, err)
	}
	msgs, err := s.texts(ctx, victim)
	if err != nil {
		return st, err
	}
	if !slices.ContainsFunc(msgs, func(x client.Message) bool { return x.ID == m.ID }) {
		return st, fmt.Errorf("the %s's own device did not receive the envoy's message", victim)
	}
	// The adviser replies, and is told of the ghost in their own account.
	const reply = "Agreed."
	r, err := v.Send(ctx, s.room, reply)
	if err != nil {
		return st, fmt.Errorf("%s sends: %w", victim, err)
	}
	if !slices.Contains(r.Warnings, want) {
		return st, fmt.Errorf("the %s was not told of the ghost device in their own account; warnings %q", victim, r.Warnings)
	}
	ghost, err := s.srv.Store.Pending(ctx, store.Address{User: victim, Device: ghostID}, 0, 100)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return st, fmt.Errorf("the ghost device's mailbox: %w", err)
	}
	if len(ghost) != 0 {
		return st, fmt.Errorf("the ghost device received %d envelopes", len(ghost))
	}
	devs, err := v.Devices(ctx)
	if err != nil {
		return st, fmt.Errorf("the %s's devices: %w", victim, err)
	}
	if len(devs) != 1 {
		return st, fmt.Errorf("the %s's signed device list names %d devices", victim, len(devs))
	}
	st.Outcome = struct {
		Victim         string   `json:"victim"`
		GhostDevice    int      `json:"ghost_device"`
		Warnings       []string `json:"warnings"`
		OwnerWarnings  []string `json:"owner_warnings"`
		GhostEnvelopes int      `json:"ghost_envelopes"`
		ListedDevices  int      `json:"listed_devices"`
	}{victim, ghostID, m.Warnings, r.Warnings, len(ghost), len(devs)}
	st.show = append(st.show,
		fmt.Sprintf("(no command: the operator writes a device %d for %s, with a key of its own, into the server's database)", ghostID, victim),
		cli("envoy", "send", roomName, text),
		fmt.Sprintf("Sent %s.", m.ID[:12]))
	for _, w := range m.Warnings {
		st.show = append(st.show, "warning: "+w)
	}
	st.show = append(st.show, cli(victim, "send", roomName, reply), fmt.Sprintf("Sent %s.", r.ID[:12]))
	for _, w := range r.Warnings {
		st.show = append(st.show, "warning: "+w)
	}
	st.show = append(st.show,
		cli(victim, "devices"),
		fmt.Sprintf("%q is the only device in the %s's signed device list, which the key log vouches for.", devs[0].Name, victim),
		fmt.Sprintf("The ghost's mailbox is empty after both messages; the %s's own device received the envoy's.", victim))
	return st, nil
}

// voiceNote keeps the place of the voice-note step: voice notes do not
// exist yet, and the demo does not pretend they do.
func (s *story) voiceNote(context.Context) (Step, error) {
	note := "voice notes are not built yet; once they are, this step sends one, re-encodes the recording and traces it to the member whose copy it was"
	return Step{
		Step: "voice-note", Title: "Voice notes (not built yet)",
		Outcome: struct {
			Available bool   `json:"available"`
			Note      string `json:"note"`
		}{false, note},
		show: []string{
			"Voice notes are not built yet. Once they are, this step sends one, re-encodes the",
			"recording and traces it to the member whose copy it was.",
		},
	}, nil
}
