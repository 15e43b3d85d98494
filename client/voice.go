package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"backchannel/audio"
	"backchannel/audiomark"
	"backchannel/vault"
	"backchannel/voicenote"
)

// Voice notes: a recording is prepared (package voicenote: decoded, mixed
// to one channel at audiomark.Rate, at most 5 minutes), marked once per
// recipient under this user's marking key (package audiomark) and sent
// like a marked text document (shareCopies): every copy, FLAC, is its own
// encrypted blob padded to one length, and the transcript entry commits to
// every copy and to the note's name and duration, the same for everyone.
// The sender's own copy is the unmarked original, kept in the vault too
// (voiceOrigName) so that TraceAudio can align a recording with it.

// maxVoiceMS bounds the duration a voice note may claim.
const maxVoiceMS = int64(voicenote.MaxDuration / time.Millisecond)

// ErrVoiceNotFound: no voice note of the room matches the reference.
var ErrVoiceNotFound = errors.New("no such voice note in this room")

func voiceOrigName(id string) string { return "voiceorig/" + id }

// voiceCanonicalText is what every copy of a voice note shares: its name
// and duration.
func voiceCanonicalText(name string, ms int64) string {
	return fmt.Sprintf("voice note %q, %d ms", name, ms)
}

// voiceCopyText is what a transcript commits to for one copy of a voice
// note: its name, duration, size and the SHA-256 of the copy.
func voiceCopyText(d *DocRef, ms int64) string {
	return fmt.Sprintf("voice note %q, %d ms, %d bytes, sha256 %x", d.Name, ms, d.Size, d.SHA256)
}

// voiceText is a voice note's history line: "voice note 0:23".
func voiceText(ms int64) string {
	return "voice note " + voicenote.Duration(time.Duration(ms)*time.Millisecond)
}

// VoiceFileName is the file name a voice note is shared under and saved
// to by default: its id's first 12 characters.
func VoiceFileName(id string) string { return "voice-" + shortID(id) + ".flac" }

// SendVoiceFile sends the recording at path as a voice note (SendVoice).
func (c *Client) SendVoiceFile(ctx context.Context, roomRef, path string) (*Message, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, audio.MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	return c.SendVoice(ctx, roomRef, data)
}

// SendVoice sends a recording (anything voicenote.Prepare reads) to the
// room as a voice note: each recipient gets a FLAC copy carrying their own
// mark, this user the unmarked original. Nothing is sent when the
// recording is refused. As with Send, an error matching ErrNotDelivered
// means the note is uploaded and in the local history but its message did
// not reach the server.
func (c *Client) SendVoice(ctx context.Context, roomRef string, data []byte) (*Message, error) {
	clip, err := voicenote.Prepare(ctx, data)
	if err != nil {
		return nil, err
	}
	room, _, err := c.prepareShare(ctx, roomRef)
	if err != nil {
		return nil, err
	}
	if err := c.checkSendable(room); err != nil {
		return nil, err
	}
	id := newID()
	recipients := c.recipientsOf(room)
	copies, err := voicenote.MarkCopies(c.prof.MarkingKey, id, clip, recipients)
	if err != nil {
		return nil, fmt.Errorf("mark the voice note: %w", err)
	}
	orig, err := audio.EncodeFLAC(clip)
	if err != nil {
		return nil, err
	}
	ms := max(1, clip.Duration().Milliseconds())
	name := VoiceFileName(id)
	return c.shareCopies(ctx, room, &markedShare{
		id: id, kind: KindVoice, name: name, own: orig, copies: copies, recipients: recipients,
		copyText:  func(ref *DocRef) string { return voiceCopyText(ref, ms) },
		canonical: voiceCanonicalText(name, ms), marking: room.State.Marking, durationMS: ms,
		text: func(*DocRef) string { return voiceText(ms) },
		keep: func(ctx context.Context, tx *vault.Tx) error { return tx.Put(ctx, voiceOrigName(id), orig) },
	})
}

// Voices returns the room's voice notes, oldest first, this user's own
// included.
func (c *Client) Voices(ctx context.Context, roomRef string) ([]Message, error) {
	return c.shared(ctx, roomRef, KindVoice)
}

// FindVoice returns the room's voice note that ref names: its id or a
// unique id prefix of at least 8 characters.
func (c *Client) FindVoice(ctx context.Context, roomRef, ref string) (*Message, error) {
	notes, err := c.Voices(ctx, roomRef)
	if err != nil {
		return nil, err
	}
	m, err := findDoc(notes, ref)
	if errors.Is(err, ErrDocNotFound) {
		return nil, fmt.Errorf("%w: %q (ids are in 'backchannel read ROOM --json')", ErrVoiceNotFound, ref)
	}
	return m, err
}

// GetVoice downloads this user's copy of the voice note ref names
// (FindVoice), FLAC, and writes it to w, verified as GetDoc verifies a
// document (same caveat: on an error, what was written must not be used).
func (c *Client) GetVoice(ctx context.Context, roomRef, ref string, w io.Writer) (*Message, error) {
	m, err := c.FindVoice(ctx, roomRef, ref)
	if err != nil {
		return nil, err
	}
	if err := c.fetchDoc(ctx, m.Doc, w); err != nil {
		return nil, err
	}
	return m, nil
}

// AudioTrace is what TraceAudio found: the audiomark verdict, and which
// of this user's voice notes the recording matched.
type AudioTrace struct {
	*audiomark.Result
	// Notes is how many of this user's voice notes were searched.
	Notes int `json:"notes"`
	// Room, RoomName, MessageID and SentAt name the matched note.
	Room      string    `json:"room,omitempty"`
	RoomName  string    `json:"room_name,omitempty"`
	MessageID string    `json:"message_id,omitempty"`
	SentAt    time.Time `json:"sent_at,omitzero"`
}

// ErrNoVoiceNotes: this user sent no voice notes where the trace looked.
var ErrNoVoiceNotes = errors.New("you have sent no voice notes here: trace works on your own voice notes (ask their sender to trace)")

// TraceAudio looks for a recording (anything audio.Decode reads) among
// the voice notes this user sent, in roomRef or in every room when it is
// empty, and names the recipient whose copy it is when the probability of
// naming an innocent one is at most epsilon (audiomark.Trace).
func (c *Client) TraceAudio(ctx context.Context, roomRef string, recording []byte, epsilon float64) (*AudioTrace, error) {
	rec, err := audio.Decode(ctx, recording)
	if err != nil {
		return nil, fmt.Errorf("cannot read the recording: %w", err)
	}
	if rec.Rate != audiomark.Rate {
		rec = audio.Resample(rec, audiomark.Rate)
	}
	rooms, err := c.roomsToTrace(ctx, roomRef)
	if err != nil {
		return nil, err
	}
	type sentNote struct {
		room *Room
		msg  Message
	}
	var notes []audiomark.Note
	byID := map[string]sentNote{}
	for _, ref := range rooms {
		r, msgs, err := c.History(ctx, ref)
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			if m.Kind != KindVoice || m.Sender != c.prof.User || len(m.Recipients) == 0 {
				continue
			}
			raw, err := c.v.Get(ctx, voiceOrigName(m.ID))
			if errors.Is(err, vault.ErrNotFound) {
				continue // sent from another device, which keeps the original
			}
			if err != nil {
				return nil, err
			}
			orig, err := audio.DecodeFLAC(raw)
			if err != nil {
				return nil, fmt.Errorf("the original of voice note %s: %w", shortID(m.ID), err)
			}
			notes = append(notes, audiomark.Note{ID: m.ID, Original: orig, Recipients: m.Recipients})
			byID[m.ID] = sentNote{r, m}
		}
	}
	if len(notes) == 0 {
		return nil, ErrNoVoiceNotes
	}
	res, err := audiomark.Trace(ctx, c.prof.MarkingKey, notes, rec, epsilon)
	if err != nil {
		return nil, err
	}
	out := &AudioTrace{Result: res, Notes: len(notes)}
	if n, ok := byID[res.Note]; ok && res.Matched {
		out.Room, out.RoomName, out.MessageID, out.SentAt = n.room.State.ID, n.room.Label, n.msg.ID, n.msg.SentAt
	}
	return out, nil
}
