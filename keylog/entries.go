package keylog

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"backchannel/keylog/prefix"
	"backchannel/keylog/verify"
)

// Entries is GET /v1/keylog/entries?from=F[&frontier=1] (docs/protocol.md
// §16, "Reading every entry"): the latest signed checkpoint (size S) and
// every epoch F … S−1, an epoch with k = 0 as its time only (the owner
// rebuilds it from the previous entry), one with k > 0 as its entry and
// change list. A page holds at most verify.MaxEntriesPage epochs; Through
// is then the next F. With frontier set, the page carries the RFC 6962
// compact range of the leaves [0, F), read from the log's tiles. F may be
// S (an empty page); a larger F is ErrRange.
func (l *Log) Entries(ctx context.Context, from uint64, frontier bool) (*verify.EntriesPage, error) {
	p := l.pub.Load()
	if p == nil {
		return nil, ErrNotReady
	}
	if from > p.size {
		return nil, fmt.Errorf("%w: entries from epoch %d (the log has %d)", ErrRange, from, p.size)
	}
	out := &verify.EntriesPage{Checkpoint: string(p.checkpoint), From: from, Entries: []verify.PageEntry{}}
	end := p.size
	if end-from > verify.MaxEntriesPage {
		end = from + verify.MaxEntriesPage
		out.Through = end
	}
	if frontier {
		f, err := l.frontier(ctx, p, from)
		if err != nil {
			return nil, err
		}
		out.Frontier = f
	}
	size, err := l.backend.Size(ctx)
	if err != nil {
		return nil, wrap(err, "log size")
	}
	// An empty epoch is sent as its time after the previous entry's, so the
	// walk starts one entry early (read, not sent) when there is one.
	idx := from
	var prevTime time.Time
	if from > 0 {
		idx = from - 1
	}
	for idx < end {
		bundle := idx / layout.EntryBundleWidth
		raw, err := l.backend.ReadEntryBundle(ctx, bundle, layout.PartialTileSize(0, bundle, size))
		if err != nil {
			return nil, wrap(err, "read the entry bundle of epoch %d", idx)
		}
		var b api.EntryBundle
		if err := b.UnmarshalText(raw); err != nil {
			return nil, fmt.Errorf("%w: the entry bundle of epoch %d: %v", ErrCorrupt, idx, err)
		}
		for i := idx % layout.EntryBundleWidth; idx < end; i, idx = i+1, idx+1 {
			if i >= uint64(len(b.Entries)) {
				if i == layout.EntryBundleWidth {
					break
				}
				return nil, fmt.Errorf("%w: the entry bundle of epoch %d holds %d entries", ErrCorrupt, idx, len(b.Entries))
			}
			pe, e, err := l.pageEntry(ctx, idx, b.Entries[i], prevTime)
			if err != nil {
				return nil, err
			}
			prevTime = e.Time
			if idx >= from {
				out.Entries = append(out.Entries, pe)
			}
		}
	}
	return out, nil
}

// pageEntry is the page form of entry idx (raw), whose predecessor has
// time prev (zero for epoch 0), and the entry.
func (l *Log) pageEntry(ctx context.Context, idx uint64, raw []byte, prev time.Time) (verify.PageEntry, prefix.Entry, error) {
	e, err := prefix.ParseEntry(raw)
	if err != nil {
		return verify.PageEntry{}, e, fmt.Errorf("%w: entry %d: %v", ErrCorrupt, idx, err)
	}
	if e.Epoch != idx {
		return verify.PageEntry{}, e, fmt.Errorf("%w: entry %d names epoch %d", ErrCorrupt, idx, e.Epoch)
	}
	if e.Changes == 0 {
		if idx == 0 || e.Time.Before(prev) {
			// Epoch 0 has no predecessor, and a clock that went back cannot be
			// sent as a gap: the full entry then.
			return verify.PageEntry{E: bytes.Clone(raw)}, e, nil
		}
		return verify.PageEntry{D: int64(e.Time.Sub(prev) / time.Second)}, e, nil
	}
	recs, err := l.st.KeyLogChanges(ctx, idx, idx, 1)
	if err != nil {
		return verify.PageEntry{}, e, wrap(err, "change list of epoch %d", idx)
	}
	if len(recs) != 1 || recs[0].Epoch != idx {
		return verify.PageEntry{}, e, fmt.Errorf("%w: the store has no change list of epoch %d", ErrCorrupt, idx)
	}
	cs, err := prefix.ParseChanges(recs[0].Changes)
	if err != nil || len(cs) != int(e.Changes) || prefix.ChangesRoot(cs) != e.ChangesRoot {
		return verify.PageEntry{}, e, fmt.Errorf("%w: the stored change list of epoch %d does not match its entry", ErrCorrupt, idx)
	}
	pe := verify.PageEntry{E: bytes.Clone(raw), C: make([][]byte, len(cs))}
	for j, c := range cs {
		pe.C[j] = c.Bytes()
	}
	return pe, e, nil
}

// frontier returns the compact range of the leaves [0, from) of p's tree:
// the hashes of the perfect subtrees of from's binary decomposition,
// largest first, read from the tiles (and checked against p's root).
func (l *Log) frontier(ctx context.Context, p *published, from uint64) ([][]byte, error) {
	n, err := note.Open(p.checkpoint, note.VerifierList(l.verifier))
	if err != nil {
		return nil, fmt.Errorf("%w: the published checkpoint: %v", ErrCorrupt, err)
	}
	lines := strings.SplitN(n.Text, "\n", 4)
	if len(lines) < 3 {
		return nil, fmt.Errorf("%w: the published checkpoint's body", ErrCorrupt)
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		return nil, fmt.Errorf("%w: the published checkpoint's root", ErrCorrupt)
	}
	ids := compact.RangeNodes(0, from, nil)
	if len(ids) == 0 {
		return [][]byte{}, nil
	}
	idx := make([]int64, len(ids))
	for i, id := range ids {
		idx[i] = tlog.StoredHashIndex(int(id.Level), int64(id.Index))
	}
	hr := tlog.TileHashReader(tlog.Tree{N: int64(p.size), Hash: tlog.Hash(root)}, tileReader{ctx: ctx, b: l.backend})
	hs, err := hr.ReadHashes(idx)
	if err != nil {
		return nil, wrap(err, "compact range of [0, %d) in the log of size %d", from, p.size)
	}
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = bytes.Clone(hs[i][:])
	}
	return out, nil
}

// tileReader reads the log's hash tiles for tlog.TileHashReader (Tessera
// writes C2SP tlog-tiles: height 8).
type tileReader struct {
	ctx context.Context
	b   Backend
}

func (tileReader) Height() int { return 8 }

func (r tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		if t.L < 0 {
			return nil, fmt.Errorf("no data tiles are read for a frontier")
		}
		w := uint8(0)
		if t.W < 1<<8 {
			w = uint8(t.W)
		}
		data, err := r.b.ReadTile(r.ctx, uint64(t.L), uint64(t.N), w)
		if err != nil && w != 0 {
			// The tile may have been completed since: its prefix is the same.
			data, err = r.b.ReadTile(r.ctx, uint64(t.L), uint64(t.N), 0)
		}
		if err != nil {
			return nil, wrap(err, "read tile %d/%d", t.L, t.N)
		}
		if want := t.W * tlog.HashSize; len(data) > want {
			data = data[:want]
		}
		out[i] = data
	}
	return out, nil
}

func (tileReader) SaveTiles([]tlog.Tile, [][]byte) {}
