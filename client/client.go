// Package client is the backchannel client engine: one user's device, its
// encrypted profile (package vault), its sessions with other devices, its
// rooms, and the loop that syncs them with a server.
//
// Everything a Client persists is in the vault. A message is decrypted,
// applied and persisted in one vault transaction before it is acknowledged
// to the server, so a crash at any point neither loses nor duplicates it:
// a redelivered envelope fails as a ratchet duplicate and is simply acked.
// Keys of other users are pinned on first use; a changed identity key is
// refused with ErrIdentityChanged, never accepted silently.
package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"backchannel/canary"
	"backchannel/devicelist"
	"backchannel/entropy"
	"backchannel/handshake"
	"backchannel/identity"
	"backchannel/server/apiclient"
	"backchannel/vault"
)

// Tunables.
const (
	// ProfileFile is the vault's file name inside the profile directory.
	ProfileFile = "profile.db"
	// PrekeyBatch one-time prekeys are uploaded at init and whenever fewer
	// than PrekeyLow remain on the server.
	PrekeyBatch = 50
	PrekeyLow   = 15
	// MaxRoomMembers bounds a room, the creator included.
	MaxRoomMembers = 64
	deviceID       = 1
)

// Errors callers branch on.
var (
	ErrIdentityChanged = errors.New("the server presents a different identity key for this user than the one pinned; refusing (verify the new safety number out of band)")
	ErrUnknownRoom     = errors.New("unknown room")
	ErrNotMember       = errors.New("not a member of this room")
	ErrNotCreator      = errors.New("only the room's creator can change the room (its name and its members)")
	ErrRoomFull        = errors.New("a room holds at most 64 members")
	ErrBadPayload      = errors.New("malformed message payload")
	ErrProfileInUse    = errors.New("the profile is in use by another backchannel process (close it, or use another --home)")
)

// Options configure a Client.
type Options struct {
	// Params are the vault's Argon2id parameters (at creation).
	Params vault.Params
	// HTTPClient overrides the HTTP client (TLS settings, tests).
	HTTPClient *http.Client
	// Logger receives operational logs; never secrets or contents.
	Logger *slog.Logger
	// Now overrides the clock (tests).
	Now func() time.Time
	// ServerURL, when set, overrides the profile's server address (a front
	// end in tests; a moved server).
	ServerURL string
	// DeviceName names this device in the account's device list at init
	// (default: the host name).
	DeviceName string
}

func (o *Options) defaults() {
	if o.Params == (vault.Params{}) {
		o.Params = vault.DefaultParams
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.DeviceName == "" {
		o.DeviceName = defaultDeviceName()
	}
}

func defaultDeviceName() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "device"
	}
	if len(h) > 64 {
		h = h[:64]
	}
	return h
}

// profile is the vault record "profile".
type profile struct {
	Server   string `json:"server"`
	User     string `json:"user"`
	DeviceID uint32 `json:"device_id"`
	// UserSeed is the account key's seed: on the primary device only.
	UserSeed []byte `json:"user_seed,omitempty"`
	// AccountKey is the account's identity public key (every device).
	AccountKey  []byte `json:"account_key"`
	DeviceName  string `json:"device_name"`
	SigningSeed []byte `json:"signing_seed"`
	DHPrivate   []byte `json:"dh_private"`
	Certificate []byte `json:"certificate"`
	// MarkingKey derives this user's canary marks; it never leaves the device.
	MarkingKey []byte `json:"marking_key"`
	// SessionEpoch moves on when the profile turns out to be an old copy;
	// sessions of earlier epochs are never used again.
	SessionEpoch int `json:"session_epoch,omitempty"`
	// RequireVerified refuses on-record rooms and sends with members whose
	// safety numbers were not compared (default: warn).
	RequireVerified bool `json:"require_verified,omitempty"`
	// DeviceChanges is "ask" (default: a contact's new device waits for
	// 'keys accept' when the contact is verified or the room on-record) or
	// "auto" (it is used at once; the notice is still shown).
	DeviceChanges string `json:"device_changes,omitempty"`
	// Log is the server's key log as pinned at init (nil: the server had
	// none, and contacts are pinned on first use only).
	Log *logPin `json:"log,omitempty"`
	// Disabled says why this profile must not send (an old copy of a
	// linked device).
	Disabled  string    `json:"disabled,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Client is one user's device. Methods are safe for concurrent use; they
// serialise on one lock because sessions are stateful.
type Client struct {
	mu     sync.Mutex
	v      *vault.Vault
	api    *apiclient.Client
	opts   Options
	user   *identity.User
	dev    *identity.Device
	prof   profile
	pk     *handshake.Prekeys
	src    entropy.Source
	closed bool
	logs   map[string]*roomLog // transcripts rebuilt from the vault, per room
	// warnings collects what the last send must tell the user.
	warnings []string
	// gossip holds key log checkpoints received in the current transaction.
	gossip []gossipItem
	// olderGossip bounds the consistency proofs older checkpoints cost.
	olderGossip gossipBudget
	lock        *os.File // the profile lock, held until Close
	// repaired lists the profile's files whose permissions Open narrowed.
	repaired []string
}

// Init creates a profile in dir, registers it with the server and uploads
// its prekeys. invite may be empty when the server has open registration.
func Init(ctx context.Context, dir, serverURL, name, invite string, passphrase []byte, opts Options) (*Client, error) {
	opts.defaults()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create profile directory: %w", err)
	}
	if _, err := vault.SecureDir(dir); err != nil {
		return nil, err
	}
	lock, err := lockProfile(dir)
	if err != nil {
		return nil, err
	}
	c, err := initProfile(ctx, dir, serverURL, name, invite, passphrase, opts)
	if err != nil {
		if lock != nil {
			lock.Close()
		}
		return nil, err
	}
	c.lock = lock
	return c, nil
}

func initProfile(ctx context.Context, dir, serverURL, name, invite string, passphrase []byte, opts Options) (*Client, error) {
	src := entropy.System{}
	user, err := identity.NewUser(src)
	if err != nil {
		return nil, err
	}
	dev, err := identity.NewDevice(src, user, deviceID)
	if err != nil {
		return nil, err
	}
	pk, err := handshake.NewPrekeysAt(src, dev, opts.Now())
	if err != nil {
		return nil, err
	}
	c := &Client{opts: opts, user: user, dev: dev, pk: pk, src: src, logs: map[string]*roomLog{}}
	markingKey := make([]byte, canary.KeySize)
	if err := src.Bytes(markingKey); err != nil {
		return nil, err
	}
	c.prof = profile{
		Server: serverURL, User: name, DeviceID: deviceID, DeviceName: opts.DeviceName,
		UserSeed: user.Seed(), AccountKey: user.Public(), SigningSeed: dev.SigningSeed(), DHPrivate: dev.DHPrivate().Bytes(),
		Certificate: dev.Cert.Marshal(), MarkingKey: markingKey, CreatedAt: opts.Now().UTC(),
	}
	entry, err := devicelist.NewEntry(name, user.Public(), deviceID, dev.SigningKey(), dev.DHPrivate().PublicKey().Bytes(), opts.DeviceName, opts.Now())
	if err != nil {
		return nil, fmt.Errorf("device list: %w", err)
	}
	list, err := devicelist.Genesis(name, user, []devicelist.Entry{entry}, opts.Now())
	if err != nil {
		return nil, fmt.Errorf("device list: %w", err)
	}
	if err := c.connect(); err != nil {
		return nil, err
	}
	// The key log's identity before anything else: a profile that could be
	// made without it would trust whatever the server says about keys.
	if err := c.pinLog(ctx); err != nil {
		return nil, fmt.Errorf("%w (the server at %s must run a key log; try again if it was unreachable)", err, serverURL)
	}
	// The local profile first: a failure here must not use up the name and
	// the invite on the server.
	path := filepath.Join(dir, ProfileFile)
	v, err := vault.Create(ctx, path, passphrase, opts.Params)
	if err != nil {
		return nil, err
	}
	c.v = v
	err = c.saveProfile(ctx)
	if err == nil {
		err = c.v.Update(ctx, func(tx *vault.Tx) error {
			if err := tx.Put(ctx, selfList, list.Marshal()); err != nil {
				return err
			}
			if err := tx.Put(ctx, fmt.Sprintf("linked/%d", deviceID), []byte{1}); err != nil {
				return err
			}
			_, err := tx.Append(ctx, chainPrefix+name, list.Marshal())
			return err
		})
	}
	if err != nil {
		v.Close()
		removeProfile(path)
		return nil, err
	}
	if _, err := c.api.Register(ctx, user.Public(), dev.Cert.Marshal(), list.Marshal(), invite); err != nil {
		v.Close()
		removeProfile(path)
		return nil, fmt.Errorf("register %q with %s: %w", name, serverURL, err)
	}
	if err := c.replenish(ctx, true); err != nil {
		// Registered but without prekeys: the next sync publishes them.
		c.opts.Logger.Warn("prekey upload failed; the next sync retries", "err", err)
	}
	return c, nil
}

// removeProfile deletes a profile that never got registered.
func removeProfile(path string) {
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(path + suffix)
	}
}

// Open opens the profile in dir.
func Open(ctx context.Context, dir string, passphrase []byte, opts Options) (*Client, error) {
	opts.defaults()
	if _, err := os.Stat(filepath.Join(dir, ProfileFile)); err != nil {
		return nil, fmt.Errorf("%w: %s", vault.ErrNoVault, dir)
	}
	repaired, err := vault.SecureDir(dir)
	if err != nil {
		return nil, err
	}
	lock, err := lockProfile(dir)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Client, error) {
		if lock != nil {
			lock.Close()
		}
		return nil, err
	}
	v, err := vault.Open(ctx, filepath.Join(dir, ProfileFile), passphrase)
	if err != nil {
		return fail(err)
	}
	c := &Client{v: v, opts: opts, src: entropy.System{}, logs: map[string]*roomLog{}, lock: lock, repaired: repaired}
	if err := c.load(ctx); err != nil {
		v.Close()
		return fail(err)
	}
	if err := c.connect(); err != nil {
		v.Close()
		return fail(err)
	}
	if err := c.detectOldCopy(ctx); err != nil {
		v.Close()
		return fail(err)
	}
	if _, err := c.monitorSelf(ctx, false); err != nil && !transient(err) {
		c.opts.Logger.Warn("key log self-check failed", "err", err)
	}
	return c, nil
}

func (c *Client) load(ctx context.Context) error {
	raw, err := c.v.Get(ctx, "profile")
	if err != nil {
		return fmt.Errorf("load profile: %w", err)
	}
	if err := json.Unmarshal(raw, &c.prof); err != nil {
		return fmt.Errorf("load profile: %w: %v", vault.ErrCorrupt, err)
	}
	if len(c.prof.UserSeed) > 0 {
		if c.user, err = identity.UserFromSeed(c.prof.UserSeed); err != nil {
			return fmt.Errorf("load profile: %w", err)
		}
		if len(c.prof.AccountKey) == 0 { // profiles made before device lists
			c.prof.AccountKey = c.user.Public()
		}
	}
	cert, err := identity.ParseCertificate(c.prof.Certificate)
	if err != nil {
		return fmt.Errorf("load profile: %w", err)
	}
	if c.dev, err = identity.RestoreDevice(c.prof.SigningSeed, c.prof.DHPrivate, cert); err != nil {
		return fmt.Errorf("load profile: %w", err)
	}
	raw, err = c.v.Get(ctx, "prekeys")
	if err != nil {
		return fmt.Errorf("load prekeys: %w", err)
	}
	if c.pk, err = handshake.UnmarshalPrekeys(raw, c.dev); err != nil {
		return err
	}
	return nil
}

func (c *Client) connect() error {
	var o []apiclient.Option
	if c.opts.HTTPClient != nil {
		o = append(o, apiclient.WithHTTPClient(c.opts.HTTPClient))
	}
	server := c.prof.Server
	if c.opts.ServerURL != "" {
		server = c.opts.ServerURL
	}
	api, err := apiclient.New(server, apiclient.Identity{User: c.prof.User, Device: c.prof.DeviceID, Key: c.dev.SigningKey()}, o...)
	if err != nil {
		return fmt.Errorf("server %q: %w", c.prof.Server, err)
	}
	c.api = api
	return nil
}

func (c *Client) saveProfile(ctx context.Context) error {
	return c.v.Update(ctx, func(tx *vault.Tx) error {
		if err := c.putProfile(ctx, tx); err != nil {
			return err
		}
		return tx.Put(ctx, "prekeys", c.pk.Marshal())
	})
}

func (c *Client) putProfile(ctx context.Context, tx *vault.Tx) error {
	raw, err := json.Marshal(c.prof)
	if err != nil {
		return err
	}
	return tx.Put(ctx, "profile", raw)
}

// Close closes the profile.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	err := c.v.Close()
	if c.lock != nil {
		c.lock.Close()
	}
	return err
}

// User returns the profile's user name.
func (c *Client) User() string { return c.prof.User }

// Server returns the server URL.
func (c *Client) Server() string { return c.prof.Server }

// IdentityKey returns the user's identity public key.
func (c *Client) IdentityKey() []byte { return c.accountKey() }

// DeviceID returns this device's id in the account.
func (c *Client) DeviceID() uint32 { return c.prof.DeviceID }

// Primary reports whether this device holds the account key.
func (c *Client) Primary() bool { return c.isPrimary() }

func newID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Status is what `backchannel status` shows.
type Status struct {
	User        string `json:"user"`
	Server      string `json:"server"`
	ServerError string `json:"server_error,omitempty"`
	Rooms       int    `json:"rooms"`
	PrekeysLeft int    `json:"prekeys_left"`
	// Queued counts message batches saved but not yet acknowledged by the server.
	Queued int `json:"queued"`
	// Device is this device; Primary whether it holds the account key.
	Device     uint32 `json:"device"`
	DeviceName string `json:"device_name"`
	Primary    bool   `json:"primary"`
	// Attention lists contacts whose key or devices changed and wait for
	// 'keys accept', and alarms about this account's own devices.
	Attention []string `json:"attention"`
}

// Status reports the profile and whether the server answers.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids, err := roomIDs(ctx, c.v)
	if err != nil {
		return nil, err
	}
	queued, err := outboxIDs(ctx, c.v)
	if err != nil {
		return nil, err
	}
	st := &Status{User: c.prof.User, Server: c.prof.Server, Rooms: len(ids), Queued: len(queued),
		Device: c.prof.DeviceID, DeviceName: c.prof.DeviceName, Primary: c.isPrimary(), Attention: []string{}}
	if err := c.refreshSelf(ctx); err != nil && !transient(err) {
		st.Attention = append(st.Attention, err.Error())
	}
	raws, err := c.v.Log(ctx, noticeLog)
	if err != nil {
		return nil, err
	}
	for _, raw := range raws {
		var n Notice
		if json.Unmarshal(raw, &n) == nil && n.Alarm {
			st.Attention = append(st.Attention, n.Text)
		}
	}
	if c.prof.Disabled != "" {
		st.Attention = append(st.Attention, fmt.Sprintf("%v (%s)", ErrStaleCopy, c.prof.Disabled))
	}
	if c.prof.Log != nil {
		if _, err := c.monitorSelf(ctx, false); err != nil {
			if stale := c.selfCheckOverdue(ctx); stale != "" {
				st.Attention = append(st.Attention, stale)
			}
		}
	}
	st.Attention = append(st.Attention, c.pendingChanges(ctx)...)
	if counts, err := c.api.PrekeyCounts(ctx); err != nil {
		st.ServerError = err.Error()
	} else {
		st.PrekeysLeft = min(counts.OneTime, counts.OneTimeKEM)
	}
	return st, nil
}
