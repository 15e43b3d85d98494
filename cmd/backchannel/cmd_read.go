package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"backchannel/client"
	"backchannel/live"
)

func newSendCmd(g *globals) *cobra.Command {
	var file, voice string
	cmd := &cobra.Command{
		Use:   "send ROOM [TEXT | -]",
		Short: "Send a message to a room (TEXT, --file PATH, or - for stdin), or a voice note (--voice FILE)",
		Long: `Send a message to every member of ROOM: TEXT, the text of --file PATH, or standard
input with -. Every recipient's copy carries their own canary marks.

--voice FILE sends a recording as a voice note instead: WAV, FLAC or MP3 (read
in pure Go), or Ogg Opus, M4A and WebM when ffmpeg is installed; any rate, mono
or stereo, at most 5 minutes. Each recipient gets a FLAC copy carrying their own
inaudible mark, as its own encrypted blob; 'trace' names whose copy a recording
that surfaces is. Members see "voice note 0:23" in read and save their copy with
'backchannel voice save ROOM ID'.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if voice != "" {
				if file != "" || len(args) == 2 {
					return usageError{errors.New("give --voice alone: a voice note carries no text")}
				}
				return sendVoice(cmd, g, args[0], voice)
			}
			var text string
			switch {
			case file != "" && len(args) == 2:
				return usageError{errors.New("give TEXT or --file, not both")}
			case file != "":
				b, err := os.ReadFile(g.env.path(file))
				if err != nil {
					return readError(file, err)
				}
				text = string(b)
			case len(args) == 2 && args[1] == "-":
				b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), client.MaxTextBytes+1))
				if err != nil {
					return err
				}
				text = string(b)
			case len(args) == 2:
				text = args[1]
			default:
				return usageError{errors.New("nothing to send: give TEXT, --file PATH or -")}
			}
			if strings.TrimSpace(text) == "" {
				return usageError{errors.New("the message is empty")}
			}
			c, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer g.release(c)
			r, err := findRoom(cmd, c, args[0])
			if err != nil {
				return err
			}
			m, err := c.Send(cmd.Context(), r.State.ID, text)
			if err != nil {
				return err
			}
			if g.json {
				m.Outbox = "" // internal: which outbox batch carries it
				return printJSON(cmd.OutOrStdout(), m)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Sent %s.\n", m.ID[:12])
			for _, w := range m.Warnings {
				warn(cmd.ErrOrStderr(), w)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&file, "file", "", "read the message from a file")
	cmd.Flags().StringVar(&voice, "voice", "", "send this recording as a voice note (WAV, FLAC, MP3; Ogg Opus or M4A with ffmpeg)")
	return cmd
}

func newSyncCmd(g *globals) *cobra.Command {
	var follow bool
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Fetch, decrypt and store new messages (--follow to keep listening and print them)",
		Long: `Fetch, decrypt and store the messages waiting on the server and print how many
arrived. With --follow, stay connected and print every message as it arrives
(time, room, sender, text; membership changes with "*"), warnings on standard
error, and the connection's state when it drops or comes back, until Ctrl-C.
With --json, --follow prints one JSON object per line: {"type": "message", ...},
{"type": "warning", "text": ...} or {"type": "connection", "state": ...}.`,
		Example: `  backchannel sync
  backchannel sync --follow
  backchannel sync --follow --json`,
		Args: cobra.NoArgs,
		RunE: g.withClient(func(cmd *cobra.Command, args []string, c *client.Client) error {
			rep, err := c.Sync(cmd.Context())
			if err != nil {
				return err
			}
			if g.hub != nil && !follow {
				// Inside the agent most messages arrive in the background:
				// count what came since the last sync too.
				a := g.hub.TakeArrived()
				rep.Received += a.Received
				rep.Dropped += a.Dropped
				rep.New = append(a.New, rep.New...)
				rep.Warnings = append(a.Warnings, rep.Warnings...)
			}
			if !follow {
				printReport(cmd, g, rep)
				return nil
			}
			f := &follower{cmd: cmd, g: g, c: c}
			f.report(rep)
			events, stop := g.liveHub(cmd.Context(), c).Subscribe()
			defer stop()
			for {
				select {
				case <-cmd.Context().Done():
					return nil
				case ev, ok := <-events:
					if !ok {
						return nil
					}
					f.event(ev)
					if g.hub != nil {
						g.hub.TakeArrived() // printed here: not news for the next sync
					}
				}
			}
		}),
	}
	cmd.Flags().BoolVar(&follow, "follow", false, "stay connected and print messages as they arrive")
	return cmd
}

func printReport(cmd *cobra.Command, g *globals, rep *client.SyncReport) {
	if g.json {
		printJSON(cmd.OutOrStdout(), rep)
		return
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%d new", rep.Received)
	if rep.Held > 0 {
		fmt.Fprintf(cmd.OutOrStdout(), ", %d waiting for earlier messages", rep.Held)
	}
	fmt.Fprintln(cmd.OutOrStdout())
	for _, w := range rep.Warnings {
		warn(cmd.ErrOrStderr(), w)
	}
}

// follower prints what `sync --follow` sees.
type follower struct {
	cmd *cobra.Command
	g   *globals
	c   *client.Client
	// printed: ids already shown (the first sync and the push stream can
	// both report one message).
	printed map[string]bool
}

func (f *follower) line(v map[string]any, text string) {
	if f.g.json {
		b, _ := json.Marshal(v)
		fmt.Fprintf(f.cmd.OutOrStdout(), "%s\n", b)
		return
	}
	fmt.Fprintln(f.cmd.OutOrStdout(), text)
}

func (f *follower) event(ev live.Event) {
	if ev.Missed > 0 {
		f.warning(fmt.Sprintf("%d updates were missed while this terminal was busy: 'backchannel read ROOM' shows everything", ev.Missed))
	}
	if ev.Report != nil {
		f.report(ev.Report)
		return
	}
	text := "connection: " + string(ev.State)
	if ev.Reason != "" {
		text += " (" + ev.Reason + ")"
	}
	if f.g.json {
		f.line(map[string]any{"type": "connection", "state": ev.State, "reason": ev.Reason}, "")
		return
	}
	fmt.Fprintln(f.cmd.ErrOrStderr(), safeLine(text))
}

func (f *follower) warning(w string) {
	if f.g.json {
		f.line(map[string]any{"type": "warning", "text": w}, "")
		return
	}
	warn(f.cmd.ErrOrStderr(), w)
}

// report prints the messages a sync stored, then its warnings.
func (f *follower) report(rep *client.SyncReport) {
	msgs, err := f.c.Lookup(f.cmd.Context(), rep.New)
	if err != nil {
		f.warning("could not show the new messages: " + err.Error())
	}
	labels := map[string]string{}
	if len(msgs) > 0 {
		if rooms, err := f.c.Rooms(f.cmd.Context()); err == nil {
			for _, r := range rooms {
				labels[r.State.ID] = r.Label
			}
		}
	}
	if f.printed == nil || len(f.printed) > 100_000 {
		f.printed = map[string]bool{}
	}
	for _, m := range msgs {
		if f.printed[m.Room+"/"+m.ID] {
			continue
		}
		f.printed[m.Room+"/"+m.ID] = true
		label := labels[m.Room]
		f.line(map[string]any{"type": "message", "room": m.Room, "room_name": label, "id": m.ID, "sender": m.Sender,
			"sent_at": m.SentAt, "kind": m.Kind, "text": m.Text},
			fmt.Sprintf("%s  [%s] %s", m.SentAt.Local().Format("2006-01-02 15:04"), safeName(label), messageLine(m)))
	}
	for _, w := range rep.Warnings {
		f.warning(w)
	}
}

// messageLine shows one history entry after its time: "sender: text",
// "* change" or "! notice".
func messageLine(m client.Message) string {
	switch m.Kind {
	case client.KindNotice:
		return "! " + safe(m.Text)
	case "system":
		return "* " + safe(m.Text)
	}
	return m.Sender + ": " + safe(m.Text)
}

// deliveryMark is the short mark after one of the user's own messages.
func deliveryMark(d *client.Delivery) string {
	switch {
	case d == nil:
		return ""
	case d.State == client.DeliveryDelivered && len(d.DeliveredTo) == d.Of:
		return "  [delivered]"
	case d.State == client.DeliveryDelivered:
		return fmt.Sprintf("  [delivered to %d of %d]", len(d.DeliveredTo), d.Of)
	}
	return "  [" + d.State + "]"
}

func newReadCmd(g *globals) *cobra.Command {
	var noSync bool
	var since string
	var limit int
	cmd := &cobra.Command{
		Use:   "read ROOM",
		Short: "Show a room's messages (syncs first unless --no-sync)",
		Long: `Show ROOM's messages in the order they were written, with the room's mode, marking
and members first. It syncs first unless --no-sync, and marks the room read on this
device. --since shows what was sent from then on (a time as 2026-11-28T14:00:00Z,
a date as 2026-11-28, or a duration back from now as 90m, 2h or 3d); --limit N
the last N only.

Your own messages end in their delivery state: [queued] (saved here, not yet taken
by the server), [sent] (the server has it), [delivered to 1 of 2] or [delivered]
(the members who have shown that they hold it: by a later message or heartbeat of
theirs that follows it; the server's word never counts).`,
		Example: `  backchannel read talks
  backchannel read talks --since 2h --limit 20
  backchannel read talks --no-sync --json`,
		Args: cobra.ExactArgs(1),
		RunE: g.withClient(func(cmd *cobra.Command, args []string, c *client.Client) error {
			from, err := parseSince(since, time.Now())
			if err != nil {
				return usageError{err}
			}
			if limit < 0 {
				return usageError{errors.New("--limit must be 0 (everything) or more")}
			}
			if !noSync {
				if rep, err := c.Sync(cmd.Context()); err != nil {
					warn(cmd.ErrOrStderr(), "could not sync, showing stored messages: "+err.Error())
				} else {
					for _, w := range rep.Warnings {
						warn(cmd.ErrOrStderr(), w)
					}
				}
			}
			r, msgs, err := c.History(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			msgs = window(msgs, from, limit)
			if len(msgs) > 0 {
				if err := c.MarkRead(cmd.Context(), r.State.ID, msgs[len(msgs)-1].ID); err != nil && !errors.Is(err, client.ErrUnknownMessage) {
					return err
				}
			}
			if g.json {
				for i, m := range msgs {
					msgs[i].Outbox = ""
					if m.Doc != nil { // never print a document's key
						d := *m.Doc
						d.Key, d.BlobID = nil, ""
						msgs[i].Doc = &d
					}
				}
				return printJSON(cmd.OutOrStdout(), msgs)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "# %s — %s room, marking: %s, members: %s\n", safeName(r.Label), r.State.Mode, r.State.Marking, memberList(r))
			warnings, err := c.TranscriptWarnings(cmd.Context(), r.State.ID)
			if err != nil {
				return err
			}
			for _, warn := range warnings {
				fmt.Fprintf(w, "! %s\n", safeLine(warn))
			}
			for _, m := range msgs {
				fmt.Fprintf(w, "%s  %s%s\n", m.SentAt.Local().Format("2006-01-02 15:04"), messageLine(m), deliveryMark(m.Delivery))
			}
			return nil
		}),
	}
	cmd.Flags().BoolVar(&noSync, "no-sync", false, "show stored messages without contacting the server")
	cmd.Flags().StringVar(&since, "since", "", "show messages sent from then on: a time (RFC 3339), a date (2026-11-28) or a duration back from now (2h, 3d)")
	cmd.Flags().IntVar(&limit, "limit", 0, "show the last N messages only (0: all)")
	return cmd
}

// window keeps the messages sent at or after from (zero: all) and, when
// limit > 0, the last limit of them.
func window(msgs []client.Message, from time.Time, limit int) []client.Message {
	out := msgs[:0:0]
	for _, m := range msgs {
		if from.IsZero() || !m.SentAt.Before(from) {
			out = append(out, m)
		}
	}
	if limit > 0 && len(out) > limit {
		out = out[len(out)-limit:]
	}
	if out == nil {
		out = []client.Message{}
	}
	return out
}

// parseSince reads --since: an RFC 3339 time, a date (local midnight), or
// a duration back from now (Go's 90m, 2h30m, or whole days as 3d).
func parseSince(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, time.Local); err == nil {
		return t, nil
	}
	if d, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(d); err == nil && n >= 0 {
			return now.AddDate(0, 0, -n), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--since %q is neither a time (2026-11-28T14:00:00Z), a date (2026-11-28) nor a duration back from now (90m, 2h, 3d)", s)
}

func newSearchCmd(g *globals) *cobra.Command {
	var roomRef string
	cmd := &cobra.Command{
		Use:   "search TEXT",
		Short: "Find messages in your rooms that contain TEXT, whatever marks their copies carry",
		Long: `Search the messages stored on this device, in every room or in --room only, for
the words of TEXT in that order. Every copy of a message carries its recipient's
canary marks (invisible characters, other quotes and dashes, other spellings), so
the comparison is made on the text with the marks folded away, ignoring case:
"it's" finds "it is" and "It’s". Each match prints the room, the time, the sender
and the line that holds the words. Nothing is fetched from the server.`,
		Example: `  backchannel search "second clause"
  backchannel search deadline --room talks --json`,
		Args: cobra.ExactArgs(1),
		RunE: g.withClient(func(cmd *cobra.Command, args []string, c *client.Client) error {
			hits, err := c.Search(cmd.Context(), args[0], roomRef)
			if errors.Is(err, client.ErrEmptySearch) {
				return usageError{err}
			}
			if err != nil {
				return err
			}
			if g.json {
				if hits == nil {
					hits = []client.Hit{}
				}
				for i := range hits {
					hits[i].Message.Outbox, hits[i].Message.Doc, hits[i].Message.CopySalt = "", nil, nil
				}
				return printJSON(cmd.OutOrStdout(), hits)
			}
			w := cmd.OutOrStdout()
			if len(hits) == 0 {
				fmt.Fprintln(w, "No message matches.")
			}
			for _, h := range hits {
				m := h.Message
				who := m.Sender + ": "
				if m.Kind == "system" {
					who = "* "
				}
				fmt.Fprintf(w, "%s  %s  %s%s\n", safeName(h.Label), m.SentAt.Local().Format("2006-01-02 15:04"), who, safe(h.Line))
			}
			return nil
		}),
	}
	cmd.Flags().StringVar(&roomRef, "room", "", "search this room only")
	return cmd
}
