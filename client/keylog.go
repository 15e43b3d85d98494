package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"backchannel/contacts"
	"backchannel/devicelist"
	"backchannel/keylog/verify"
	"backchannel/server/apiclient"
	"backchannel/vault"
)

// The key log (docs/protocol.md section 16). Every account's device list is
// committed to in a public, append-only log; a lookup proves which list the
// log holds for one account at its latest epoch. The client checks every
// lookup before it uses a key (package keylog/verify), keeps the newest
// checkpoint it verified (a rollback or a fork then stops sending), and
// watches its own account's entry (self-monitoring).

// errGossipUnchecked: a peer's checkpoint could not be checked yet.
var errGossipUnchecked = errors.New("the checkpoint could not be checked yet")

// Errors callers branch on.
var (
	// ErrLogMismatch: the server's device lists disagree with its own key log.
	ErrLogMismatch = errors.New("the server's device lists disagree with its key log")
	// ErrNotListed: a lookup's leaf is listed as a change at no epoch (step
	// 8 of docs/protocol.md section 16): the key is refused.
	ErrNotListed = errors.New("a key the key log never listed")
	// ErrLogSplit: the key log was rolled back or forked (evidence kept).
	ErrLogSplit = errors.New("the server's key log was rolled back or forked: it shows you a different history than before (evidence kept; tell your contacts and your server's operator)")
)

const (
	logCheckpointRecord = "keylog/checkpoint" // the newest verified checkpoint note
	logEvidenceLog      = "keylog/evidence"   // signed checkpoints that contradict each other
	logMonitorRecord    = "keylog/monitored"  // time of the last self-check
	// MonitorInterval is how often a device checks its own account in the
	// log (at open and in long-running sessions).
	MonitorInterval = 4 * time.Hour
	// LogVisibleWithin is how long a lookup waits for an account that the
	// server knows but its log does not show yet (a registration moments ago).
	LogVisibleWithin = 10 * time.Second
)

// logPin is what the profile pinned about the server's key log at init.
type logPin struct {
	Origin        string   `json:"origin"`
	LogKey        string   `json:"log_key"`
	VRFKey        []byte   `json:"vrf_key"`
	Witnesses     []string `json:"witnesses,omitempty"`
	WitnessQuorum int      `json:"witness_quorum,omitempty"`
}

func (p *logPin) trust() verify.Trust {
	return verify.Trust{Origin: p.Origin, LogKey: p.LogKey, VRFKey: p.VRFKey, Witnesses: p.Witnesses, WitnessQuorum: p.WitnessQuorum}
}

// pinLog records the server's key log identity (trust on first use, at
// init; linked devices get it from their primary).
func (c *Client) pinLog(ctx context.Context) error {
	info, err := c.api.KeyLogInfo(ctx)
	if err != nil {
		return fmt.Errorf("the server's key log: %w", err)
	}
	c.prof.Log = &logPin{Origin: info.Origin, LogKey: info.LogKey, VRFKey: info.VRFKey}
	return nil
}

// lastCheckpoint returns the newest checkpoint this device verified.
func (c *Client) lastCheckpoint(ctx context.Context, r reader) (*verify.Checkpoint, error) {
	raw, err := r.Get(ctx, logCheckpointRecord)
	if errors.Is(err, vault.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	// It was verified when stored; a witness policy set since then applies
	// to new checkpoints, not to this one.
	t := c.prof.Log.trust()
	t.Witnesses, t.WitnessQuorum = nil, 0
	cp, err := verify.ParseCheckpoint(t, raw)
	if err != nil {
		return nil, fmt.Errorf("the stored key log checkpoint: %w", err)
	}
	return &cp, nil
}

func (c *Client) consistency(ctx context.Context) func(from, to uint64) ([][]byte, error) {
	return func(from, to uint64) ([][]byte, error) { return c.api.KeyLogConsistency(ctx, from, to) }
}

// lookup fetches and verifies the key log's entry for user, and stores the
// newer checkpoint. A rollback or fork is recorded as evidence and returned
// as ErrLogSplit.
func (c *Client) lookup(ctx context.Context, user string) (*verify.Result, error) {
	res, _, err := c.lookupRaw(ctx, user)
	return res, err
}

// lookupRaw is lookup that also returns the server's answer as it came
// (the self-check keeps it as evidence).
func (c *Client) lookupRaw(ctx context.Context, user string) (*verify.Result, []byte, error) {
	raw, err := c.api.KeyLogLookup(ctx, user)
	if errors.Is(err, apiclient.ErrNotFound) {
		// An account registered a moment ago enters the log with the next
		// epoch (within seconds); an unknown name is reported as such.
		if _, aerr := c.api.Account(ctx, user); errors.Is(aerr, apiclient.ErrNotFound) {
			return nil, nil, fmt.Errorf("%w: the server has no account named %q", ErrUnknownUser, user)
		} else if aerr != nil {
			return nil, nil, fmt.Errorf("look up %s: %w", user, aerr)
		}
		deadline := time.Now().Add(LogVisibleWithin)
		for wait := 20 * time.Millisecond; errors.Is(err, apiclient.ErrNotFound) && time.Now().Before(deadline); wait = min(2*wait, 500*time.Millisecond) {
			select {
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			case <-time.After(wait):
			}
			raw, err = c.api.KeyLogLookup(ctx, user)
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("key log lookup of %s: %w", user, err)
	}
	l, err := verify.DecodeLookup(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("the key log's answer for %s: %w", user, err)
	}
	prev, err := c.lastCheckpoint(ctx, c.v)
	if err != nil {
		return nil, nil, err
	}
	res, err := verify.Verify(c.prof.Log.trust(), user, l, prev, c.consistency(ctx))
	var ev *verify.Evidence
	if errors.As(err, &ev) {
		c.keepEvidence(ctx, ev.Ours, ev.Theirs, err)
		return nil, nil, fmt.Errorf("%w: %v", ErrLogSplit, err)
	}
	if errors.Is(err, verify.ErrNotListed) {
		return nil, nil, fmt.Errorf("%w: the key log shows a device list for %s that no epoch of the log lists as a change, so %s's own devices cannot have seen it; refusing to use it (the server may be showing you someone else's keys)", ErrNotListed, user, user)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("the key log's proof for %s does not verify (refusing to use it): %w", user, err)
	}
	if prev == nil || res.Checkpoint.Size > prev.Size {
		if err := c.v.Put(ctx, logCheckpointRecord, res.Checkpoint.Note); err != nil {
			return nil, nil, err
		}
	}
	return res, raw, nil
}

// evidence is one contradiction in the key log, kept for the user.
type evidence struct {
	At     time.Time `json:"at"`
	Ours   []byte    `json:"ours"`
	Theirs []byte    `json:"theirs"`
	Error  string    `json:"error"`
}

func (c *Client) keepEvidence(ctx context.Context, ours, theirs []byte, cause error) {
	raw, _ := json.Marshal(evidence{At: c.opts.Now().UTC(), Ours: ours, Theirs: theirs, Error: cause.Error()})
	n, _ := json.Marshal(Notice{At: c.opts.Now().UTC(), User: c.prof.User, Kind: "keylog-split", Alarm: true,
		Text: "ALARM: " + ErrLogSplit.Error()})
	err := c.v.Update(ctx, func(tx *vault.Tx) error {
		if _, err := tx.Append(ctx, logEvidenceLog, raw); err != nil {
			return err
		}
		_, err := tx.Append(ctx, noticeLog, n)
		return err
	})
	if err != nil {
		c.opts.Logger.Warn("could not keep key log evidence", "err", err)
	}
}

// loggedList checks that the lists the server serves for user agree with
// the key log: the chain (verified from pinned, or from version 1 under
// key) must end in exactly the logged list.
func loggedList(user string, res *verify.Result, newest *devicelist.List) error {
	if newest.Version != res.List.Version || newest.Hash() != res.List.Hash() {
		return fmt.Errorf("%w: the log holds version %d of %s's device list, the server serves version %d", ErrLogMismatch, res.List.Version, user, newest.Version)
	}
	return nil
}

// checkLogUpdates refuses a leaf whose change count went backwards.
func checkLogUpdates(user string, seen, now uint64) error {
	if now < seen {
		return fmt.Errorf("%w: %s's entry changed %d times, you had seen %d", ErrLogSplit, user, now, seen)
	}
	return nil
}

// monitorSelf checks this account's entry in the key log (at most every
// MonitorInterval unless force): the log must hold a list this account
// published, changed exactly as often as this account published lists.
// A mismatch raises an alarm on this device.
func (c *Client) monitorSelf(ctx context.Context, force bool) (*Audit, error) {
	if c.prof.Log == nil {
		return nil, nil
	}
	if !force {
		if raw, err := c.v.Get(ctx, logMonitorRecord); err == nil {
			var at time.Time
			if json.Unmarshal(raw, &at) == nil && c.opts.Now().Sub(at) < MonitorInterval {
				return nil, nil
			}
		}
	}
	return c.selfCheck(ctx, force)
}

// selfCheck looks this account up, compares its leaf with what its own
// devices published, reads every change of its index since the anchor
// (changes.go) and, with history, lists every version the server serves.
// Without history (the periodic check) it is quickCheck, the lists against
// the latest checkpoint without the lookup, whenever that one can decide.
func (c *Client) selfCheck(ctx context.Context, history bool) (*Audit, error) {
	if !history {
		if a, done, err := c.quickCheck(ctx); done {
			return a, err
		}
	}
	res, raw, err := c.lookupRaw(ctx, c.prof.User)
	if errors.Is(err, ErrNotListed) {
		// The server shows this account a leaf it never listed: nobody
		// could check it, so it is an attack, not a failure to check.
		a := &Audit{Alerts: []string{"the key log shows your account with a version that no epoch lists as a change (the server is hiding what it shows others)"}}
		if rerr := c.recordAlerts(ctx, a, func(*vault.Tx) error { return nil }); rerr != nil {
			return nil, rerr
		}
		return nil, err
	}
	if err != nil {
		if stale := c.selfCheckOverdue(ctx); stale != "" {
			return nil, fmt.Errorf("%s: %w", stale, err)
		}
		return nil, err
	}
	a, err := c.audit(ctx, res, history)
	if err != nil {
		return nil, err
	}
	scan, err := c.scanOwnChanges(ctx, res, raw)
	if err != nil {
		if stale := c.selfCheckOverdue(ctx); stale != "" {
			return nil, fmt.Errorf("%s: %w", stale, err)
		}
		return nil, err
	}
	a.Alerts = append(a.Alerts, scan.alerts...)
	at, _ := json.Marshal(c.opts.Now().UTC())
	if err := c.recordAlerts(ctx, a, func(tx *vault.Tx) error {
		if err := scan.save(ctx, tx, func(al string) bool { return !c.alreadyAlerted(ctx, tx, al) }); err != nil {
			return err
		}
		if err := tx.Put(ctx, logFullCheckRecord, at); err != nil {
			return err
		}
		return tx.Put(ctx, logMonitorRecord, at)
	}); err != nil {
		return nil, err
	}
	if a.Listings, err = c.ownListings(ctx, c.v); err != nil {
		return nil, err
	}
	return a, nil
}

// recordAlerts keeps an audit's new alerts as alarms (with whatever else
// the transaction must write) and warns this account's contacts of them.
func (c *Client) recordAlerts(ctx context.Context, a *Audit, also func(tx *vault.Tx) error) error {
	var fresh []string
	err := c.v.Update(ctx, func(tx *vault.Tx) error {
		if err := also(tx); err != nil {
			return err
		}
		for _, al := range a.Alerts {
			if !c.alreadyAlerted(ctx, tx, al) {
				fresh = append(fresh, al)
				n, _ := json.Marshal(Notice{At: c.opts.Now().UTC(), User: c.prof.User, Kind: "keylog", Alarm: true, Text: "ALARM: " + al})
				if _, err := tx.Append(ctx, noticeLog, n); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err == nil {
		c.warnContacts(ctx, fresh)
	}
	return err
}

// warnContacts tells the people this account shares rooms with what its
// own devices found (an alert payload in every room; best effort: a room
// whose members cannot be reached now is skipped).
func (c *Client) warnContacts(ctx context.Context, alerts []string) {
	if len(alerts) == 0 {
		return
	}
	ids, err := roomIDs(ctx, c.v)
	if err != nil {
		return
	}
	for _, id := range ids {
		r, err := roomFrom(ctx, c.v, id)
		if err != nil || r.Removed {
			continue
		}
		for _, al := range alerts {
			if len(al) > maxAlertBytes {
				al = al[:maxAlertBytes]
			}
			p := &payload{V: payloadVersion, Kind: KindAlert, ID: newID(), Room: id, SentAt: c.opts.Now().UTC(), Text: al}
			if err := c.fanOut(ctx, same(p), r.State.Members, false, func(context.Context, *vault.Tx) error { return nil }); err != nil && !errors.Is(err, ErrNotDelivered) {
				c.opts.Logger.Warn("could not warn a room about the key log", "room", id, "err", err)
			}
		}
	}
}

func (c *Client) alreadyAlerted(ctx context.Context, r reader, text string) bool {
	raws, err := r.Log(ctx, noticeLog)
	if err != nil {
		return false
	}
	for _, raw := range raws {
		var n Notice
		if json.Unmarshal(raw, &n) == nil && n.Text == "ALARM: "+text {
			return true
		}
	}
	return false
}

// Audit is what `keys audit` shows: this account's entry in the key log and
// every version of its device list, with alerts for anything this
// account's own devices did not publish.
type Audit struct {
	Checkpoint string         `json:"checkpoint"`
	Updates    uint64         `json:"updates"`
	Version    uint64         `json:"version"`
	Versions   []AuditVersion `json:"versions"`
	// Listings are the changes of this account's index that the key log
	// listed since this device first checked it (changes.go), oldest first.
	Listings []AuditListing `json:"listings"`
	Alerts   []string       `json:"alerts"`
}

// AuditVersion is one version of the account's device list.
type AuditVersion struct {
	Version  uint64    `json:"version"`
	IssuedAt time.Time `json:"issued_at"`
	Devices  []string  `json:"devices"`
	Known    bool      `json:"known"` // held by this device's own chain
}

// audit compares what the log holds for this account with the lists its
// own devices hold.
func (c *Client) audit(ctx context.Context, res *verify.Result, history bool) (*Audit, error) {
	a := &Audit{Checkpoint: string(res.Checkpoint.Note), Updates: res.Updates, Version: res.Version, Versions: []AuditVersion{}, Listings: []AuditListing{}, Alerts: []string{}}
	own, err := c.v.Log(ctx, chainPrefix+c.prof.User)
	if err != nil {
		return nil, err
	}
	known := map[[32]byte]bool{}
	for _, raw := range own {
		if l, err := devicelist.Parse(raw); err == nil {
			known[l.Hash()] = true
		}
	}
	a.Alerts = append(a.Alerts, res.OwnerAlerts(c.accountKey(), func(h [32]byte) bool { return known[h] })...)
	if !history {
		return a, nil // the periodic check: the leaf is enough
	}
	lists, err := c.fetchLists(ctx, c.prof.User, 0)
	if err != nil {
		return nil, err
	}
	for _, raw := range lists {
		l, err := devicelist.Parse(raw)
		if err != nil {
			a.Alerts = append(a.Alerts, fmt.Sprintf("the server serves a device list of your account that does not verify: %v", err))
			continue
		}
		v := AuditVersion{Version: l.Version, IssuedAt: l.IssuedAt, Known: known[l.Hash()], Devices: []string{}}
		for _, d := range l.Devices {
			v.Devices = append(v.Devices, fmt.Sprintf("%d %s", d.ID, d.Name))
		}
		if !v.Known && bytes.Equal(l.AccountKey, c.accountKey()) {
			a.Alerts = append(a.Alerts, fmt.Sprintf("version %d of your device list (issued %s) was not published by this device's account history", l.Version, l.IssuedAt.Format(time.RFC3339)))
		}
		a.Versions = append(a.Versions, v)
	}
	return a, nil
}

// AuditLog runs `keys audit`: a fresh self-check against the key log.
func (c *Client) AuditLog(ctx context.Context) (*Audit, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.prof.Log == nil {
		return nil, errors.New("this profile has no key log pinned (its server had none when it was created)")
	}
	refreshErr := c.refreshSelf(ctx)
	a, err := c.monitorSelf(ctx, true)
	if err != nil {
		return nil, err
	}
	if refreshErr != nil && !transient(refreshErr) {
		a.Alerts = append(a.Alerts, refreshErr.Error())
	}
	return a, nil
}

// gossipCheck checks the key log checkpoint a peer's message carried
// against this device's own view; a contradiction is a split view.
func (c *Client) gossipCheck(ctx context.Context, from string, note []byte) error {
	if c.prof.Log == nil || len(note) == 0 {
		return nil
	}
	ours, err := c.lastCheckpoint(ctx, c.v)
	if err != nil || ours == nil {
		return err
	}
	if theirs, err := verify.ParseCheckpoint(c.prof.Log.trust(), note); err == nil && theirs.Size < ours.Size &&
		!c.olderGossip.allow(from, c.opts.Now()) {
		return nil // an older checkpoint of this sender's was checked moments ago (GossipOlderEvery)
	}
	cp, err := verify.CheckGossip(c.prof.Log.trust(), *ours, note, c.consistency(ctx))
	var ev *verify.Evidence
	if errors.As(err, &ev) {
		c.keepEvidence(ctx, ev.Ours, ev.Theirs, err)
		return fmt.Errorf("%s's messages carry a key log checkpoint that contradicts yours: the server shows the two of you different logs (split view; evidence kept)", from)
	}
	if err != nil {
		if transient(err) {
			return fmt.Errorf("%w: %v", errGossipUnchecked, err)
		}
		return fmt.Errorf("the key log checkpoint in %s's message does not verify: %v", from, err)
	}
	if cp.Size > ours.Size {
		if err := c.v.Put(ctx, logCheckpointRecord, cp.Note); err != nil {
			return err
		}
	}
	if cp.Size != ours.Size {
		return c.scanAfterGossip(ctx, cp)
	}
	return nil
}

// ourCheckpoint returns the note to carry in outgoing payloads (gossip).
func (c *Client) ourCheckpoint(ctx context.Context) []byte {
	if c.prof.Log == nil {
		return nil
	}
	raw, err := c.v.Get(ctx, logCheckpointRecord)
	if err != nil {
		return nil
	}
	return raw
}

// refreshFromLog is refreshContact when the server has a key log: the log
// says which list (and so which account key) is current; the server's
// chain of lists must end in exactly that list.
func (c *Client) refreshFromLog(ctx context.Context, ct *contacts.Contact) ([]contacts.Event, [][]byte, error) {
	res, err := c.lookup(ctx, ct.Name)
	if err != nil {
		return nil, nil, err
	}
	if err := checkLogUpdates(ct.Name, ct.LogUpdates, res.Updates); err != nil {
		return nil, nil, err
	}
	key := res.List.AccountKey
	if ct.KeyPending() && bytes.Equal(key, ct.Key) {
		ct.NewKey, ct.NewList, ct.LogUpdates = nil, nil, res.Updates
		return []contacts.Event{{Kind: contacts.KeyChanged, User: ct.Name,
			Text: fmt.Sprintf("the key log shows %s's original account key again: the key change shown before was withdrawn (a server that swaps keys and back is attacking; tell %s)", ct.Name, ct.Name)}}, nil, nil
	}
	if !bytes.Equal(key, ct.Key) {
		lists, err := c.fetchLists(ctx, ct.Name, 0)
		if err != nil {
			return nil, nil, err
		}
		l, err := devicelist.VerifyChain(ct.Name, key, nil, lists)
		if err != nil {
			return nil, nil, fmt.Errorf("the key log shows a new key for %s whose device lists do not verify: %w", ct.Name, err)
		}
		if err := loggedList(ct.Name, res, l); err != nil {
			return nil, nil, err
		}
		ct.LogUpdates = res.Updates
		evs, err := ct.ObserveKey(key, l)
		return evs, nil, err
	}
	cur, err := ct.DeviceList()
	if err != nil {
		return nil, nil, err
	}
	switch {
	case res.List.Version < cur.Version:
		return nil, nil, fmt.Errorf("%w: the key log shows version %d of %s's device list, you already have version %d", ErrLogSplit, res.List.Version, ct.Name, cur.Version)
	case res.List.Version == cur.Version:
		if res.List.Hash() != cur.Hash() {
			return nil, nil, fmt.Errorf("%w: two different versions %d of %s's device list", ErrLogSplit, cur.Version, ct.Name)
		}
		ct.LogUpdates = res.Updates
		return nil, nil, nil
	}
	lists, err := c.fetchLists(ctx, ct.Name, cur.Version)
	if err != nil {
		return nil, nil, err
	}
	next, err := devicelist.VerifyChain(ct.Name, ct.Key, cur, lists)
	if err != nil {
		return nil, nil, fmt.Errorf("the server's newer device list for %s does not extend the one you have (refusing it; the server may be attacking): %w", ct.Name, err)
	}
	if err := loggedList(ct.Name, res, next); err != nil {
		return nil, nil, err
	}
	ct.LogUpdates = res.Updates
	evs, err := ct.Observe(next)
	return evs, lists, err
}

// selfCheckOverdue says so when no self-check succeeded for two intervals
// (a server can refuse exactly the owner's own lookups).
func (c *Client) selfCheckOverdue(ctx context.Context) string {
	var at time.Time
	raw, err := c.v.Get(ctx, logMonitorRecord)
	if err == nil {
		_ = json.Unmarshal(raw, &at)
	} else {
		at = c.prof.CreatedAt
	}
	if age := c.opts.Now().Sub(at); age > 2*MonitorInterval {
		return fmt.Sprintf("ALARM: your own entry in the key log could not be checked for %s (the server refuses your lookups: it may be hiding a substitution of your key)", age.Round(time.Minute))
	}
	return ""
}
