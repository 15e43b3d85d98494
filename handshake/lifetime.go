package handshake

import (
	"fmt"
	"time"
)

// Prekey lifetimes, as in docs/protocol.md section "Prekey lifetimes".
//
// A device makes a new generation (signed prekey and last-resort KEM
// prekey) every RotateEvery and keeps the superseded one for Grace, so an
// initiation made from a bundle fetched just before a rotation still
// completes. One-time private keys are deleted RotateEvery + Grace after
// their creation; the server's one-time pool is replaced at each rotation,
// so it never hands out a key that old.
const (
	// RotateEvery is the age at which Rotate replaces the current
	// generation.
	RotateEvery = 7 * 24 * time.Hour
	// Grace is how long a superseded generation is kept.
	Grace = 7 * 24 * time.Hour
	// MaxPrekeyAge is the oldest signed or KEM prekey an initiator uses
	// (CheckFresh): rotation (7 days) + grace (7 days) + 16 days for a
	// device that was offline and has not rotated yet. A thief of a device
	// can decrypt first flights sent to it without a one-time key for at
	// most this long after its last rotation.
	MaxPrekeyAge = 30 * 24 * time.Hour
	// MaxClockSkew is how far in the future a prekey may be dated
	// (the initiator's and the responder's clocks differ).
	MaxClockSkew = 24 * time.Hour
	// MaxReplayPerGeneration: a generation that remembers more initiations
	// without one-time keys than this is rotated (the current one) or
	// deleted (a superseded one) by Rotate. Replays are never forgotten
	// while a generation exists; this bounds the memory instead.
	MaxReplayPerGeneration = 1024
	// maxReplayStored is the hard bound per generation: beyond it Respond
	// refuses initiations without one-time keys (ErrReplayCacheFull) until
	// Rotate has run. Only a flood between two Rotate calls reaches it.
	maxReplayStored = 16 * MaxReplayPerGeneration
	// MaxOneTime caps each kind of one-time private key held locally:
	// GenerateOneTime never takes the pool above it.
	MaxOneTime = 200
	// MaxPrekeys bounds each kind of one-time key in a stored prekey set
	// (older versions let the pool grow this far; such a store still loads).
	MaxPrekeys = 10000
)

const (
	rotateSecs = int64(RotateEvery / time.Second)
	graceSecs  = int64(Grace / time.Second)
)

// CheckFresh refuses a bundle whose signed prekey or KEM prekey was created
// more than MaxPrekeyAge before now, or is dated more than MaxClockSkew
// after now (ErrStalePrekey). The creation times are covered by the prekey
// signatures, so a server cannot re-date an old prekey; call it with the
// verified bundle before Initiate.
func CheckFresh(b *Bundle, now time.Time) error {
	if err := checkCreated("signed prekey", b.Signed.ID, b.Signed.Created, now); err != nil {
		return err
	}
	return checkCreated("KEM prekey", b.KEM.ID, b.KEM.Created, now)
}

func checkCreated(what string, id uint32, created int64, now time.Time) error {
	t := now.Unix()
	switch {
	case created < t-int64(MaxPrekeyAge/time.Second):
		return fmt.Errorf("%s %d created %s, more than %v before %s: %w", what, id,
			time.Unix(created, 0).UTC().Format(time.RFC3339), MaxPrekeyAge, now.UTC().Format(time.RFC3339), ErrStalePrekey)
	case created > t+int64(MaxClockSkew/time.Second):
		return fmt.Errorf("%s %d dated %s, more than %v after %s: %w", what, id,
			time.Unix(created, 0).UTC().Format(time.RFC3339), MaxClockSkew, now.UTC().Format(time.RFC3339), ErrStalePrekey)
	}
	return nil
}
