package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"backchannel/canary"
	"backchannel/devicelink"
	"backchannel/devicelist"
	"backchannel/entropy"
	"backchannel/handshake"
	"backchannel/identity"
	"backchannel/server/apiclient"
	"backchannel/vault"
)

// Linking a new device (docs/protocol.md §15). The primary shows a one-time
// code; the new device generates its own keys and sends its public keys
// and counter-signature over a channel sealed under the code's secret and
// an ephemeral X25519 exchange (package devicelink); both show a short
// authentication string; once the user confirms on the primary, it signs
// the next device list with the new device and sends, over the same
// channel, what the new device needs: the account's public key, its
// certificate, the marking key, the room states, transcripts and history,
// and the contacts this account pinned. No private key of any device leaves
// it, and the account key stays on the primary.

// ErrLinkCancelled: the user did not confirm the short authentication string.
var ErrLinkCancelled = errors.New("linking cancelled: the codes were not confirmed")

// LinkTimeout bounds how long a link waits for the other device.
const LinkTimeout = 10 * time.Minute

// provisioning is the sealed payload the primary sends the new device.
type provisioning struct {
	Account     string              `json:"account"`
	AccountKey  []byte              `json:"account_key"`
	DeviceID    uint32              `json:"device_id"`
	Certificate []byte              `json:"certificate"`
	MarkingKey  []byte              `json:"marking_key"`
	OwnChain    [][]byte            `json:"own_chain"`
	Records     map[string][]byte   `json:"records"`
	Logs        map[string][][]byte `json:"logs"`
	LogOrder    []string            `json:"log_order"`
	KeyLog      *logPin             `json:"key_log,omitempty"`
	Checkpoint  []byte              `json:"checkpoint,omitempty"`
}

// ErrLinkListChanged: the account's device list changed while a device was
// being linked (another link, a removal); the link must start again.
var ErrLinkListChanged = errors.New("your device list changed while the device was being linked: link it again")

// LinkDevice runs the primary's side of linking: show receives the code to
// type on the new device, confirm the short authentication string both
// devices display. It returns the new device.
//
// The profile is not held while the new device is awaited (up to
// LinkTimeout) nor while the user compares the words: the rest of the
// client (sync, sends, the desktop app) goes on meanwhile. The device list
// must still be the one the link began with when the new device is added;
// if it changed meanwhile, the link fails and can be started again.
func (c *Client) LinkDevice(ctx context.Context, show func(code string) error, confirm func(sas string) (bool, error)) (*DeviceInfo, error) {
	c.mu.Lock()
	locked := true
	defer func() {
		if locked {
			c.mu.Unlock()
		}
	}()
	if !c.isPrimary() {
		return nil, fmt.Errorf("linking signs your device list with the account key: %w", ErrNotPrimary)
	}
	ctx, cancel := context.WithTimeout(ctx, LinkTimeout)
	defer cancel()
	if err := c.refreshSelf(ctx); err != nil {
		return nil, err
	}
	cur, err := c.ownList(ctx, c.v)
	if err != nil {
		return nil, err
	}
	code, err := devicelink.NewCode(c.src, c.prof.Server)
	if err != nil {
		return nil, err
	}
	id := code.LinkID()
	if err := c.api.CreateLink(ctx, id); err != nil {
		return nil, fmt.Errorf("open a link on the server: %w", err)
	}
	delivered := false
	defer func() {
		if delivered {
			return // the server deletes the link once the new device reads its response
		}
		dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer dcancel()
		_ = c.api.DeleteLink(dctx, id)
	}()
	p, hello, err := devicelink.NewPrimary(c.src, code)
	if err != nil {
		return nil, err
	}
	as := devicelink.Assignment{ID: cur.MaxID + 1, AddedAt: time.Unix(c.opts.Now().Unix(), 0).UTC(), Account: c.prof.User, Key: c.accountKey()}
	if err := c.api.PutLink(ctx, id, apiclient.LinkHello, append(hello, as.Marshal()...)); err != nil {
		return nil, fmt.Errorf("link: %w", err)
	}
	c.mu.Unlock()
	locked = false
	if err := show(code.String()); err != nil {
		return nil, err
	}
	raw, err := c.api.WaitLink(ctx, id, apiclient.LinkRequest)
	if err != nil {
		return nil, fmt.Errorf("waiting for the new device: %w", err)
	}
	if len(raw) < 64 {
		return nil, errors.New("the new device's request is malformed")
	}
	req, sig := raw[:len(raw)-64], raw[len(raw)-64:]
	r, sas, err := p.OpenRequest(req)
	if err != nil {
		return nil, fmt.Errorf("the new device's request does not open (a mistyped code, or someone else answered): %w", err)
	}
	ok, err := confirm(sas)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrLinkCancelled
	}
	c.mu.Lock()
	locked = true
	if now, err := c.ownList(ctx, c.v); err != nil {
		return nil, err
	} else if !bytes.Equal(now.Marshal(), cur.Marshal()) {
		return nil, ErrLinkListChanged
	}
	entry := devicelist.Entry{ID: as.ID, SigningKey: r.SigningKey, DHKey: r.DHKey, Name: r.Name, AddedAt: as.AddedAt, DeviceSig: bytes.Clone(sig)}
	next, err := devicelist.Next(cur, c.user, []devicelist.Entry{entry}, nil, c.opts.Now())
	if err != nil {
		return nil, fmt.Errorf("the new device's entry: %w", err)
	}
	if _, err := devicelist.Parse(next.Marshal()); err != nil {
		return nil, fmt.Errorf("the new device's counter-signature does not verify: %w", err)
	}
	cert, err := identity.Certify(c.user, as.ID, r.SigningKey, r.DHKey)
	if err != nil {
		return nil, err
	}
	if err := c.v.Put(ctx, fmt.Sprintf("linked/%d", as.ID), []byte{1}); err != nil {
		return nil, err
	}
	if _, err := c.api.PutDeviceList(ctx, next.Marshal()); err != nil {
		return nil, fmt.Errorf("publish the device list: %w", err)
	}
	if err := c.adoptOwnList(ctx, cur, next, [][]byte{next.Marshal()}); err != nil {
		return nil, err
	}
	prov, err := c.provisioning(ctx, as.ID, cert.Marshal())
	if err != nil {
		return nil, err
	}
	payload, err := json.Marshal(prov)
	if err != nil {
		return nil, err
	}
	sealed, err := p.SealResponse(payload)
	if err != nil {
		return nil, err
	}
	if err := c.api.PutLink(ctx, id, apiclient.LinkResponse, sealed); err != nil {
		return nil, fmt.Errorf("send the new device its profile: %w", err)
	}
	delivered = true
	return &DeviceInfo{ID: as.ID, Name: r.Name, AddedAt: as.AddedAt, Accepted: true}, nil
}

// provisioning gathers what a linked device needs from this profile.
func (c *Client) provisioning(ctx context.Context, id uint32, cert []byte) (*provisioning, error) {
	own, err := c.v.Log(ctx, chainPrefix+c.prof.User)
	if err != nil {
		return nil, err
	}
	p := &provisioning{Account: c.prof.User, AccountKey: c.accountKey(), DeviceID: id, Certificate: cert,
		MarkingKey: c.prof.MarkingKey, OwnChain: own, Records: map[string][]byte{}, Logs: map[string][][]byte{},
		KeyLog: c.prof.Log, Checkpoint: c.ourCheckpoint(ctx)}
	addLog := func(name string) error {
		entries, err := c.v.Log(ctx, name)
		if err != nil {
			return err
		}
		if len(entries) > 0 {
			p.Logs[name] = entries
			p.LogOrder = append(p.LogOrder, name)
		}
		return nil
	}
	addRecord := func(name string) error {
		raw, err := c.v.Get(ctx, name)
		if errors.Is(err, vault.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		p.Records[name] = raw
		return nil
	}
	ids, err := roomIDs(ctx, c.v)
	if err != nil {
		return nil, err
	}
	if err := addRecord("rooms"); err != nil {
		return nil, err
	}
	people := map[string]bool{}
	for _, rid := range ids {
		r, err := roomFrom(ctx, c.v, rid)
		if err != nil {
			return nil, err
		}
		if err := addRecord("room/" + rid); err != nil {
			return nil, err
		}
		for _, name := range []string{"tx/" + rid, "msgs/" + rid} {
			if err := addLog(name); err != nil {
				return nil, err
			}
		}
		for _, m := range r.State.Members {
			people[m] = true
		}
		msgs, err := c.v.Log(ctx, "msgs/"+rid)
		if err != nil {
			return nil, err
		}
		for _, raw := range msgs {
			var m Message
			if json.Unmarshal(raw, &m) == nil {
				if err := addRecord(seenName(m)); err != nil {
					return nil, err
				}
				if m.Kind == KindDoc && m.Sender == c.prof.User {
					if err := addRecord(docTextName(m.ID)); err != nil {
						return nil, err
					}
				}
				if m.Kind == KindVoice && m.Sender == c.prof.User {
					if err := addRecord(voiceOrigName(m.ID)); err != nil {
						return nil, err
					}
				}
			}
		}
	}
	delete(people, c.prof.User)
	for u := range people {
		if err := addRecord(contactPrefix + u); err != nil {
			return nil, err
		}
		if err := addLog(chainPrefix + u); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// InitLinked creates a profile in dir for a new device of an existing
// account, from the code the primary shows (backchannel devices link).
// confirm receives the short authentication string to compare with the
// primary's.
func InitLinked(ctx context.Context, dir, codeText, deviceName string, passphrase []byte, confirm func(sas string) (bool, error), opts Options) (*Client, error) {
	opts.defaults()
	if deviceName != "" {
		opts.DeviceName = deviceName
	}
	path := filepath.Join(dir, ProfileFile)
	if _, err := os.Stat(path); err == nil {
		return nil, fmt.Errorf("%w: %s already holds a profile", vault.ErrExists, dir)
	}
	code, err := devicelink.ParseCode(codeText)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create profile directory: %w", err)
	}
	lock, err := lockProfile(dir)
	if err != nil {
		return nil, err
	}
	c, err := joinLink(ctx, dir, code, passphrase, confirm, opts)
	if err != nil {
		if lock != nil {
			lock.Close()
		}
		return nil, err
	}
	c.lock = lock
	return c, nil
}

func joinLink(ctx context.Context, dir string, code devicelink.Code, passphrase []byte, confirm func(string) (bool, error), opts Options) (*Client, error) {
	ctx, cancel := context.WithTimeout(ctx, LinkTimeout)
	defer cancel()
	server := code.Server()
	if opts.ServerURL != "" {
		server = opts.ServerURL
	}
	var o []apiclient.Option
	if opts.HTTPClient != nil {
		o = append(o, apiclient.WithHTTPClient(opts.HTTPClient))
	}
	anon, err := apiclient.NewAnonymous(server, o...)
	if err != nil {
		return nil, err
	}
	id := code.LinkID()
	hello, err := anon.WaitLink(ctx, id, apiclient.LinkHello)
	if err != nil {
		return nil, fmt.Errorf("the link is not open on %s (run 'backchannel devices link' on your primary device first): %w", code.Server(), err)
	}
	if len(hello) < devicelink.HelloSize {
		return nil, errors.New("the link's hello is malformed")
	}
	as, err := devicelink.ParseAssignment(hello[devicelink.HelloSize:])
	if err != nil {
		return nil, err
	}
	src := entropy.System{}
	keys, err := identity.NewDeviceKeys(src)
	if err != nil {
		return nil, err
	}
	j, req, sas, err := devicelink.NewJoiner(src, code, hello[:devicelink.HelloSize], opts.DeviceName, devicelink.JoinKeys{SigningKey: keys.SigningKey(), DHPublic: keys.DHPublic()})
	if err != nil {
		return nil, err
	}
	entry, err := devicelist.NewEntry(as.Account, as.Key, as.ID, keys.SigningKey(), keys.DHPublic(), opts.DeviceName, as.AddedAt)
	if err != nil {
		return nil, err
	}
	if err := anon.PutLink(ctx, id, apiclient.LinkRequest, append(req, entry.DeviceSig...)); err != nil {
		return nil, fmt.Errorf("link: %w", err)
	}
	ok, err := confirm(sas)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrLinkCancelled
	}
	sealed, err := anon.WaitLink(ctx, id, apiclient.LinkResponse)
	if err != nil {
		return nil, fmt.Errorf("waiting for the primary device to confirm: %w", err)
	}
	raw, err := j.OpenResponse(sealed)
	if err != nil {
		return nil, fmt.Errorf("the primary's answer does not open: %w", err)
	}
	var p provisioning
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("the primary's answer is malformed: %w", err)
	}
	if p.Account != as.Account || !bytes.Equal(p.AccountKey, as.Key) || p.DeviceID != as.ID {
		return nil, errors.New("the primary's answer names another account or device than its hello: refusing")
	}
	list, err := devicelist.VerifyChain(p.Account, p.AccountKey, nil, p.OwnChain)
	if err != nil {
		return nil, fmt.Errorf("your account's device list does not verify: %w", err)
	}
	if !list.Has(as.ID, keys.SigningPublic(), keys.DHPublic()) {
		return nil, errors.New("your account's device list does not list this device: refusing")
	}
	cert, err := identity.ParseCertificate(p.Certificate)
	if err != nil {
		return nil, err
	}
	dev, err := keys.Device(cert)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(cert.UserKey, p.AccountKey) || len(p.MarkingKey) != canary.KeySize {
		return nil, errors.New("the primary's answer is inconsistent: refusing")
	}
	pk, err := handshake.NewPrekeysAt(src, dev, opts.Now())
	if err != nil {
		return nil, err
	}
	c := &Client{opts: opts, dev: dev, pk: pk, src: src, logs: map[string]*roomLog{}}
	c.prof = profile{
		Server: code.Server(), User: p.Account, DeviceID: as.ID, DeviceName: opts.DeviceName,
		AccountKey: p.AccountKey, SigningSeed: keys.SigningSeed(), DHPrivate: keys.DHPrivate().Bytes(),
		Certificate: cert.Marshal(), MarkingKey: p.MarkingKey, CreatedAt: opts.Now().UTC(), Log: p.KeyLog,
	}
	if err := c.connect(); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, ProfileFile)
	v, err := vault.Create(ctx, path, passphrase, opts.Params)
	if err != nil {
		return nil, err
	}
	c.v = v
	fail := func(err error) (*Client, error) {
		v.Close()
		removeProfile(path)
		return nil, err
	}
	err = v.Update(ctx, func(tx *vault.Tx) error {
		if err := c.putProfile(ctx, tx); err != nil {
			return err
		}
		if err := tx.Put(ctx, "prekeys", c.pk.Marshal()); err != nil {
			return err
		}
		if err := tx.Put(ctx, selfList, list.Marshal()); err != nil {
			return err
		}
		for _, l := range p.OwnChain {
			if _, err := tx.Append(ctx, chainPrefix+p.Account, l); err != nil {
				return err
			}
		}
		for name, val := range p.Records {
			if err := tx.Put(ctx, name, val); err != nil {
				return err
			}
		}
		for _, name := range p.LogOrder {
			for _, e := range p.Logs[name] {
				if _, err := tx.Append(ctx, name, e); err != nil {
					return err
				}
			}
		}
		if len(p.Checkpoint) > 0 {
			if err := tx.Put(ctx, logCheckpointRecord, p.Checkpoint); err != nil {
				return err
			}
		}
		// The primary vouched for every device of the list it sent.
		for _, d := range list.Devices {
			if err := tx.Put(ctx, fmt.Sprintf("linked/%d", d.ID), []byte{1}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fail(err)
	}
	if err := c.api.PutCertificate(ctx, cert.Marshal()); err != nil {
		return fail(fmt.Errorf("upload this device's certificate: %w", err))
	}
	if err := c.replenish(ctx, true); err != nil {
		c.opts.Logger.Warn("prekey upload failed; the next sync retries", "err", err)
	}
	return c, nil
}
