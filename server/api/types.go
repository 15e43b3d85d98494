package api

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Error codes of ErrorResponse.Code.
const (
	CodeBadRequest    = "bad_request"    // 400: malformed or invalid request
	CodeUnauthorized  = "unauthorized"   // 401: missing, malformed, expired or wrong proof
	CodeReplay        = "replay"         // 401: the proof's nonce was already used
	CodeForbidden     = "forbidden"      // 403: authenticated but not allowed
	CodeInvalidInvite = "invalid_invite" // 403: registration needs a valid invite
	CodeNotFound      = "not_found"      // 404: unknown user, device, blob or route
	CodeConflict      = "conflict"       // 409: name or id taken, or object in the wrong state
	CodeTooLarge      = "too_large"      // 413: body, envelope, batch or blob too large
	CodeRangeInvalid  = "range_invalid"  // 416: unsatisfiable byte range
	CodeQuota         = "quota_exceeded" // 413: the account's blob quota is used up
	CodeRateLimited   = "rate_limited"   // 429: slow down (see Retry-After)
	CodeMailboxFull   = "mailbox_full"   // 507: a recipient holds too many unacknowledged messages
	CodeRollback      = "rollback"       // 409: a send's counter is not above the device's last accepted one
	CodeInternal      = "internal"       // 500
	CodeUnavailable   = "unavailable"    // 503: shutting down or store unusable
	CodeMethod        = "method_not_allowed"
)

// ErrorResponse is the body of every error reply.
type ErrorResponse struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// RollbackResponse is the body of a 409 CodeRollback reply to a send: an
// ErrorResponse with the highest counter the server has accepted from the
// device.
type RollbackResponse struct {
	Error   string `json:"error"`
	Code    string `json:"code"`
	Counter uint64 `json:"counter"`
}

// Limits on request contents, enforced by Validate methods.
const (
	MaxKeyBytes         = 4096     // public keys and prekey blobs
	MaxCertificateBytes = 16 << 10 // no longer used by Validate: a certificate is at most CertificateBytes (kept for callers)
	MaxPrekeysPerUpload = 1000
	MaxAckIDs           = 1000
	MaxInviteBytes      = 256
	// MaxDeviceListBytes bounds an encoded device list (devicelist.MaxListSize
	// is smaller; the server parses every list).
	MaxDeviceListBytes = 4096
	// MaxDeviceListsPerFetch is the most lists one GET of device lists returns.
	MaxDeviceListsPerFetch = 64
	// CertificateBytes is the size of a device certificate; bytes
	// CertificateKeyOffset to CertificateKeyOffset+32 hold the device's
	// signing key (identity.CertificateSize and its layout).
	CertificateBytes     = 164
	CertificateKeyOffset = 36
	// MaxStoredOneTime caps the one-time prekeys of each kind (X25519 and
	// ML-KEM) stored for one device; an upload that would exceed it is
	// refused whole.
	MaxStoredOneTime = 200
	// MaxCounter is the largest send counter (the store keeps it in a
	// signed 64-bit integer).
	MaxCounter = 1<<63 - 1
)

// ErrInvalid reports a request that decodes but breaks the rules.
var ErrInvalid = errors.New("invalid request")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Decode decodes exactly one JSON value from data into v, refusing unknown
// fields and trailing data.
func Decode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalid("trailing data after JSON value")
	}
	return nil
}

// DeviceInfo is a device as registered: its request-signing key and its
// opaque certificate (verified by clients, not by the server).
type DeviceInfo struct {
	ID          uint32    `json:"id"`
	SigningKey  []byte    `json:"signing_key"`
	Certificate []byte    `json:"certificate"`
	CreatedAt   time.Time `json:"created_at,omitzero"`
}

// Validate checks sizes and key length.
func (d *DeviceInfo) Validate() error {
	if len(d.SigningKey) != ed25519.PublicKeySize {
		return invalid("device signing_key must be %d bytes", ed25519.PublicKeySize)
	}
	if len(d.Certificate) > CertificateBytes {
		return invalid("a device certificate is %d bytes, not %d", CertificateBytes, len(d.Certificate))
	}
	return nil
}

// RegisterRequest is the body of POST /v1/accounts. It must be signed by the
// device key it contains (proof headers naming Name and Device.ID).
// DeviceList is version 1 of the account's device list (package devicelist),
// signed by IdentityKey and listing exactly Device.
type RegisterRequest struct {
	Name        string     `json:"name"`
	IdentityKey []byte     `json:"identity_key"`
	Device      DeviceInfo `json:"device"`
	DeviceList  []byte     `json:"device_list"`
	Invite      string     `json:"invite,omitempty"`
}

// Validate checks the request's shape (the server parses the list).
func (r *RegisterRequest) Validate() error {
	if !ValidName(r.Name) {
		return invalid("name must match [a-z0-9_-]{1,32}")
	}
	if len(r.IdentityKey) != ed25519.PublicKeySize {
		return invalid("identity_key must be %d bytes", ed25519.PublicKeySize)
	}
	if len(r.Invite) > MaxInviteBytes {
		return invalid("invite too long")
	}
	if len(r.DeviceList) == 0 {
		return invalid("device_list is required")
	}
	if len(r.DeviceList) > MaxDeviceListBytes {
		return invalid("device_list larger than %d bytes", MaxDeviceListBytes)
	}
	return r.Device.Validate()
}

// DeviceListRequest is the body of PUT /v1/devicelist: the next version of
// the caller's account's device list.
type DeviceListRequest struct {
	List []byte `json:"list"`
}

// Validate checks the size.
func (r *DeviceListRequest) Validate() error {
	if len(r.List) == 0 || len(r.List) > MaxDeviceListBytes {
		return invalid("list must be 1 to %d bytes", MaxDeviceListBytes)
	}
	return nil
}

// DeviceListVersion is the reply of PUT /v1/devicelist.
type DeviceListVersion struct {
	Version uint64 `json:"version"`
}

// DeviceListsResponse is the reply of GET /v1/accounts/{user}/devicelists:
// the stored lists newer than the requested version, oldest first (at most
// MaxDeviceListsPerFetch; More when there are further ones), and the newest
// stored version.
type DeviceListsResponse struct {
	Lists  [][]byte `json:"lists"`
	Latest uint64   `json:"latest"`
	More   bool     `json:"more"`
}

// CertificateRequest is the body of PUT /v1/devices/self/certificate.
type CertificateRequest struct {
	Certificate []byte `json:"certificate"`
}

// Validate checks the size: a device certificate (docs/protocol.md section 2).
func (r *CertificateRequest) Validate() error {
	if len(r.Certificate) != CertificateBytes {
		return invalid("certificate must be %d bytes", CertificateBytes)
	}
	return nil
}

// AccountInfo is the reply of GET /v1/accounts/{user}.
type AccountInfo struct {
	Name        string    `json:"name"`
	IdentityKey []byte    `json:"identity_key"`
	CreatedAt   time.Time `json:"created_at"`
}

// DevicesResponse is the reply of GET /v1/accounts/{user}/devices.
type DevicesResponse struct {
	User    string       `json:"user"`
	Devices []DeviceInfo `json:"devices"`
}

// Prekey is an opaque prekey blob (signed by the client) with its id.
type Prekey struct {
	ID   uint32 `json:"id"`
	Data []byte `json:"data"`
}

// Stored prekey blob sizes (docs/protocol.md section 3, "A server stores
// each prekey as an opaque blob"): a signed prekey, a one-time X25519
// prekey, a KEM prekey (last-resort or one-time). An upload's blobs may not
// be larger, which bounds what one device stores in prekeys to
// MaxStoredOneTime*(OneTimePrekeyBlobBytes+KEMPrekeyBlobBytes) +
// SignedPrekeyBlobBytes + KEMPrekeyBlobBytes (259,160 bytes).
const (
	SignedPrekeyBlobBytes  = 104
	OneTimePrekeyBlobBytes = 32
	KEMPrekeyBlobBytes     = 1256
)

func (p *Prekey) validate(what string, limit int) error {
	if p == nil {
		return nil
	}
	if len(p.Data) == 0 || len(p.Data) > limit {
		return invalid("%s data must be 1 to %d bytes", what, limit)
	}
	return nil
}

// PrekeyUpload is the body of PUT /v1/prekeys. Omitted fields leave stored
// values unchanged; one-time prekeys are added to the pool, or with
// ReplaceOneTime replace both stored pools (in the same transaction).
type PrekeyUpload struct {
	SignedPrekey      *Prekey  `json:"signed_prekey,omitempty"`
	OneTimePrekeys    []Prekey `json:"one_time_prekeys,omitempty"`
	LastResortKEM     *Prekey  `json:"last_resort_kem_prekey,omitempty"`
	OneTimeKEMPrekeys []Prekey `json:"one_time_kem_prekeys,omitempty"`
	ReplaceOneTime    bool     `json:"replace_one_time,omitempty"`
}

// Validate checks counts and sizes.
func (u *PrekeyUpload) Validate() error {
	if len(u.OneTimePrekeys)+len(u.OneTimeKEMPrekeys) > MaxPrekeysPerUpload {
		return invalid("more than %d one-time prekeys in one upload", MaxPrekeysPerUpload)
	}
	if err := u.SignedPrekey.validate("signed_prekey", SignedPrekeyBlobBytes); err != nil {
		return err
	}
	if err := u.LastResortKEM.validate("last_resort_kem_prekey", KEMPrekeyBlobBytes); err != nil {
		return err
	}
	for i := range u.OneTimePrekeys {
		if err := u.OneTimePrekeys[i].validate("one_time_prekeys", OneTimePrekeyBlobBytes); err != nil {
			return err
		}
	}
	for i := range u.OneTimeKEMPrekeys {
		if err := u.OneTimeKEMPrekeys[i].validate("one_time_kem_prekeys", KEMPrekeyBlobBytes); err != nil {
			return err
		}
	}
	return nil
}

// PrekeyCounts reports a device's remaining one-time prekeys.
type PrekeyCounts struct {
	OneTime    int `json:"one_time"`
	OneTimeKEM int `json:"one_time_kem"`
}

// Bundle is a prekey bundle for one device. Its one-time prekeys were
// removed from the server when it was handed out.
type Bundle struct {
	User          string       `json:"user"`
	IdentityKey   []byte       `json:"identity_key"`
	Device        DeviceInfo   `json:"device"`
	SignedPrekey  *Prekey      `json:"signed_prekey"`
	OneTimePrekey *Prekey      `json:"one_time_prekey,omitempty"`
	KEMPrekey     *Prekey      `json:"kem_prekey,omitempty"`
	KEMLastResort bool         `json:"kem_last_resort"`
	Remaining     PrekeyCounts `json:"remaining"`
}

// BundlesResponse is the reply of GET /v1/bundles/{user}.
type BundlesResponse struct {
	Bundles []Bundle `json:"bundles"`
}

// OutgoingEnvelope is one opaque message addressed to a device.
type OutgoingEnvelope struct {
	To     string `json:"to"`
	Device uint32 `json:"device"`
	Data   []byte `json:"data"`
}

// SendRequest is the body of POST /v1/messages. Counter is the sending
// device's rollback counter: each new batch carries a higher one than the
// last the server accepted (0: the device does not use counters yet).
type SendRequest struct {
	Messages []OutgoingEnvelope `json:"messages"`
	Counter  uint64             `json:"counter"`
}

// Validate checks the batch against the server's limits.
func (r *SendRequest) Validate(maxBatch, maxEnvelope int) error {
	if len(r.Messages) == 0 {
		return invalid("empty batch")
	}
	if r.Counter > MaxCounter {
		return invalid("counter larger than %d", uint64(MaxCounter))
	}
	if len(r.Messages) > maxBatch {
		return invalid("more than %d messages in one batch", maxBatch)
	}
	for i, m := range r.Messages {
		if !ValidName(m.To) {
			return invalid("message %d: bad recipient name", i)
		}
		if len(m.Data) == 0 {
			return invalid("message %d: empty data", i)
		}
		if len(m.Data) > maxEnvelope {
			return invalid("message %d: data larger than %d bytes", i, maxEnvelope)
		}
	}
	return nil
}

// BatchDigestLabel domain-separates the digest of a send batch.
const BatchDigestLabel = "backchannel send batch v1"

// BatchDigest is the SHA-256 the server keeps of the batch it accepted
// under a device's highest counter, to recognise its retransmission: the
// label, then for each message the recipient name's length and name, the
// device, and the data's length and data; lengths and the device are 4-byte
// big-endian integers.
func BatchDigest(msgs []OutgoingEnvelope) [32]byte {
	h := sha256.New()
	h.Write([]byte(BatchDigestLabel))
	var n [4]byte
	for _, m := range msgs {
		binary.BigEndian.PutUint32(n[:], uint32(len(m.To)))
		h.Write(n[:])
		h.Write([]byte(m.To))
		binary.BigEndian.PutUint32(n[:], m.Device)
		h.Write(n[:])
		binary.BigEndian.PutUint32(n[:], uint32(len(m.Data)))
		h.Write(n[:])
		h.Write(m.Data)
	}
	var d [32]byte
	h.Sum(d[:0])
	return d
}

// SelfInfo is the reply of GET /v1/devices/self: the calling device and the
// highest send counter the server has accepted from it.
type SelfInfo struct {
	User    string `json:"user"`
	ID      uint32 `json:"id"`
	Counter uint64 `json:"counter"`
}

// SendResponse is the reply of POST /v1/messages, sent once the batch is
// durable.
type SendResponse struct {
	IDs        []int64   `json:"ids"`
	ReceivedAt time.Time `json:"received_at"`
}

// Message is a stored envelope delivered to its recipient.
type Message struct {
	ID         int64     `json:"id"`
	From       string    `json:"from"`
	FromDevice uint32    `json:"from_device"`
	Data       []byte    `json:"data"`
	ReceivedAt time.Time `json:"received_at"`
}

// FetchResponse is the reply of GET /v1/messages.
type FetchResponse struct {
	Messages []Message `json:"messages"`
	More     bool      `json:"more"`
}

// AckRequest is the body of POST /v1/messages/ack.
type AckRequest struct {
	IDs []int64 `json:"ids"`
}

// Validate checks the number of ids.
func (r *AckRequest) Validate() error {
	if len(r.IDs) == 0 || len(r.IDs) > MaxAckIDs {
		return invalid("ids must hold 1 to %d ids", MaxAckIDs)
	}
	return nil
}

// AckResponse is the reply of POST /v1/messages/ack.
type AckResponse struct {
	Acked int `json:"acked"`
}

// PushFrame is one WebSocket text message from server to client.
type PushFrame struct {
	Type     string    `json:"type"` // "messages"
	Messages []Message `json:"messages"`
}

// AckFrame is a WebSocket text message from client to server on the push
// stream: it acknowledges (deletes) messages like POST /v1/messages/ack, but
// without a reply. An ack lost with its connection only means the messages
// are delivered again.
type AckFrame struct {
	Type string  `json:"type"` // "ack"
	IDs  []int64 `json:"ids"`
}

// BlobCreateResponse is the reply of POST /v1/blobs.
type BlobCreateResponse struct {
	ID        string `json:"id"`
	ChunkSize int    `json:"chunk_size"` // maximum bytes per chunk
	MaxBytes  int64  `json:"max_bytes"`  // maximum blob size
}

// BlobLimits is the reply of GET /v1/blobs/limits: what the server accepts
// and how much of the caller's quota is in use (abandoned uploads already
// freed), so that a client can refuse a document before uploading it.
type BlobLimits struct {
	ChunkBytes int   `json:"chunk_bytes"` // maximum bytes per chunk
	MaxBytes   int64 `json:"max_bytes"`   // maximum blob size (sealed)
	QuotaBytes int64 `json:"quota_bytes"` // blob bytes one account may store
	UsedBytes  int64 `json:"used_bytes"`  // the caller's blob bytes, unfinalized uploads included
}

// BlobFinalizeRequest is the body of POST /v1/blobs/{id}/finalize.
type BlobFinalizeRequest struct {
	Chunks int `json:"chunks"`
}

// BlobInfo describes a finalized blob.
type BlobInfo struct {
	ID        string    `json:"id"`
	Size      int64     `json:"size"`
	Chunks    int       `json:"chunks"`
	CreatedAt time.Time `json:"created_at"`
}

// Health is the reply of GET /healthz.
type Health struct {
	Status string `json:"status"`
}
