package canary

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"math"
)

// KeySize is the size of a sender's secret marking key.
const KeySize = 32

// Code parameters (see docs/canary.md).
const (
	// biasCutoff is the smallest probability of any symbol of a slot.
	biasCutoff = 0.02
	// copyNoise is the symbol error rate assumed by the single-copy score.
	copyNoise = 0.1
)

// ErrKey reports a marking key of the wrong size.
var ErrKey = errors.New("marking key must be 32 bytes")

// deriver derives per-slot biases and per-recipient symbols from a key.
type deriver struct {
	bias, sym hash.Hash
	buf       []byte
}

func newDeriver(key []byte) (*deriver, error) {
	if len(key) != KeySize {
		return nil, ErrKey
	}
	kb, err := hkdf.Key(sha256.New, key, nil, "backchannel canary v1 bias", 32)
	if err != nil {
		return nil, fmt.Errorf("derive bias key: %w", err)
	}
	ks, err := hkdf.Key(sha256.New, key, nil, "backchannel canary v1 symbol", 32)
	if err != nil {
		return nil, fmt.Errorf("derive symbol key: %w", err)
	}
	return &deriver{bias: hmac.New(sha256.New, kb), sym: hmac.New(sha256.New, ks)}, nil
}

func (d *deriver) prf(h hash.Hash, out *[4]uint64, parts []string, n uint32) {
	d.buf = d.buf[:0]
	for _, p := range parts {
		d.buf = binary.BigEndian.AppendUint32(d.buf, uint32(len(p)))
		d.buf = append(d.buf, p...)
	}
	d.buf = binary.BigEndian.AppendUint32(d.buf, n)
	h.Reset()
	h.Write(d.buf)
	var sum [32]byte
	h.Sum(sum[:0])
	for i := range out {
		out[i] = binary.BigEndian.Uint64(sum[8*i:])
	}
}

// uniform maps 64 random bits to (0,1).
func uniform(x uint64) float64 { return (float64(x>>11) + 0.5) / (1 << 53) }

// biases returns the cumulative symbol distribution of every slot of a
// message: cum[i][a] = P(symbol <= a). A binary typographic slot's bias is
// a Beta(2,2) draw floored at biasCutoff; lexical slots and the invisible
// channel's four carriers are uniform. docs/canary.md explains the choice.
func (d *deriver) biases(msgID string, l *Layout) [][maxQ]float64 {
	cum := make([][maxQ]float64, len(l.slots))
	var r [4]uint64
	parts := []string{msgID}
	for i, s := range l.slots {
		d.prf(d.bias, &r, parts, uint32(i))
		q := int(s.q)
		var p [maxQ]float64
		if q == 2 && s.kind.channel() != PolicyLexical {
			// Beta(2,2): each weight is a Gamma(2) variate, the sum of two
			// standard exponentials.
			p[0] = -math.Log(uniform(r[0])) - math.Log(uniform(r[1]))
			p[1] = -math.Log(uniform(r[2])) - math.Log(uniform(r[3]))
		} else {
			for a := 0; a < q; a++ {
				p[a] = 1
			}
		}
		sum := 0.0
		for a := 0; a < q; a++ {
			sum += p[a]
		}
		sum2 := 0.0
		for a := 0; a < q; a++ {
			p[a] = math.Max(p[a]/sum, biasCutoff)
			sum2 += p[a]
		}
		acc := 0.0
		for a := 0; a < q; a++ {
			acc += p[a] / sum2
			cum[i][a] = acc
		}
		cum[i][q-1] = 1
	}
	return cum
}

// prob returns P(symbol = a) from a cumulative distribution.
func prob(cum *[maxQ]float64, a int) float64 {
	if a == 0 {
		return cum[0]
	}
	return cum[a] - cum[a-1]
}

// symbolStream yields a recipient's symbols of one message, slot by slot.
type symbolStream struct {
	d      *deriver
	parts  []string
	block  int
	blockV [4]uint64
}

func (d *deriver) stream(msgID, recipient string) *symbolStream {
	return &symbolStream{d: d, parts: []string{msgID, recipient}, block: -1}
}

// symbol returns the symbol of slot i given its cumulative bias.
func (s *symbolStream) symbol(i int, cum *[maxQ]float64, q int) int {
	if b := i / 4; b != s.block {
		s.d.prf(s.d.sym, &s.blockV, s.parts, uint32(b))
		s.block = b
	}
	u := uniform(s.blockV[i%4])
	for a := 0; a < q-1; a++ {
		if u < cum[a] {
			return a
		}
	}
	return q - 1
}

// Codeword returns recipient's symbols for every slot of layout l of message
// msgID, derived from the sender's marking key.
func Codeword(key []byte, msgID, recipient string, l *Layout) ([]int, error) {
	d, err := newDeriver(key)
	if err != nil {
		return nil, err
	}
	cum := d.biases(msgID, l)
	st := d.stream(msgID, recipient)
	out := make([]int, len(l.slots))
	for i := range out {
		out[i] = st.symbol(i, &cum[i], int(l.slots[i].q))
	}
	return out, nil
}

// Mark returns recipient's copy of text (message msgID) under policy p.
// The copy depends only on key, msgID, recipient, text and p.
func Mark(key []byte, msgID, recipient, text string, p Policy) (string, error) {
	if p == PolicyOff {
		if len(key) != KeySize {
			return "", ErrKey
		}
		return text, nil
	}
	l := NewLayout(text, p)
	cw, err := Codeword(key, msgID, recipient, l)
	if err != nil {
		return "", err
	}
	return l.Render(cw), nil
}

// MarkEach returns the copies of text for each recipient, in order. It
// finds the slots and biases once, so it is the call for a sender's fan-out;
// each copy equals Mark's.
func MarkEach(key []byte, msgID, text string, p Policy, recipients []string) ([]string, error) {
	d, err := newDeriver(key)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(recipients))
	if p == PolicyOff {
		for i := range out {
			out[i] = text
		}
		return out, nil
	}
	l := NewLayout(text, p)
	cum := d.biases(msgID, l)
	sym := make([]int, len(l.slots))
	for i, r := range recipients {
		st := d.stream(msgID, r)
		for j := range sym {
			sym[j] = st.symbol(j, &cum[j], int(l.slots[j].q))
		}
		out[i] = l.Render(sym)
	}
	return out, nil
}
