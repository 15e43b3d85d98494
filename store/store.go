// Package store defines the storage contract of the backchannel relay server.
//
// The server is a relay: everything it keeps about keys and messages is opaque
// bytes produced and verified by clients. A Store persists accounts, devices,
// every version of each account's device list, prekeys, per-device mailboxes
// with each device's rollback counter, document blobs, invite tokens and
// authentication nonces. Implementations (store/sqlite, later store/postgres)
// must pass the conformance suite in store/storetest.
//
// Contract common to every method:
//   - Methods that block take a context.Context first and honour cancellation
//     where the backend allows it.
//   - A write that returns a nil error is durable (it survives a crash of the
//     process or the machine).
//   - Failures are reported with the sentinel errors below, wrapped with
//     context; callers test them with errors.Is.
//   - Byte slices passed in are not retained; byte slices returned belong to
//     the caller.
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Sentinel errors. Implementations wrap them; test with errors.Is.
var (
	// ErrNotFound: the account, device, prekey bundle, blob or message does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists: an account, device or blob with that identifier already exists.
	ErrExists = errors.New("already exists")
	// ErrInvalidInvite: the invite token is unknown, already used or expired.
	ErrInvalidInvite = errors.New("invalid invite")
	// ErrInviteName: the invite is bound to another account name. Errors
	// that match it also match ErrInvalidInvite; the invite is not consumed.
	ErrInviteName = errors.New("invite is for another name")
	// ErrReplay: the nonce was already used within its validity window.
	ErrReplay = errors.New("nonce already used")
	// ErrQuota: the account's blob quota or a blob's maximum size would be exceeded.
	ErrQuota = errors.New("quota exceeded")
	// ErrConflict: the operation does not fit the object's state (for example a
	// chunk upload to a finalized blob, or a finalize with missing chunks).
	ErrConflict = errors.New("conflicting state")
	// ErrMailboxFull: a recipient already holds the maximum number of
	// unacknowledged messages.
	ErrMailboxFull = errors.New("mailbox full")
	// ErrClosed: the store has been closed.
	ErrClosed = errors.New("closed")
	// ErrRollback: a send's counter is below the device's highest accepted
	// counter, or equal to it with another batch. Matched by *RollbackError.
	ErrRollback = errors.New("send counter rolled back")
	// ErrPrekeyLimit: an upload would leave more one-time prekeys of a kind
	// than allowed. Matched by *PrekeyLimitError.
	ErrPrekeyLimit = errors.New("too many one-time prekeys")
)

// RollbackError reports a refused send counter with the counter the store
// holds for the device. errors.Is(err, ErrRollback) matches it.
type RollbackError struct {
	Counter uint64 // the highest counter accepted from the device
}

func (e *RollbackError) Error() string {
	return fmt.Sprintf("store: send counter rolled back: the device's last accepted counter is %d", e.Counter)
}

// Is makes errors.Is(err, ErrRollback) true.
func (e *RollbackError) Is(target error) bool { return target == ErrRollback }

// PrekeyLimitError reports an upload refused by PrekeyUpload.MaxOneTime,
// with the counts stored before it. errors.Is(err, ErrPrekeyLimit) matches it.
type PrekeyLimitError struct {
	Stored PrekeyCounts // one-time prekeys stored (unchanged by the refused upload)
	Max    int          // the cap per kind
}

func (e *PrekeyLimitError) Error() string {
	return fmt.Sprintf("store: too many one-time prekeys: %d X25519 and %d ML-KEM stored, at most %d of each",
		e.Stored.OneTime, e.Stored.OneTimeKEM, e.Max)
}

// Is makes errors.Is(err, ErrPrekeyLimit) true.
func (e *PrekeyLimitError) Is(target error) bool { return target == ErrPrekeyLimit }

// MailboxQuotaError reports a send refused by MailboxLimits.MaxSenderBytes:
// the sender account already has Used unacknowledged bytes in the
// mailboxes of the account Recipient (its own when it sends to itself).
// errors.Is(err, ErrQuota) matches it.
type MailboxQuotaError struct {
	Recipient string
	Used, Max int64
}

func (e *MailboxQuotaError) Error() string {
	return fmt.Sprintf("store: %d unacknowledged bytes already waiting for %s, at most %d from one sender", e.Used, e.Recipient, e.Max)
}

// Is makes errors.Is(err, ErrQuota) true.
func (e *MailboxQuotaError) Is(target error) bool { return target == ErrQuota }

// MailboxLimits bound what a send may leave in its recipients' mailboxes.
// Zero fields are unlimited.
type MailboxLimits struct {
	MaxPending int   // unacknowledged messages per recipient device (ErrMailboxFull beyond)
	MaxBytes   int64 // unacknowledged bytes per recipient device (ErrMailboxFull beyond)
	// MaxSenderBytes bounds the unacknowledged bytes one sender account
	// holds in the mailboxes of one recipient account, all its devices
	// together, its own included (*MailboxQuotaError beyond).
	MaxSenderBytes int64
}

// MailboxQuotas is implemented by stores that bound mailboxes in bytes as
// well as in messages (store/sqlite does).
type MailboxQuotas interface {
	// EnqueueLimited is Mailboxes.EnqueueCounted under lim.
	EnqueueLimited(ctx context.Context, from Address, counter uint64, digest []byte, envs []Envelope, now time.Time, lim MailboxLimits) ([]Message, error)
}

// Scrubber is implemented by stores that can remove deleted rows from
// their files on demand (store/sqlite does; it also does so by itself
// shortly after every deletion).
type Scrubber interface {
	Scrub(ctx context.Context) error
}

// Account is a registered user.
type Account struct {
	Name        string    // unique, [a-z0-9_-]{1,32}; validated by the server
	IdentityKey []byte    // Ed25519 identity public key (opaque to the store)
	CreatedAt   time.Time // set by the caller
}

// Device is one device of an account.
type Device struct {
	User        string
	ID          uint32
	SigningKey  []byte // Ed25519 public key that authenticates the device's requests
	Certificate []byte // opaque device certificate, verified by clients; empty until the device uploads it
	CreatedAt   time.Time
}

// Address names one device mailbox.
type Address struct {
	User   string
	Device uint32
}

// Prekey is an opaque prekey blob with its client-chosen id.
type Prekey struct {
	ID   uint32
	Data []byte
}

// PrekeyUpload replaces or replenishes the prekeys of one device. Nil or empty
// fields leave the stored value unchanged; one-time prekeys are appended (a
// one-time prekey whose id is already stored replaces the stored one).
type PrekeyUpload struct {
	SignedPrekey      *Prekey
	OneTimePrekeys    []Prekey
	LastResortKEM     *Prekey
	OneTimeKEMPrekeys []Prekey
	// ReplaceOneTime deletes the device's stored one-time prekeys of both
	// kinds before the upload's are added, in the same transaction.
	ReplaceOneTime bool
	// MaxOneTime, if > 0, caps the one-time prekeys of each kind the device
	// may hold after the upload; beyond it nothing is applied and the
	// upload fails with a *PrekeyLimitError.
	MaxOneTime int
}

// PrekeyCounts reports how many one-time prekeys of a device remain.
type PrekeyCounts struct {
	OneTime    int
	OneTimeKEM int
}

// Bundle is what a peer needs to start a session with one device. One-time
// prekeys in a bundle have been removed from the store: each is handed out
// exactly once. When no one-time KEM prekey remains the last-resort KEM prekey
// is returned and KEMLastResort is true.
type Bundle struct {
	Device        Device
	IdentityKey   []byte
	SignedPrekey  *Prekey
	OneTimePrekey *Prekey
	KEMPrekey     *Prekey
	KEMLastResort bool
	Remaining     PrekeyCounts
}

// Envelope is one opaque message addressed to a device mailbox.
type Envelope struct {
	To   Address
	Data []byte
}

// Message is a stored envelope as delivered to its recipient.
type Message struct {
	ID         int64   // server-assigned, strictly increasing per store
	From       Address // authenticated sender device
	To         Address
	Data       []byte
	ReceivedAt time.Time
}

// BlobInfo describes a stored document blob.
type BlobInfo struct {
	ID        string
	Owner     string
	Size      int64 // total bytes; for unfinalized blobs the bytes uploaded so far
	Chunks    int
	Final     bool
	CreatedAt time.Time
}

// BlobLimits bound a chunk upload. Zero means unlimited.
type BlobLimits struct {
	MaxBlobBytes int64 // maximum size of one blob
	QuotaBytes   int64 // maximum total bytes of all blobs of the owner
}

// Accounts stores users and their first device.
type Accounts interface {
	// CreateAccount creates the account, its first device and, if list is
	// non-nil, version 1 of its device list (opaque bytes, checked by the
	// caller) atomically. If inviteHash is non-nil, the matching unused,
	// unexpired invite is consumed in the same transaction (ErrInvalidInvite
	// otherwise; an invite bound to another name fails with ErrInviteName
	// and stays usable). ErrExists if the name is taken.
	CreateAccount(ctx context.Context, a Account, first Device, list []byte, inviteHash []byte, now time.Time) error
	// Account returns the named account or ErrNotFound.
	Account(ctx context.Context, name string) (Account, error)
}

// Devices stores the devices of accounts.
type Devices interface {
	// AddDevice adds a device to an existing account (ErrNotFound if the
	// account does not exist, ErrExists if the id is taken).
	AddDevice(ctx context.Context, d Device) error
	// Device returns one device or ErrNotFound.
	Device(ctx context.Context, user string, id uint32) (Device, error)
	// Devices lists the devices of a user ordered by id; ErrNotFound if the
	// account does not exist.
	Devices(ctx context.Context, user string) ([]Device, error)
	// RemoveDevice deletes a device with its prekeys and mailbox.
	RemoveDevice(ctx context.Context, user string, id uint32) error
}

// DeviceLists stores every version of each account's device list (opaque
// bytes, parsed and verified by the server before it stores them) and keeps
// the devices table in step with the newest one.
type DeviceLists interface {
	// PutDeviceList stores list as version of user's device list and, in
	// the same transaction, deletes the removed devices (with their
	// prekeys, mailboxes and send counters, as RemoveDevice does) and then
	// adds devices. It is a compare-and-swap: ErrConflict if the newest
	// stored version is not version-1 (0 when the account has none), so
	// concurrent writers cannot fork the stored chain. ErrNotFound if the
	// account does not exist; ErrExists if an added device id is taken.
	PutDeviceList(ctx context.Context, user string, version uint64, list []byte, devices []Device, removed []uint32) error
	// DeviceLists returns up to limit stored lists of user with version >
	// after, oldest first, and the newest stored version (0 if none).
	// ErrNotFound if the account does not exist.
	DeviceLists(ctx context.Context, user string, after uint64, limit int) ([][]byte, uint64, error)
	// SetCertificate stores the certificate of a device that has none. It
	// is idempotent for the same bytes; ErrConflict if the device already
	// has another certificate, ErrNotFound if it does not exist.
	SetCertificate(ctx context.Context, user string, id uint32, cert []byte) error
}

// Prekeys stores prekeys and hands out bundles.
type Prekeys interface {
	// PutPrekeys applies an upload to an existing device and returns the
	// resulting counts.
	PutPrekeys(ctx context.Context, dev Address, up PrekeyUpload) (PrekeyCounts, error)
	// PrekeyCounts reports the remaining one-time prekeys of a device.
	PrekeyCounts(ctx context.Context, dev Address) (PrekeyCounts, error)
	// TakeBundle returns a bundle for the device, atomically removing the
	// one-time prekeys it contains: under any concurrency every one-time
	// prekey is returned at most once. ErrNotFound if the device does not
	// exist or has no certificate or no signed prekey yet (then nothing is
	// removed).
	TakeBundle(ctx context.Context, dev Address) (Bundle, error)
}

// Mailboxes stores envelopes until their recipient acknowledges them.
type Mailboxes interface {
	// Enqueue durably stores a batch of envelopes from one sender, all or
	// nothing, and returns their ids in order. ErrNotFound if a recipient
	// device does not exist; if maxPending > 0, ErrMailboxFull if a
	// recipient would then hold more than maxPending unacknowledged
	// messages. Concurrent calls may be committed together (group commit)
	// but each returns only once its batch is durable.
	Enqueue(ctx context.Context, from Address, envs []Envelope, now time.Time, maxPending int) ([]Message, error)
	// EnqueueCounted is Enqueue guarded by the sender's rollback counter,
	// checked and advanced in the same transaction as the enqueue. The
	// store keeps per device the highest counter accepted and the digest of
	// that batch. counter > stored: accepted, both stored. counter ==
	// stored > 0 with the same digest: accepted again (a retransmission).
	// counter == 0 while stored == 0: accepted, nothing stored (a device
	// that does not count yet). Anything else fails with a *RollbackError
	// and stores nothing.
	EnqueueCounted(ctx context.Context, from Address, counter uint64, digest []byte, envs []Envelope, now time.Time, maxPending int) ([]Message, error)
	// SendCounter returns the highest counter accepted from the device (0
	// if none); ErrNotFound if the device does not exist.
	SendCounter(ctx context.Context, dev Address) (uint64, error)
	// Pending returns up to limit unacknowledged messages for the device with
	// id > after, in id order.
	Pending(ctx context.Context, to Address, after int64, limit int) ([]Message, error)
	// Ack deletes the listed messages of the device; unknown ids are ignored.
	// It returns how many were deleted.
	Ack(ctx context.Context, to Address, ids []int64) (int, error)
}

// Blobs stores document blobs uploaded in chunks. Chunks are numbered from 0
// and may have any size; a blob's content is its chunks in order.
type Blobs interface {
	// CreateBlob registers a new, empty, unfinalized blob.
	CreateBlob(ctx context.Context, id, owner string, now time.Time) error
	// PutBlobChunk stores (or replaces) one chunk of an unfinalized blob of
	// the owner at time now (the upload's last activity), enforcing lim.
	// ErrNotFound, ErrConflict (finalized) or ErrQuota; a refused chunk
	// changes nothing.
	PutBlobChunk(ctx context.Context, id, owner string, index int, data []byte, lim BlobLimits, now time.Time) error
	// FinalizeBlob seals a blob that has chunks 0..chunks-1 and no others
	// (ErrConflict otherwise) and returns its info.
	FinalizeBlob(ctx context.Context, id, owner string, chunks int) (BlobInfo, error)
	// Blob returns a blob's info or ErrNotFound.
	Blob(ctx context.Context, id string) (BlobInfo, error)
	// ReadBlob writes length bytes of a finalized blob starting at offset to
	// w, streaming chunk by chunk (memory bounded by the chunk size).
	ReadBlob(ctx context.Context, id string, offset, length int64, w io.Writer) error
	// DeleteBlob deletes a blob of the owner and frees its quota.
	DeleteBlob(ctx context.Context, id, owner string) error
	// BlobUsage reports the bytes stored for the owner (including
	// unfinalized uploads).
	BlobUsage(ctx context.Context, owner string) (int64, error)
	// DropIdleUploads deletes the owner's unfinalized blobs whose last
	// activity (creation or chunk) is before idleSince, freeing their bytes,
	// and returns how many blobs and bytes it freed.
	DropIdleUploads(ctx context.Context, owner string, idleSince time.Time) (blobs int, bytes int64, err error)
}

// Invites stores one-time registration tokens by hash (tokens themselves
// are never stored).
type Invites interface {
	// CreateInvite stores an invite valid until expiresAt. A non-empty name
	// binds it: it then registers only that account name. ErrExists if the
	// hash is already stored.
	CreateInvite(ctx context.Context, tokenHash []byte, name string, expiresAt time.Time) error
}

// Nonces records request nonces to refuse replays.
type Nonces interface {
	// UseNonce records nonce for key until expiresAt, or returns ErrReplay
	// if it is already recorded and unexpired. Implementations may make the
	// record durable asynchronously (a crash may forget the last few
	// milliseconds of nonces); they must remember them across a clean Close.
	UseNonce(ctx context.Context, key string, nonce []byte, now, expiresAt time.Time) error
}

// Store is the full storage interface of the server.
type Store interface {
	Accounts
	Devices
	DeviceLists
	Prekeys
	Mailboxes
	Blobs
	Invites
	Nonces
	// Ping reports whether the store is usable (for health checks).
	Ping(ctx context.Context) error
	// Close flushes pending work and releases resources.
	Close() error
}

// Stats are operational counters a Store may expose (see StatsReporter).
type Stats struct {
	Commits      uint64 // write transactions committed
	CommittedOps uint64 // write operations committed (ops per commit = batching factor)
	FailedOps    uint64 // write operations that returned an error
	QueueDepth   int    // write operations waiting for the writer
}

// StatsReporter is implemented by stores that expose Stats.
type StatsReporter interface {
	Stats() Stats
}

// Backuper is implemented by stores that can write a consistent copy of
// themselves to a file while serving (store/sqlite does).
type Backuper interface {
	Backup(ctx context.Context, dest string) error
}

// KeyLogLeaf is the key log's state for one account (docs/protocol.md §16):
// what its prefix-tree leaf commits to.
type KeyLogLeaf struct {
	Account  string
	Index    []byte // the account's 32-byte VRF index (fixed for a given VRF key)
	Updates  uint64 // how many device lists of the account the log has counted
	Version  uint64 // the device list version the leaf commits to
	Nonce    []byte // 32 random bytes, fresh for every update
	ListHash []byte // devicelist ListHash of that version (32 bytes)
}

// KeyLogStale names an account whose newest device list is newer than its
// key log leaf (or that has a list and no leaf yet): the log missed an
// update and must record it.
type KeyLogStale struct {
	Account string
	Version uint64 // the newest stored device list version
	List    []byte // that list
}

// KeyLog stores the key log's leaf state, one row per account, so a server
// rebuilds its prefix tree after a restart and never loses an accepted
// device list; every state each leaf ever had (the owner's GET /v1/keylog/own);
// and the change list of every epoch that had changes. It is separate from Store (a store may not implement it);
// store/sqlite does.
type KeyLog interface {
	// PutKeyLogLeaf records that the account's leaf now commits to
	// l.Version (with l.Index, l.Nonce, l.ListHash), if l.Version is newer
	// than the stored one. The store sets Updates: l.Version for a first
	// leaf, else the stored Updates plus the versions it advances (each
	// accepted device list counts once). It returns the leaf as stored and
	// whether it changed (an older or equal version changes nothing).
	// l.Updates is ignored.
	PutKeyLogLeaf(ctx context.Context, l KeyLogLeaf) (KeyLogLeaf, bool, error)
	// KeyLogLeaves returns up to limit leaves with Account > after, ordered
	// by account (for paging through all of them).
	KeyLogLeaves(ctx context.Context, after string, limit int) ([]KeyLogLeaf, error)
	// KeyLogStale returns up to limit accounts whose newest stored device
	// list version differs from their leaf's version, or that have lists
	// and no leaf, ordered by account name.
	KeyLogStale(ctx context.Context, limit int) ([]KeyLogStale, error)
	// KeyLogStates returns every leaf state the log recorded for the account
	// (each one PutKeyLogLeaf stored, written in the same transaction),
	// ascending by Updates; none for an unknown account.
	KeyLogStates(ctx context.Context, account string) ([]KeyLogLeaf, error)
	// PutKeyLogChanges stores the change list of an epoch: changes is the
	// concatenation of its KeyLogChangeSize-byte changes, at least one. A
	// retried epoch overwrites the stored list.
	PutKeyLogChanges(ctx context.Context, epoch uint64, changes []byte) error
	// KeyLogChanges returns the stored change lists of the epochs from … to
	// (inclusive), ascending by epoch. It adds records while fewer than
	// maxChanges changes have been gathered, so it stops after maxChanges
	// changes or more, never splitting a record; the caller continues after
	// the last epoch returned.
	KeyLogChanges(ctx context.Context, from, to uint64, maxChanges int) ([]KeyLogChangeRecord, error)
	// DeleteKeyLogChanges removes the change lists of every epoch ≥ from:
	// lists stored for an epoch whose entry was never appended (a crash
	// between the two writes), which the log's next epochs must not inherit.
	DeleteKeyLogChanges(ctx context.Context, from uint64) error
}

// KeyLogChangeSize is the size of one change in a change list (docs/protocol.md
// §16): index (32) || leaf_hash (32).
const KeyLogChangeSize = 64

// KeyLogChangeRecord is the stored change list of one epoch.
type KeyLogChangeRecord struct {
	Epoch   uint64
	Changes []byte // k·KeyLogChangeSize bytes, k ≥ 1
}
