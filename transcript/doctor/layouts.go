package doctor

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"backchannel/transcript/leak"
)

// Layout renders one labelled leaked line: the speaker's label (as the
// transcript labels them), the member id, the sending time as the leak
// shows it, and the text.
type Layout struct {
	Name string
	// Timed: the layout states a time (wrong times are generated).
	Timed bool
	// Own: backchannel's own output (read or chat); labels are member ids.
	Own    bool
	Render func(label, id string, at time.Time, text string) string
}

// Layouts are the label layouts of the benchmark: how transcripts are
// published, from backchannel's own `read` and `chat` output to Markdown
// tables, quoted e-mail and numbered minutes.
var Layouts = []Layout{
	{"NAME: text", false, false, func(l, id string, at time.Time, t string) string { return l + ": " + t }},
	{"[hh:mm] NAME: text", true, false, func(l, id string, at time.Time, t string) string {
		return "[" + at.Format("15:04") + "] " + l + ": " + t
	}},
	{"read: date time  id: text", true, true, func(l, id string, at time.Time, t string) string {
		return at.Format("2006-01-02 15:04") + "  " + id + ": " + t
	}},
	{"chat: time  id: text", true, true, func(l, id string, at time.Time, t string) string { return at.Format("15:04") + "  " + id + ": " + t }},
	{"[hh:mm] name — text", true, false, func(l, id string, at time.Time, t string) string {
		return "[" + at.Format("15:04") + "] " + id + " — " + t
	}},
	{"Name (role): text", false, false, func(l, id string, at time.Time, t string) string { return titleCase(l) + " (delegation): " + t }},
	{"| hh:mm | Name | text |", true, false, func(l, id string, at time.Time, t string) string {
		return "| " + at.Format("15:04") + " | " + titleCase(l) + " | " + t + " |"
	}},
	{"| Name | text |", false, false, func(l, id string, at time.Time, t string) string { return "| " + l + " | " + t + " |" }},
	{"> NAME: text", false, false, func(l, id string, at time.Time, t string) string { return "> " + l + ": " + t }},
	{"> **Name:** text", false, false, func(l, id string, at time.Time, t string) string { return "> **" + titleCase(l) + ":** " + t }},
	{"12. Name: text", false, false, func(l, id string, at time.Time, t string) string {
		return fmt.Sprintf("%d. %s: %s", 1+at.Minute(), titleCase(l), t)
	}},
	{"(12) Name — text", false, false, func(l, id string, at time.Time, t string) string {
		return fmt.Sprintf("(%d) %s — %s", 1+at.Second(), titleCase(l), t)
	}},
	{"**Name:** text", false, false, func(l, id string, at time.Time, t string) string { return "**" + titleCase(l) + ":** " + t }},
	{"**Name**: text", false, false, func(l, id string, at time.Time, t string) string { return "**" + titleCase(l) + "**: " + t }},
	{"__Name__: text", false, false, func(l, id string, at time.Time, t string) string { return "__" + titleCase(l) + "__: " + t }},
	{"name said: text", false, false, func(l, id string, at time.Time, t string) string { return id + " said: " + t }},
	{"Name wrote: text", false, false, func(l, id string, at time.Time, t string) string { return titleCase(l) + " wrote: " + t }},
	{"Name — text", false, false, func(l, id string, at time.Time, t string) string { return titleCase(l) + " — " + t }},
	{"NAME - text", false, false, func(l, id string, at time.Time, t string) string { return l + " - " + t }},
	{"<name> text", false, false, func(l, id string, at time.Time, t string) string { return "<" + id + "> " + t }},
	{"[Name] text", false, false, func(l, id string, at time.Time, t string) string { return "[" + titleCase(l) + "] " + t }},
	{"Name [hh:mm]: text", true, false, func(l, id string, at time.Time, t string) string {
		return titleCase(l) + " [" + at.Format("15:04") + "]: " + t
	}},
	{"Name (hh:mm): text", true, false, func(l, id string, at time.Time, t string) string {
		return titleCase(l) + " (" + at.Format("15:04") + "): " + t
	}},
	{"Name, hh:mm: text", true, false, func(l, id string, at time.Time, t string) string {
		return titleCase(l) + ", " + at.Format("15:04") + ": " + t
	}},
	{"hh:mm - Name: text", true, false, func(l, id string, at time.Time, t string) string {
		return at.Format("15:04") + " - " + titleCase(l) + ": " + t
	}},
	{"(hh:mm) NAME: text", true, false, func(l, id string, at time.Time, t string) string {
		return "(" + at.Format("15:04") + ") " + l + ": " + t
	}},
	{"hh:mm:ss NAME: text", true, false, func(l, id string, at time.Time, t string) string { return at.Format("15:04:05") + " " + l + ": " + t }},
	{"h:mm PM Name: text", true, false, func(l, id string, at time.Time, t string) string {
		return at.Format("3:04 PM") + " " + titleCase(l) + ": " + t
	}},
	{"hh:mm UTC NAME: text", true, false, func(l, id string, at time.Time, t string) string {
		return at.UTC().Format("15:04") + " UTC " + l + ": " + t
	}},
	{"- Name: text", false, false, func(l, id string, at time.Time, t string) string { return "- " + titleCase(l) + ": " + t }},
	{"* NAME: text", false, false, func(l, id string, at time.Time, t string) string { return "* " + l + ": " + t }},
	{"#12 name: text", false, false, func(l, id string, at time.Time, t string) string {
		return fmt.Sprintf("#%d %s: %s", 1+at.Minute(), id, t)
	}},
	{"Name > text", false, false, func(l, id string, at time.Time, t string) string { return titleCase(l) + " > " + t }},
	{"yyyy/mm/dd hh:mm Name: text", true, false, func(l, id string, at time.Time, t string) string {
		return at.Format("2006/01/02 15:04") + " " + titleCase(l) + ": " + t
	}},
}

// members returns the transcript's senders, sorted.
func (t Transcript) members() []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range t.Messages {
		if !seen[m.Sender] {
			seen[m.Sender] = true
			out = append(out, m.Sender)
		}
	}
	slices.Sort(out)
	return out
}

// Events returns the room's creation as a room event, as backchannel's
// history shows it to a member the creator (the first sender) added.
func (t Transcript) Events() []leak.Event {
	if len(t.Messages) == 0 {
		return nil
	}
	first := t.Messages[0]
	text := fmt.Sprintf("%s added you to %q (on-record) with %s", first.Sender, "talks", strings.Join(t.members(), ", "))
	return []leak.Event{{ID: "event-1", Actor: first.Sender, SentAt: first.SentAt.Add(-time.Minute), Texts: []string{text}}}
}
