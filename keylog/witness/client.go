package witness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// ErrQuorum is returned when fewer than the required number of named
// witnesses cosigned a checkpoint.
var ErrQuorum = errors.New("not enough witness cosignatures")

// NewCosignatureVerifier parses a witness's vkey (cosignature/v1, algorithm
// 0x04; a plain Ed25519 vkey is accepted and read as the same key).
func NewCosignatureVerifier(vkey string) (note.Verifier, error) {
	v, err := fnote.NewVerifierForCosignatureV1(vkey)
	if err != nil {
		return nil, fmt.Errorf("verifier key %q: %w", vkey, err)
	}
	return v, nil
}

// VerifyCosignatures checks that at least quorum of the witnesses named by
// vkeys cosigned the checkpoint note signedNote (cosignature/v1 lines in its
// signature block). Signatures by other keys are ignored; a signature line
// that claims a named witness but does not verify does not count. The same
// witness listed twice counts once. It does not check the log's own
// signature. quorum <= 0 always succeeds.
func VerifyCosignatures(signedNote []byte, vkeys []string, quorum int) error {
	if quorum <= 0 {
		return nil
	}
	if quorum > len(vkeys) {
		return fmt.Errorf("%w: quorum %d of only %d witnesses", ErrQuorum, quorum, len(vkeys))
	}
	type id struct {
		name string
		hash uint32
	}
	seen := map[id]bool{}
	count := 0
	for _, k := range vkeys {
		v, err := NewCosignatureVerifier(k)
		if err != nil {
			return err
		}
		if seen[id{v.Name(), v.KeyHash()}] {
			continue
		}
		seen[id{v.Name(), v.KeyHash()}] = true
		if _, err := note.Open(signedNote, note.VerifierList(v)); err == nil {
			count++
		}
	}
	if count < quorum {
		return fmt.Errorf("%w: %d of %d required", ErrQuorum, count, quorum)
	}
	return nil
}

// AddCheckpoint sends one add-checkpoint request to the witness at url (its
// submission prefix; AddCheckpointPath is appended) and returns the
// cosignature lines of a 200 reply. Other replies become the package's
// sentinels: *ConflictError (409 with a size), ErrFork (other 409s),
// ErrUnknownLog (404), ErrBadSignature (403), ErrBadProof (422),
// ErrMalformed (400).
func AddCheckpoint(ctx context.Context, hc *http.Client, url string, req *Request) ([]byte, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(url, "/")+AddCheckpointPath, bytes.NewReader(req.Marshal()))
	if err != nil {
		return nil, fmt.Errorf("witness %s: %w", url, err)
	}
	resp, err := hc.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("witness %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxRequestBytes))
	if err != nil {
		return nil, fmt.Errorf("witness %s: read reply: %w", url, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return body, nil
	case http.StatusConflict:
		if resp.Header.Get("Content-Type") == SizeContentType {
			size, err := parseDecimal(strings.TrimSuffix(string(body), "\n"))
			if err != nil {
				return nil, fmt.Errorf("witness %s: 409 with a bad size: %w", url, err)
			}
			return nil, &ConflictError{Size: size}
		}
		return nil, fmt.Errorf("witness %s: %w", url, ErrFork)
	case http.StatusNotFound:
		return nil, fmt.Errorf("witness %s: %w", url, ErrUnknownLog)
	case http.StatusForbidden:
		return nil, fmt.Errorf("witness %s: %w", url, ErrBadSignature)
	case http.StatusUnprocessableEntity:
		return nil, fmt.Errorf("witness %s: %w", url, ErrBadProof)
	case http.StatusBadRequest:
		return nil, fmt.Errorf("witness %s: %w: %s", url, ErrMalformed, bytes.TrimSpace(body))
	}
	return nil, fmt.Errorf("witness %s: HTTP %d", url, resp.StatusCode)
}

// Endpoint is a witness a log asks for cosignatures.
type Endpoint struct {
	URL         string // submission prefix
	VerifierKey string // the witness's vkey
}

// ProofFunc returns the RFC 6962 consistency proof from size old to the
// checkpoint's size (empty for old == 0 or old == size).
type ProofFunc func(ctx context.Context, old uint64) (tlog.TreeProof, error)

// Collect asks every witness to cosign signedNote (a checkpoint signed by
// the log), starting from oldSize (the size the log believes each witness
// holds) and following one 409 per witness to the size the witness reports.
// It returns the cosignatures that verify under each witness's key, in the
// order of ws, and an error joining every witness's failure (nil when all
// cosigned). Use VerifyCosignatures-style policy on the result.
func Collect(ctx context.Context, hc *http.Client, ws []Endpoint, signedNote []byte, oldSize uint64, proof ProofFunc) ([]note.Signature, error) {
	sigs := make([][]note.Signature, len(ws))
	errs := make([]error, len(ws))
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sigs[i], errs[i] = collectOne(ctx, hc, w, signedNote, oldSize, proof)
		}()
	}
	wg.Wait()
	var out []note.Signature
	for _, s := range sigs {
		out = append(out, s...)
	}
	return out, errors.Join(errs...)
}

func collectOne(ctx context.Context, hc *http.Client, w Endpoint, signedNote []byte, old uint64, proof ProofFunc) ([]note.Signature, error) {
	v, err := NewCosignatureVerifier(w.VerifierKey)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		var p tlog.TreeProof
		if old > 0 {
			if p, err = proof(ctx, old); err != nil {
				return nil, fmt.Errorf("witness %s: proof from %d: %w", w.URL, old, err)
			}
		}
		lines, err := AddCheckpoint(ctx, hc, w.URL, &Request{OldSize: old, Proof: p, Checkpoint: signedNote})
		var conflict *ConflictError
		if errors.As(err, &conflict) && attempt == 0 {
			old = conflict.Size
			continue
		}
		if err != nil {
			return nil, err
		}
		combined := append(append([]byte{}, signedNote...), lines...)
		n, err := note.Open(combined, note.VerifierList(v))
		if err != nil {
			return nil, fmt.Errorf("witness %s: reply does not verify: %w", w.URL, err)
		}
		return n.Sigs, nil
	}
}
