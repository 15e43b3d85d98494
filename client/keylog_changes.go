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
	"backchannel/keylog/selfcheck"
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
	logAnchorRecord    = "keylog/anchor"     // selfcheck.Anchor: where the reading of the change lists stands
	logOwnStatesRecord = "keylog/own-states" // the own leaf states last fetched (GET /v1/keylog/own)
	logListingsLog     = "keylog/listings"   // AuditListing per listing of the own index, oldest first
	logListingEvidence = "keylog/listing-evidence"
	// GossipScanInterval bounds the self-checks that a peer's newer
	// checkpoint brings forward (at most one per interval, besides the
	// periodic one).
	GossipScanInterval  = selfcheck.GossipScanInterval
	logGossipScanRecord = "keylog/gossip-scan" // time of the last check brought forward
	// FullCheckInterval is the longest time between two full self-checks
	// (the own lookup, with the leaf compared to what this account's devices
	// published); the periodic checks in between read the change lists
	// against the latest checkpoint only (quickCheck).
	FullCheckInterval  = selfcheck.FullCheckInterval
	logFullCheckRecord = "keylog/full-check" // time of the last full self-check
)

// AuditListing is one change of this account's index in the key log.
type AuditListing = selfcheck.Listing

// listingEvidence is what a self-check keeps when the change lists show
// something the account's devices did not do: the verified lookup (its
// signed checkpoint, entry and inclusion proof), the anchor and every change
// list read after it, so anyone can recompute the head.
type listingEvidence struct {
	At      time.Time        `json:"at"`
	Alerts  []string         `json:"alerts"`
	Anchor  selfcheck.Anchor `json:"anchor"`
	Lookup  json.RawMessage  `json:"lookup"`
	Records []verify.Record  `json:"records"`
	// Pages are the pages of entries read after the anchor.
	Pages []*verify.EntriesPage `json:"pages,omitempty"`
	Error string                `json:"error,omitempty"`
}

// ownScan is a check's reading of the change lists, saved with its alerts.
type ownScan struct {
	alerts   []string
	anchor   *selfcheck.Anchor // the new anchor; nil: keep the old one
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

func loadAnchor(ctx context.Context, r reader) (*selfcheck.Anchor, error) {
	raw, err := r.Get(ctx, logAnchorRecord)
	if errors.Is(err, vault.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return selfcheck.DecodeAnchor(raw)
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
	stored, err := loadAnchor(ctx, c.v)
	if err != nil {
		return nil, err
	}
	rd := selfcheck.Start(stored, res, own)
	scan := &ownScan{}
	pages, ferr := c.fetchEntries(ctx, rd.From, rd.Frontier)
	if ferr != nil && (transient(ferr) || ctx.Err() != nil) {
		return nil, ferr
	}
	var es *verify.EntryScan
	if ferr == nil {
		var start verify.EntryAnchor
		if start, ferr = rd.EntryAnchor(res, pages); ferr == nil {
			es, ferr = verify.ScanEntries(c.prof.Log.trust(), start, pages, &res.Checkpoint, res.Index)
		}
	}
	var ev *verify.Evidence
	if errors.As(ferr, &ev) {
		c.keepEvidence(ctx, ev.Ours, ev.Theirs, ferr)
	}
	evidence := func(alerts []string, cause error) *listingEvidence {
		e := &listingEvidence{At: c.opts.Now().UTC(), Alerts: alerts, Anchor: *rd.Anchor, Lookup: json.RawMessage(raw), Pages: pages}
		if cause != nil {
			e.Error = cause.Error()
		}
		return e
	}
	if ferr != nil {
		// Withheld, refused or altered: the anchor stays, so the next check
		// reads the same epochs again.
		scan.alerts = []string{rd.WithheldAlert()}
		scan.evidence = evidence(scan.alerts, ferr)
		return scan, nil
	}
	listings := rd.New(es.Listings)
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
	j := rd.Judge(es, listings, own, res)
	scan.alerts, scan.listings, scan.anchor = j.Alerts, j.Listings, j.Anchor
	if len(j.Alerts) > 0 {
		scan.evidence = evidence(j.Alerts, nil)
	}
	return scan, nil
}

// fetchEntries reads the pages of entries from epoch from to the latest
// (GET /v1/keylog/entries; frontier: with the compact range of [0, from)).
// A page that does not advance is an error.
func (c *Client) fetchEntries(ctx context.Context, from uint64, frontier bool) ([]*verify.EntriesPage, error) {
	var out []*verify.EntriesPage
	for pages := 0; ; pages++ {
		if pages == selfcheck.MaxEntryPages {
			return nil, selfcheck.ErrTooManyPages
		}
		p, err := c.api.KeyLogEntries(ctx, from, frontier && pages == 0)
		if err != nil {
			return nil, fmt.Errorf("the key log's entries from epoch %d: %w", from, err)
		}
		out = append(out, p)
		next, done, err := selfcheck.NextPage(from, p.Through)
		if err != nil {
			return nil, err
		}
		if done {
			return out, nil
		}
		from = next
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
	if err != nil {
		return err
	}
	var last time.Time
	if raw, err := c.v.Get(ctx, logGossipScanRecord); err == nil {
		_ = json.Unmarshal(raw, &last) // undecodable: as if none
	}
	if !anc.GossipDue(cp.Size, last, c.opts.Now()) {
		return nil
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
	if err != nil {
		return nil, false, nil
	}
	var full time.Time
	if raw, err := c.v.Get(ctx, logFullCheckRecord); err == nil {
		_ = json.Unmarshal(raw, &full) // undecodable: as if none, the full check runs
	}
	start, ok := anc.Quick(full, c.opts.Now())
	if !ok {
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
	cp := es.Checkpoint
	a = &Audit{Checkpoint: string(cp.Note), Updates: anc.Updates, Version: anc.Updates, Versions: []AuditVersion{}, Listings: []AuditListing{}, Alerts: []string{}}
	next, _ := json.Marshal(anc.After(es))
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
