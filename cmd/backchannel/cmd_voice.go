package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"backchannel/audio"
	"backchannel/client"
	"backchannel/voicenote"
)

// voiceJSON is a voice note as `send --voice` and `voice save` print it
// with --json. The blob id and the key stay in the profile.
type voiceJSON struct {
	ID         string    `json:"id"`
	Room       string    `json:"room"`
	Kind       string    `json:"kind"`
	DurationMS int64     `json:"duration_ms"`
	Size       int64     `json:"size"`
	SHA256     string    `json:"sha256"`
	Sender     string    `json:"sender"`
	SentAt     time.Time `json:"sent_at"`
	Path       string    `json:"path,omitempty"` // voice save: where it was written
}

func voiceOf(m *client.Message) voiceJSON {
	return voiceJSON{ID: m.ID, Room: m.Room, Kind: m.Kind, DurationMS: m.DurationMS, Size: m.Doc.Size, SHA256: hex.EncodeToString(m.Doc.SHA256), Sender: m.Sender, SentAt: m.SentAt}
}

func voiceLength(m *client.Message) string {
	return voicenote.Duration(time.Duration(m.DurationMS) * time.Millisecond)
}

// sendVoice is `send ROOM --voice FILE`.
func sendVoice(cmd *cobra.Command, g *globals, roomRef, file string) error {
	f, err := os.Open(g.env.path(file))
	if err != nil {
		return readError(file, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, audio.MaxFileBytes+1))
	if err != nil {
		return readError(file, err)
	}
	c, err := g.open(cmd.Context())
	if err != nil {
		return err
	}
	defer g.release(c)
	r, err := findRoom(cmd, c, roomRef)
	if err != nil {
		return err
	}
	m, err := c.SendVoice(cmd.Context(), r.State.ID, data)
	if err != nil {
		if errors.Is(err, voicenote.ErrNotAudio) || errors.Is(err, voicenote.ErrTooLong) || errors.Is(err, voicenote.ErrSilent) {
			return fmt.Errorf("%s: %w; nothing was sent", file, err)
		}
		return docError(err)
	}
	if g.json {
		return printJSON(cmd.OutOrStdout(), voiceOf(m))
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Sent voice note %s (%s, a marked copy for each of %d members) as %s.\n", voiceLength(m), humanSize(m.Doc.Size), len(m.Recipients), m.ID[:12])
	for _, w := range m.Warnings {
		warn(cmd.ErrOrStderr(), w)
	}
	return nil
}

func newVoiceCmd(g *globals) *cobra.Command {
	voice := &cobra.Command{
		Use:   "voice",
		Short: "Voice notes: 'voice save' writes your copy of one to a file",
		Long: `Voice notes are sent with 'backchannel send ROOM --voice FILE' and shown in read as
"voice note 0:23"; their ids are in 'backchannel read ROOM --json'. Every
recipient's copy carries an inaudible mark of their own, so 'backchannel trace
RECORDING' (by the sender) names whose copy a recording that surfaces is.`,
	}
	voice.AddCommand(newVoiceSaveCmd(g))
	return voice
}

func newVoiceSaveCmd(g *globals) *cobra.Command {
	var out string
	var force, noSync bool
	cmd := &cobra.Command{
		Use:   "save ROOM ID [-o FILE]",
		Short: "Download, decrypt and verify your copy of a voice note and write it as FLAC",
		Long: `Download your copy of the voice note ID (its id, or an id prefix of 8+ characters,
from 'backchannel read ROOM --json'), decrypt it, verify it against the SHA-256
its sender committed to, and write it as FLAC: to -o FILE (a directory: the
default name in it; -: standard output), by default voice-ID.flac (the id's
first 12 characters) in the current directory. An existing file is not
overwritten without --force. Your copy carries your mark; the sender's own copy
is the unmarked original.`,
		Args: cobra.ExactArgs(2),
		RunE: g.withClient(func(cmd *cobra.Command, args []string, c *client.Client) error {
			if !noSync {
				syncQuietly(cmd, c)
			}
			m, err := c.FindVoice(cmd.Context(), args[0], args[1])
			if errors.Is(err, client.ErrVoiceNotFound) {
				return notFoundError{err}
			}
			if err != nil {
				return docError(err)
			}
			dst, err := saveDownload(cmd, g, out, client.VoiceFileName(m.ID), force, func(w io.Writer) error {
				_, err := c.GetVoice(cmd.Context(), args[0], m.ID, w)
				return err
			})
			if err != nil || dst == "" {
				return err
			}
			if g.json {
				v := voiceOf(m)
				v.Path = dst
				return printJSON(cmd.OutOrStdout(), v)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Saved voice note %s (%s, from %s) to %s; SHA-256 verified.\n", voiceLength(m), humanSize(m.Doc.Size), m.Sender, safeLine(dst))
			return nil
		}),
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "where to write it: a file, a directory, or - for stdout (default: voice-ID.flac in the current directory)")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing file")
	cmd.Flags().BoolVar(&noSync, "no-sync", false, "use stored messages without contacting the server first")
	return cmd
}
