package loadtest

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"backchannel/devicelist"
	"backchannel/entropy"
	"backchannel/handshake"
	"backchannel/identity"
	"backchannel/server/api"
	"backchannel/server/apiclient"
)

// deviceID is the device every load-tool account registers.
const deviceID = 1

// client is one registered account with one device and real keys.
type client struct {
	name string
	user *identity.User
	dev  *identity.Device
	pk   *handshake.Prekeys // nil unless the client receives first messages
	api  *apiclient.Client

	sendMu  sync.Mutex // serialises sends, so counters reach the server in order
	counter uint64     // the rollback counter of the last batch sent
}

// send sends one batch under the client's next rollback counter.
func (c *client) send(ctx context.Context, msgs []api.OutgoingEnvelope) (api.SendResponse, error) {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	c.counter++
	return c.api.Send(ctx, c.counter, msgs)
}

// newClient creates the keys of a new account; it does not contact the server.
func newClient(baseURL, name string, hc *http.Client) (*client, error) {
	src := entropy.System{}
	u, err := identity.NewUser(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	d, err := identity.NewDevice(src, u, deviceID)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	api, err := apiclient.New(baseURL, apiclient.Identity{User: name, Device: deviceID, Key: d.SigningKey()}, apiclient.WithHTTPClient(hc))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &client{name: name, user: u, dev: d, api: api}, nil
}

// register creates the account on the server (open registration).
func (c *client) register(ctx context.Context) error {
	e, err := devicelist.NewEntry(c.name, c.user.Public(), c.dev.ID, c.dev.SigningKey(), c.dev.DHPrivate().PublicKey().Bytes(), "load", time.Now())
	if err != nil {
		return fmt.Errorf("device list of %s: %w", c.name, err)
	}
	list, err := devicelist.Genesis(c.name, c.user, []devicelist.Entry{e}, time.Now())
	if err != nil {
		return fmt.Errorf("device list of %s: %w", c.name, err)
	}
	if _, err := c.api.Register(ctx, c.user.Public(), c.dev.Cert.Marshal(), list.Marshal(), ""); err != nil {
		return fmt.Errorf("register %s: %w", c.name, err)
	}
	return nil
}

// publishPrekeys creates the device's prekeys with n one-time X25519 and n
// one-time ML-KEM prekeys and uploads them.
func (c *client) publishPrekeys(ctx context.Context, n int) error {
	src := entropy.System{}
	pk, err := handshake.NewPrekeys(src, c.dev)
	if err != nil {
		return fmt.Errorf("prekeys of %s: %w", c.name, err)
	}
	ots, kems, err := pk.GenerateOneTime(src, c.dev, n)
	if err != nil {
		return fmt.Errorf("prekeys of %s: %w", c.name, err)
	}
	c.pk = pk
	if _, err := c.api.UploadPrekeys(ctx, prekeyUpload(pk, ots, kems)); err != nil {
		return fmt.Errorf("upload prekeys of %s: %w", c.name, err)
	}
	return nil
}

// newTransport returns an HTTP client whose connection pool keeps one idle
// connection per concurrent user, so sequential requests reuse connections
// instead of exhausting ephemeral ports.
func newHTTPClient(conns int) (*http.Client, func()) {
	tr := &http.Transport{
		MaxIdleConns:        conns + 16,
		MaxIdleConnsPerHost: conns + 16,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &http.Client{Transport: tr}, tr.CloseIdleConnections
}

// parallel runs fn(i) for i in [0, n) on at most workers goroutines and
// returns the first error; it stops handing out work once an error occurred
// or ctx ended. done is called after each successful fn.
func parallel(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error, done func()) error {
	if workers > n {
		workers = n
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		next  int
		first error
		wg    sync.WaitGroup
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if first != nil || next >= n {
					mu.Unlock()
					return
				}
				i := next
				next++
				mu.Unlock()
				if err := ctx.Err(); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
				if err := fn(ctx, i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
						cancel()
					}
					mu.Unlock()
					return
				}
				if done != nil {
					done()
				}
			}
		}()
	}
	wg.Wait()
	return first
}
