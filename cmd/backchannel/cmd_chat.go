package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"backchannel/client"
)

func newChatCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "chat ROOM",
		Short: "Chat in a room interactively: new messages appear as they arrive, each line you type is sent",
		Long: `chat shows the room's latest messages, then stays connected: messages from the
others appear as they arrive (WebSocket push), and every line typed is sent to the
room. End with /quit or end of input (Ctrl-D).`,
		Args: cobra.ExactArgs(1),
		RunE: g.withClient(func(cmd *cobra.Command, args []string, c *client.Client) error {
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			if _, err := c.Sync(ctx); err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning: could not sync:", err)
			}
			r, msgs, err := c.History(ctx, args[0])
			if err != nil {
				return err
			}
			out := &chatView{w: cmd.OutOrStdout(), room: r.State.ID, me: c.User()}
			fmt.Fprintf(out.w, "# %s — %s room, marking: %s, members: %s (/quit to leave the chat)\n",
				safeName(r.State.Name), r.State.Mode, r.State.Marking, memberList(r))
			out.skip(msgs[:max(0, len(msgs)-20)])
			out.show(msgs[max(0, len(msgs)-20):], len(msgs))

			done := make(chan error, 1)
			go func() {
				done <- c.Follow(ctx, func(rep *client.SyncReport) {
					for _, w := range rep.Warnings {
						warn(cmd.ErrOrStderr(), w)
					}
					if _, all, err := c.History(ctx, out.room); err == nil {
						out.show(nil, len(all), all...)
					}
				})
			}()
			err = readLines(ctx, cmd.InOrStdin(), func(line string) error {
				if _, err := c.Send(ctx, out.room, line); err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "not sent:", err)
					return nil
				}
				if _, all, err := c.History(ctx, out.room); err == nil {
					out.show(nil, len(all), all...)
				}
				return nil
			})
			cancel()
			<-done
			return err
		}),
	}
}

// readLines calls send for every non-empty line until /quit or end of input.
func readLines(ctx context.Context, in io.Reader, send func(string) error) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), client.MaxTextBytes)
	for sc.Scan() && ctx.Err() == nil {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
		case line == "/quit":
			return nil
		default:
			if err := send(line); err != nil {
				return err
			}
		}
	}
	return sc.Err()
}

// chatView prints a room's messages once each, from two goroutines.
type chatView struct {
	mu    sync.Mutex
	w     io.Writer
	room  string
	me    string
	shown int
	// printed holds the ids shown: history is in causal order, so a late
	// message can appear before the end (with its notice) and is printed
	// when it arrives.
	printed map[string]bool
	inited  bool
}

// show prints msgs (the initial window) or, later, the entries of all not
// printed yet; total is the history's length.
func (v *chatView) show(msgs []client.Message, total int, all ...client.Message) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.inited {
		v.inited = true
		all = msgs
	}
	if v.printed == nil {
		v.printed = map[string]bool{}
	}
	for _, m := range all {
		if v.printed[m.ID] {
			continue
		}
		v.printed[m.ID] = true
		t := m.SentAt.Local().Format("15:04")
		switch m.Kind {
		case "system":
			fmt.Fprintf(v.w, "%s  * %s\n", t, safe(m.Text))
		case client.KindNotice:
			fmt.Fprintf(v.w, "%s  ! %s\n", t, safe(m.Text))
		default:
			fmt.Fprintf(v.w, "%s  %s: %s\n", t, m.Sender, safe(m.Text))
		}
	}
	v.shown = total
}

// skip marks msgs as shown without printing them (what precedes the
// initial window).
func (v *chatView) skip(msgs []client.Message) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.printed == nil {
		v.printed = map[string]bool{}
	}
	for _, m := range msgs {
		v.printed[m.ID] = true
	}
}
