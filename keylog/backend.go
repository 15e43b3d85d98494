package keylog

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/storage/posix"
	"golang.org/x/mod/sumdb/note"
)

// Backend is the append-only Merkle log under the key log: Tessera's POSIX
// driver by default (NewPOSIX). A scale-out deployment swaps in another
// driver (Tessera's MySQL or object-store drivers) behind the same
// interface and runs the sequencer on one node (docs/architecture.md, "Key
// log at scale").
type Backend interface {
	// Append adds entry at the next log index and returns once a published
	// checkpoint commits to it: the index and that checkpoint (signed note).
	// An error after the entry got its index wraps ErrSequenced and still
	// returns the index: the entry is in the log, only its checkpoint is
	// not known yet.
	Append(ctx context.Context, entry []byte) (index uint64, checkpoint []byte, err error)
	// Size returns the number of entries integrated into the log.
	Size(ctx context.Context) (uint64, error)
	// ReadCheckpoint returns the latest published checkpoint.
	ReadCheckpoint(ctx context.Context) ([]byte, error)
	// ReadTile returns a tile per C2SP tlog-tiles (p: partial width, 0 full).
	ReadTile(ctx context.Context, level, index uint64, p uint8) ([]byte, error)
	// ReadEntryBundle returns an entry bundle per C2SP tlog-tiles.
	ReadEntryBundle(ctx context.Context, index uint64, p uint8) ([]byte, error)
	// Close waits for appended entries to be published and stops.
	Close(ctx context.Context) error
}

// Witness is a C2SP tlog-witness the log asks to cosign its checkpoints.
type Witness struct {
	URL  string // the witness's base URL (add-checkpoint is under it)
	VKey string // its note verifier key
}

// POSIXOptions tune NewPOSIX.
type POSIXOptions struct {
	// CheckpointInterval is how often Tessera may publish a checkpoint
	// (default and minimum 100 ms: an appended entry is published within
	// about twice that).
	CheckpointInterval time.Duration
	Witnesses          []Witness
	WitnessQuorum      int // witnesses that must cosign (default all)
}

// posixBackend is Tessera on a POSIX directory.
type posixBackend struct {
	appender *tessera.Appender
	reader   tessera.LogReader
	shutdown func(context.Context) error
	cancel   context.CancelFunc
	verifier note.Verifier
	origin   string
}

// NewPOSIX opens (creating if needed) a Tessera POSIX log in dir whose
// checkpoints the signer signs.
func NewPOSIX(dir string, signer note.Signer, verifier note.Verifier, opts POSIXOptions) (Backend, error) {
	if opts.CheckpointInterval < 100*time.Millisecond {
		opts.CheckpointInterval = 100 * time.Millisecond
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, wrap(err, "tiles directory")
	}
	ctx, cancel := context.WithCancel(context.Background())
	drv, err := posix.New(ctx, posix.Config{Path: dir})
	if err != nil {
		cancel()
		return nil, wrap(err, "open POSIX log in %s", dir)
	}
	ao := tessera.NewAppendOptions().
		WithCheckpointSigner(signer).
		// One entry per epoch, appended one at a time: flush at once.
		WithBatching(1, 5*time.Millisecond).
		WithCheckpointInterval(opts.CheckpointInterval).
		WithCheckpointRepublishInterval(0)
	if len(opts.Witnesses) > 0 {
		group, err := witnessGroup(opts.Witnesses, opts.WitnessQuorum)
		if err != nil {
			cancel()
			return nil, err
		}
		ao = ao.WithWitnesses(group, nil)
	}
	app, shutdown, reader, err := tessera.NewAppender(ctx, drv, ao)
	if err != nil {
		cancel()
		return nil, wrap(err, "open appender in %s", dir)
	}
	return &posixBackend{appender: app, reader: reader, shutdown: shutdown, cancel: cancel, verifier: verifier, origin: signer.Name()}, nil
}

// witnessGroup builds a quorum-of-len(ws) policy in Tessera's policy text
// format (one "witness" line each, one "group", the "quorum").
func witnessGroup(ws []Witness, quorum int) (tessera.WitnessGroup, error) {
	if quorum <= 0 || quorum > len(ws) {
		quorum = len(ws)
	}
	var p strings.Builder
	names := make([]string, len(ws))
	for i, w := range ws {
		names[i] = fmt.Sprintf("w%d", i)
		if strings.ContainsAny(w.URL+w.VKey, " \t\r\n#") {
			return tessera.WitnessGroup{}, fmt.Errorf("witness %q: URL and key must not contain spaces or #", w.URL)
		}
		fmt.Fprintf(&p, "witness %s %s %s\n", names[i], w.VKey, w.URL)
	}
	fmt.Fprintf(&p, "group witnesses %d %s\nquorum witnesses\n", quorum, strings.Join(names, " "))
	g, err := tessera.NewWitnessGroupFromPolicy([]byte(p.String()))
	if err != nil {
		return tessera.WitnessGroup{}, wrap(err, "witness policy")
	}
	return g, nil
}

func (b *posixBackend) Append(ctx context.Context, entry []byte) (uint64, []byte, error) {
	idx, err := b.appender.Add(ctx, tessera.NewEntry(entry))()
	if err != nil {
		return 0, nil, wrap(err, "append")
	}
	// Wait for a checkpoint that commits to it (polling only while waiting).
	// From here on the entry has its index: a failure says so (ErrSequenced).
	for {
		cp, err := b.reader.ReadCheckpoint(ctx)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return idx.Index, nil, fmt.Errorf("%w: %w", ErrSequenced, wrap(err, "read checkpoint"))
		}
		if err == nil {
			c, _, _, perr := log.ParseCheckpoint(cp, b.origin, b.verifier)
			if perr != nil {
				return idx.Index, nil, fmt.Errorf("%w: %w", ErrSequenced, wrap(perr, "published checkpoint"))
			}
			if c.Size > idx.Index {
				return idx.Index, cp, nil
			}
		}
		select {
		case <-ctx.Done():
			return idx.Index, nil, fmt.Errorf("%w: %w", ErrSequenced, wrap(ctx.Err(), "await checkpoint for index %d", idx.Index))
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (b *posixBackend) Size(ctx context.Context) (uint64, error) {
	n, err := b.reader.IntegratedSize(ctx)
	return n, wrap(err, "log size")
}

func (b *posixBackend) ReadCheckpoint(ctx context.Context) ([]byte, error) {
	return b.reader.ReadCheckpoint(ctx)
}

func (b *posixBackend) ReadTile(ctx context.Context, level, index uint64, p uint8) ([]byte, error) {
	return b.reader.ReadTile(ctx, level, index, p)
}

func (b *posixBackend) ReadEntryBundle(ctx context.Context, index uint64, p uint8) ([]byte, error) {
	return b.reader.ReadEntryBundle(ctx, index, p)
}

func (b *posixBackend) Close(ctx context.Context) error {
	err := b.shutdown(ctx)
	b.cancel()
	if err != nil {
		return fmt.Errorf("shut down the log: %w", err)
	}
	return nil
}
