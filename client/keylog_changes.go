package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"backchannel/devicelist"
	"backchannel/keylog/prefix"
	"backchannel/keylog/verify"
	"backchannel/vault"
)

// Reading every entry of the key log (docs/protocol.md section 16,
// "Self-monitoring", "Reading every entry"). Every leaf a client is shown
// must have been listed as a change at some epoch (verify, step 8); every
// self-check reads every entry since the last epoch it checked (the anchor;
// GET /v1/keylog/entries, an empty epoch as its time only) with the change
// list of each epoch that has one, checks each entry's head against its own
// changes and the previous head, and the entries against the signed
// checkpoint (verify.ScanEntries); every change of this account's index
// must open to a state its own devices published, with the change count
// growing.
// A server that shows the owner some epochs and her peers others (with an
// impostor's leaf) is caught here, even if nobody who saw the impostor ever
// writes to her.

const (
	logAnchorRecord    = "keylog/anchor"     // anchorRecord: where the reading of the change lists stands
	logOwnStatesRecord = "keylog/own-states" // the own leaf states last fetched (GET /v1/keylog/own)
	logListingsLog     = "keylog/listings"   // AuditListing per listing of the own index, oldest first
	logListingEvidence = "keylog/listing-evidence"
	// GossipScanInterval bounds the self-checks that a peer's newer
	// checkpoint brings forward (at most one per interval, besides the
	// periodic one).
	GossipScanInterval  = time.Hour
	logGossipScanRecord = "keylog/gossip-scan" // time of the last check brought forward
	// maxEntryPages bounds the pages of entries one check reads
	// (verify.MaxEntriesPage epochs each).
	maxEntryPages = 4096
	// FullCheckInterval is the longest time between two full self-checks
	// (the own lookup, with the leaf compared to what this account's devices
	// published); the periodic checks in between read the change lists
	// against the latest checkpoint only (quickCheck).
	FullCheckInterval  = 24 * time.Hour
	logFullCheckRecord = "keylog/full-check" // time of the last full self-check
)

// anchorRecord is the anchor: the last epoch whose changes this device
// read, that epoch's head (from an entry it verified), and the change count
// of the last listing of its own index it checked.
type anchorRecord struct {
	Epoch   uint64 `json:"epoch"`
	Head    []byte `json:"head"`
	Updates uint64 `json:"updates"`
	// Index is this account's VRF index, from the last full check's
	// verified lookup (the periodic check reads the lists without one).
	Index []byte `json:"index,omitempty"`
	// Entry is the anchor epoch's entry and Range the RFC 6962 compact
	// range of the log's leaves [0, Epoch+1): the next reading of the
	// entries continues from them (absent in an anchor from before the
	// entries were read: the next full check starts afresh).
	Entry []byte   `json:"entry,omitempty"`
	Range [][]byte `json:"range,omitempty"`
}

// entryAnchor returns the anchor of the reading of the entries, if a has one.
func (a *anchorRecord) entryAnchor() (verify.EntryAnchor, bool) {
	if a == nil || len(a.Entry) != prefix.EntrySize {
		return verify.EntryAnchor{}, false
	}
	return verify.EntryAnchor{Epoch: a.Epoch, Entry: a.Entry, Range: a.Range}, true
}

// AuditListing is one change of this account's index in the key log.
type AuditListing struct {
	Epoch   uint64 `json:"epoch"`             // the epoch whose change list has it
	Updates uint64 `json:"updates,omitempty"` // the change count of the own state it opens to
	Own     bool   `json:"own"`               // it opens to a state this account's devices published
	Alert   string `json:"alert,omitempty"`   // what is wrong with it
}

// listingEvidence is what a self-check keeps when the change lists show
// something the account's devices did not do: the verified lookup (its
// signed checkpoint, entry and inclusion proof), the anchor and every change
// list read after it, so anyone can recompute the head.
type listingEvidence struct {
	At      time.Time       `json:"at"`
	Alerts  []string        `json:"alerts"`
	Anchor  anchorRecord    `json:"anchor"`
	Lookup  json.RawMessage `json:"lookup"`
	Records []verify.Record `json:"records"`
	// Pages are the pages of entries read after the anchor.
	Pages []*verify.EntriesPage `json:"pages,omitempty"`
	Error string                `json:"error,omitempty"`
}

// ownScan is a check's reading of the change lists, saved with its alerts.
type ownScan struct {
	alerts   []string
	anchor   *anchorRecord // the new anchor; nil: keep the old one
	listings []AuditListing
	states   []verify.State // fetched from the server, to cache
	evidence *listingEvidence
}

// save writes the scan; the evidence only when one of its alerts is new
// (fresh reports whether an alert was not raised before), so a condition
// that lasts does not keep a growing copy of the lists at every check.
func (s *ownScan) save(ctx context.Context, tx *vault.Tx, fresh func(string) bool) error {
	if s.anchor != nil {
		raw, _ := json.Marshal(s.anchor)
		if err := tx.Put(ctx, logAnchorRecord, raw); err != nil {
			return err
		}
	}
	if s.states != nil {
		raw, _ := json.Marshal(s.states)
		if err := tx.Put(ctx, logOwnStatesRecord, raw); err != nil {
			return err
		}
	}
	for _, l := range s.listings {
		raw, _ := json.Marshal(l)
		if _, err := tx.Append(ctx, logListingsLog, raw); err != nil {
			return err
		}
	}
	if s.evidence != nil && slices.ContainsFunc(s.alerts, fresh) {
		raw, _ := json.Marshal(s.evidence)
		if _, err := tx.Append(ctx, logListingEvidence, raw); err != nil {
			return err
		}
	}
	return nil
}

func loadAnchor(ctx context.Context, r reader) (*anchorRecord, error) {
	raw, err := r.Get(ctx, logAnchorRecord)
	if errors.Is(err, vault.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var a anchorRecord
	if err := json.Unmarshal(raw, &a); err != nil || len(a.Head) != prefix.HashSize {
		return nil, fmt.Errorf("the stored key log anchor does not decode: %v", err)
	}
	return &a, nil
}

// ownListings returns every listing of this account's index read so far.
func (c *Client) ownListings(ctx context.Context, r reader) ([]AuditListing, error) {
	raws, err := r.Log(ctx, logListingsLog)
	if err != nil {
		return nil, err
	}
	out := []AuditListing{}
	for _, raw := range raws {
		var l AuditListing
		if json.Unmarshal(raw, &l) == nil {
			out = append(out, l)
		}
	}
	return out, nil
}

// ownPublished returns the ListHash of each version of this account's
// device list that its own chain holds under its own account key.
func (c *Client) ownPublished(ctx context.Context) (func(uint64) ([32]byte, bool), error) {
	raws, err := c.v.Log(ctx, chainPrefix+c.prof.User)
	if err != nil {
		return nil, err
	}
	byVersion := map[uint64][32]byte{}
	for _, raw := range raws {
		if l, err := devicelist.Parse(raw); err == nil && string(l.AccountKey) == string(c.accountKey()) {
			byVersion[l.Version] = l.Hash()
		}
	}
	return func(v uint64) ([32]byte, bool) { h, ok := byVersion[v]; return h, ok }, nil
}

// scanOwnChanges reads the change lists from the anchor to the epoch of
// res (this account's verified lookup; raw is its JSON) and checks every
// change of this account's index. At the first check the anchor is the
// epoch that lists res's leaf (step 8 proved it). A network failure is an
// error (the check did not happen); lists that do not fold into the head,
// or a listing the account's devices did not make, are alerts.
func (c *Client) scanOwnChanges(ctx context.Context, res *verify.Result, raw []byte) (*ownScan, error) {
	published, err := c.ownPublished(ctx)
	if err != nil {
		return nil, err
	}
	var cached []verify.State
	if b, err := c.v.Get(ctx, logOwnStatesRecord); err == nil {
		_ = json.Unmarshal(b, &cached)
	}
	current := verify.State{Updates: res.Updates, Version: res.Version, Nonce: res.Nonce}
	own := verify.OwnLeaves(res.Index, append(cached, current), published)
	anc, err := loadAnchor(ctx, c.v)
	if err != nil {
		return nil, err
	}
	start, ok := anc.entryAnchor()
	from, first, seen := start.Epoch+1, !ok, uint64(0)
	legacy := first && anc != nil
	if first {
		// The first reading: from U, the epoch that lists res's leaf (step
		// 8 proved entry U), with the compact range of [0, U) the server
		// gives. After an anchor from before the entries were read (no
		// entry to continue from), the whole log once, from epoch 0, its
		// listings up to that anchor's epoch already kept.
		if anc == nil {
			// Entry U's listing of this index is res's leaf: the start.
			anc = &anchorRecord{Epoch: res.Listed.Epoch, Head: res.Listed.Head[:]}
			if u, ok := own[res.Leaf]; ok {
				anc.Updates = u
			}
			seen = res.Listed.Epoch + 1
			from = res.Listed.Epoch
		} else {
			seen, from = anc.Epoch+1, 0
		}
	}
	scan := &ownScan{}
	n := res.Epoch.Epoch
	pages, ferr := c.fetchEntries(ctx, from, first && !legacy)
	if ferr != nil && (transient(ferr) || ctx.Err() != nil) {
		return nil, ferr
	}
	var es *verify.EntryScan
	switch {
	case ferr != nil || !first:
	case legacy:
		// Entry 0 as the page gives it: the range root at the end checks it.
		if len(pages[0].Entries) == 0 {
			ferr = errors.New("the key log's entries from epoch 0 are empty")
			break
		}
		e0 := pages[0].Entries[0].E
		if len(e0) == 0 { // epoch 0 has no predecessor: it always comes whole
			ferr = errors.New("the key log sent its first epoch without its entry")
			break
		}
		start, ferr = verify.FirstAnchor(e0, nil)
	default:
		start, ferr = verify.FirstAnchor(res.Listed.Marshal(), pages[0].Frontier)
	}
	if ferr == nil {
		es, ferr = verify.ScanEntries(c.prof.Log.trust(), start, pages, &res.Checkpoint, res.Index)
	}
	var ev *verify.Evidence
	if errors.As(ferr, &ev) {
		c.keepEvidence(ctx, ev.Ours, ev.Theirs, ferr)
	}
	evidence := func(alerts []string, cause error) *listingEvidence {
		e := &listingEvidence{At: c.opts.Now().UTC(), Alerts: alerts, Anchor: *anc, Lookup: json.RawMessage(raw), Pages: pages}
		if cause != nil {
			e.Error = cause.Error()
		}
		return e
	}
	if ferr != nil {
		// Withheld, refused or altered: the anchor stays, so the next check
		// reads the same epochs again.
		al := fmt.Sprintf("the server did not give the key log's change lists after epoch %d as the log committed to them (withheld or altered: it may be hiding a version of your account that it shows to others); evidence kept, tell your server's operator", anc.Epoch)
		scan.alerts = []string{al}
		scan.evidence = evidence(scan.alerts, ferr)
		return scan, nil
	}
	listings := slices.DeleteFunc(es.Listings, func(l verify.Listing) bool { return l.Epoch < seen })
	if !verify.Explained(listings, own) {
		// A state this device has not seen yet (another own device published
		// a list, or several since the last check): ask for every own state,
		// and for the own device lists the server holds.
		states, err := c.fetchOwnStates(ctx)
		if err != nil {
			return nil, err
		}
		scan.states = states
		own = verify.OwnLeaves(res.Index, append(states, current), published)
		if !verify.Explained(listings, own) {
			if err := c.refreshSelf(ctx); err != nil && transient(err) {
				return nil, err
			}
			if published, err = c.ownPublished(ctx); err != nil {
				return nil, err
			}
			own = verify.OwnLeaves(res.Index, append(states, current), published)
		}
	}
	alerts, last := verify.OwnListingAlerts(listings, own, anc.Updates)
	// The reading may reach past the lookup's epoch n: the lookup's state
	// is held to the last listing up to n.
	upToN := slices.DeleteFunc(slices.Clone(listings), func(l verify.Listing) bool { return l.Epoch > n })
	_, lastAtN := verify.OwnListingAlerts(upToN, own, anc.Updates)
	prev := anc.Updates
	for _, l := range listings {
		u, ok := own[l.Leaf]
		al := AuditListing{Epoch: l.Epoch, Updates: u, Own: ok}
		switch {
		case !ok:
			al.Alert = "none of your devices published it"
		case u <= prev:
			al.Alert = "an older version listed again"
		default:
			prev = u
		}
		scan.listings = append(scan.listings, al)
	}
	if res.Updates < lastAtN {
		alerts = append(alerts, fmt.Sprintf("the key log shows an older version of your account at epoch %d (change %d, after change %d was listed): people who look you up now may get devices you removed", n, res.Updates, lastAtN))
	}
	scan.alerts = alerts
	if len(alerts) > 0 {
		scan.evidence = evidence(alerts, nil)
	}
	scan.anchor = &anchorRecord{Epoch: es.Anchor.Epoch, Head: es.Latest.Head[:], Updates: last, Index: res.Index[:], Entry: es.Anchor.Entry, Range: es.Anchor.Range}
	return scan, nil
}

// fetchEntries reads the pages of entries from epoch from to the latest
// (GET /v1/keylog/entries; frontier: with the compact range of [0, from)).
// A page that does not advance is an error.
func (c *Client) fetchEntries(ctx context.Context, from uint64, frontier bool) ([]*verify.EntriesPage, error) {
	var out []*verify.EntriesPage
	for pages := 0; ; pages++ {
		if pages == maxEntryPages {
			return nil, fmt.Errorf("more than %d pages of the key log's entries", maxEntryPages)
		}
		p, err := c.api.KeyLogEntries(ctx, from, frontier && pages == 0)
		if err != nil {
			return nil, fmt.Errorf("the key log's entries from epoch %d: %w", from, err)
		}
		out = append(out, p)
		if p.Through == 0 {
			return out, nil
		}
		if p.Through <= from {
			return nil, fmt.Errorf("a page of the key log's entries from epoch %d says it ends before epoch %d", from, p.Through)
		}
		from = p.Through
	}
}

// fetchOwnStates asks for every leaf state the log recorded for this account.
func (c *Client) fetchOwnStates(ctx context.Context) ([]verify.State, error) {
	states, err := c.api.KeyLogOwn(ctx)
	if err != nil {
		return nil, fmt.Errorf("your account's states in the key log: %w", err)
	}
	out := make([]verify.State, 0, len(states))
	for _, s := range states {
		out = append(out, verify.State{Updates: s.Updates, Version: s.Version, Nonce: s.Nonce})
	}
	return out, nil
}

// scanAfterGossip brings the self-check forward when a peer's message
// carries a checkpoint newer than the last epoch this device read (at most
// once per GossipScanInterval): the periodic check would read those epochs
// within MonitorInterval anyway, this reads them now.
func (c *Client) scanAfterGossip(ctx context.Context, cp verify.Checkpoint) error {
	anc, err := loadAnchor(ctx, c.v)
	if err != nil || anc == nil || cp.Size == 0 || cp.Size-1 <= anc.Epoch {
		return err
	}
	if raw, err := c.v.Get(ctx, logGossipScanRecord); err == nil {
		var at time.Time
		if json.Unmarshal(raw, &at) == nil && c.opts.Now().Sub(at) < GossipScanInterval {
			return nil
		}
	}
	at, _ := json.Marshal(c.opts.Now().UTC())
	if err := c.v.Put(ctx, logGossipScanRecord, at); err != nil {
		return err
	}
	a, err := c.selfCheck(ctx, false)
	if err != nil {
		if transient(err) {
			return fmt.Errorf("%w: your own entry: %v", errGossipUnchecked, err)
		}
		return err
	}
	if len(a.Alerts) > 0 {
		return fmt.Errorf("ALARM: checking the key log up to epoch %d, which a contact was shown: %s", cp.Size-1, a.Alerts[0])
	}
	return nil
}

// quickCheck is the periodic self-check without the own lookup
// (docs/protocol.md section 16, "Self-monitoring"): it reads every entry
// since the anchor (GET /v1/keylog/entries) and verify.ScanEntries checks
// them, their change lists and their heads, and that their compact range
// makes the latest signed checkpoint (under the pinned keys and witness
// policy) and the one stored: that range root is the inclusion and
// consistency check, no proof is fetched. No change of this account's
// index may appear. done is false when the full check (selfCheck's lookup)
// must run instead: at the first check (no anchor with the own index and
// entry), when FullCheckInterval has passed since the last full one, when a
// listing of the own index appears, and when anything does not verify or
// arrive (the full check then raises the alert with its evidence, or fails
// the same way). A rollback or fork is kept as evidence here, as a
// lookup's would be.
func (c *Client) quickCheck(ctx context.Context) (a *Audit, done bool, err error) {
	anc, err := loadAnchor(ctx, c.v)
	if err != nil || anc == nil || len(anc.Index) != prefix.HashSize {
		return nil, false, nil
	}
	start, ok := anc.entryAnchor()
	if !ok {
		return nil, false, nil
	}
	raw, err := c.v.Get(ctx, logFullCheckRecord)
	if err != nil {
		return nil, false, nil
	}
	var full time.Time
	if json.Unmarshal(raw, &full) != nil || c.opts.Now().Sub(full) >= FullCheckInterval {
		return nil, false, nil
	}
	prev, err := c.lastCheckpoint(ctx, c.v)
	if err != nil {
		return nil, true, err
	}
	pages, err := c.fetchEntries(ctx, anc.Epoch+1, false)
	if err != nil {
		return nil, false, nil
	}
	es, err := verify.ScanEntries(c.prof.Log.trust(), start, pages, prev, prefix.Hash(anc.Index))
	var ev *verify.Evidence
	if errors.As(err, &ev) {
		c.keepEvidence(ctx, ev.Ours, ev.Theirs, err)
		return nil, true, fmt.Errorf("%w: %v", ErrLogSplit, err)
	}
	if err != nil || len(es.Listings) > 0 {
		return nil, false, nil
	}
	cp, latest := es.Checkpoint, es.Latest
	a = &Audit{Checkpoint: string(cp.Note), Updates: anc.Updates, Version: anc.Updates, Versions: []AuditVersion{}, Listings: []AuditListing{}, Alerts: []string{}}
	next, _ := json.Marshal(anchorRecord{Epoch: latest.Epoch, Head: latest.Head[:], Updates: anc.Updates, Index: anc.Index, Entry: es.Anchor.Entry, Range: es.Anchor.Range})
	at, _ := json.Marshal(c.opts.Now().UTC())
	if err := c.v.Update(ctx, func(tx *vault.Tx) error {
		if prev == nil || cp.Size > prev.Size {
			if err := tx.Put(ctx, logCheckpointRecord, cp.Note); err != nil {
				return err
			}
		}
		if err := tx.Put(ctx, logAnchorRecord, next); err != nil {
			return err
		}
		return tx.Put(ctx, logMonitorRecord, at)
	}); err != nil {
		return nil, true, err
	}
	if a.Listings, err = c.ownListings(ctx, c.v); err != nil {
		return nil, true, err
	}
	return a, true, nil
}
