package tui

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Command is one line of the composer: text to send (Name "") or a local
// command with its argument.
type Command struct {
	Name string // "", "help", "who", "verify", "share", "leave", "quit"
	Arg  string // the text to send, or the command's argument
}

// commands are the local commands, with their argument and what they do.
var commands = []struct{ name, arg, help string }{
	{"help", "", "this list"},
	{"who", "", "the members and who is verified"},
	{"verify", "NAME", "the safety number to compare with NAME"},
	{"share", "FILE", "share a file, marked for each member"},
	{"leave", "", "leave the room; the others are told"},
	{"quit", "", "close the chat (Ctrl-C too)"},
}

// ErrMissingArgument: a local command that needs an argument came without.
var ErrMissingArgument = errors.New("missing argument")

// Parse reads one composer line. A line starting with "/" is a local
// command; "//" at the start sends the rest starting with "/". Parse never
// turns a line starting with "/" into text to send, except through "//".
func Parse(line string) (Command, error) {
	line = strings.TrimSpace(line)
	if strings.HasPrefix(line, "//") {
		return Command{Arg: line[1:]}, nil
	}
	if !strings.HasPrefix(line, "/") {
		return Command{Arg: line}, nil
	}
	name, arg, _ := strings.Cut(line[1:], " ")
	name, arg = strings.ToLower(name), strings.TrimSpace(arg)
	for _, c := range commands {
		if c.name != name {
			continue
		}
		if c.arg != "" && arg == "" {
			return Command{}, fmt.Errorf("%w: /%s needs %s (/%s %s)", ErrMissingArgument, name, article(c.arg), name, c.arg)
		}
		if c.arg == "" && arg != "" {
			return Command{}, fmt.Errorf("/%s takes nothing after it", name)
		}
		return Command{Name: name, Arg: arg}, nil
	}
	shown := name
	if len([]rune(shown)) > 20 {
		shown = string([]rune(shown)[:20]) + "…"
	}
	return Command{}, fmt.Errorf("%w /%s: nothing was sent (/help lists the commands; start with // to send a line that begins with /)", ErrUnknownCommand, sanitizeLine(shown))
}

func article(arg string) string {
	if arg == "FILE" {
		return "a file"
	}
	return "a name"
}

// HelpLines lists the local commands.
func HelpLines() []string {
	out := []string{"Commands (never sent; // sends a line that starts with /):"}
	for _, c := range commands {
		use := "/" + c.name
		if c.arg != "" {
			use += " " + c.arg
		}
		out = append(out, fmt.Sprintf("  %-13s %s", use, c.help))
	}
	return out
}

// Outcome is what a local command did.
type Outcome struct {
	Lines    []string // to show
	Sent     *Message // a message it sent (/share)
	Warnings []string
	Quit     bool // /quit
	Left     bool // /leave succeeded
}

// Execute runs a local command in room. It blocks on the backend.
func Execute(ctx context.Context, b Backend, room Room, c Command) (Outcome, error) {
	switch c.Name {
	case "help":
		return Outcome{Lines: HelpLines()}, nil
	case "quit":
		return Outcome{Quit: true}, nil
	case "who":
		return Outcome{Lines: whoLines(b.Me(), room)}, nil
	case "verify":
		user, confirm, _ := strings.Cut(c.Arg, " ")
		confirm = strings.TrimSpace(confirm)
		if confirm != "" && confirm != "confirm" {
			return Outcome{}, fmt.Errorf("/verify %s: the only word allowed after the name is confirm", sanitizeLine(user))
		}
		if user == b.Me() {
			return Outcome{}, errors.New("that is you: a safety number is compared with someone else")
		}
		s, err := b.Verify(ctx, user, confirm != "")
		if err != nil {
			return Outcome{}, fmt.Errorf("safety number with %s: %w", sanitizeLine(user), err)
		}
		return Outcome{Lines: safetyLines(s, confirm != "")}, nil
	case "share":
		m, warns, err := b.Share(ctx, room.ID, c.Arg)
		if err != nil {
			return Outcome{}, fmt.Errorf("share %s: %w", sanitizeLine(c.Arg), err)
		}
		return Outcome{Sent: &m, Warnings: warns}, nil
	case "leave":
		if err := b.Leave(ctx, room.ID); err != nil {
			return Outcome{}, fmt.Errorf("leave %s: %w", sanitizeLine(room.Name), err)
		}
		return Outcome{Left: true, Lines: []string{"You left " + sanitizeLine(room.Name) + ". The others were told; /quit closes the chat."}}, nil
	case "":
		return Outcome{}, errors.New("nothing to run")
	}
	return Outcome{}, fmt.Errorf("%w /%s", ErrUnknownCommand, c.Name)
}

func whoLines(me string, r Room) []string {
	members := append([]string(nil), r.Members...)
	sort.Strings(members)
	out := []string{fmt.Sprintf("%s: %s room, marking %s, %d members:", sanitizeLine(r.Name), r.Mode, r.Marking, len(members))}
	for _, m := range members {
		switch {
		case m == me:
			out = append(out, "  "+sanitizeLine(m)+" (you)")
		case r.Verified[m]:
			out = append(out, "  "+sanitizeLine(m)+" ✓ safety number compared")
		default:
			out = append(out, "  "+sanitizeLine(m)+" ? not verified: /verify "+sanitizeLine(m))
		}
	}
	return out
}

func safetyLines(s Safety, confirmed bool) []string {
	var out []string
	name := sanitizeLine(s.User)
	if s.Previous != "" {
		out = append(out, name+"'s account key CHANGED. The number you had:", "  "+s.Previous, "The new number:")
	} else {
		out = append(out, "Safety number with "+name+":")
	}
	for _, l := range strings.Split(s.Number, "\n") {
		out = append(out, "  "+l)
	}
	out = append(out, "Read all 12 groups aloud to each other, in person or on a call (comparing only the first groups proves nothing).")
	switch {
	case confirmed:
		out = append(out, "Recorded: "+name+" is verified.")
	case s.Verified:
		out = append(out, name+" is verified.")
	default:
		out = append(out, name+" is NOT verified. If every group matched: /verify "+name+" confirm")
	}
	return out
}
