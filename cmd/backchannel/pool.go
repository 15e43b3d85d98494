package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"backchannel/canary"
	"backchannel/client"
	"backchannel/tracepool"
)

// Pooled traces: `trace --room ROOM --pool LEAK` asks the room (poolFlags);
// `pool` lists, shows, answers and declines the requests a member received.

// poolFlags are trace's flags for a pooled trace.
type poolFlags struct {
	pool    bool
	wait    time.Duration
	request string
}

func (f *poolFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.pool, "pool", false, "ask the room's members to pool their evidence (needs --room); they answer with 'backchannel pool answer'")
	cmd.Flags().DurationVar(&f.wait, "wait", tracepool.DefaultWait, "with --pool: how long to wait for the members' answers")
	cmd.Flags().StringVar(&f.request, "request", "", "with --pool: combine the answers to an earlier request (its id) instead of asking again")
}

func (f *poolFlags) on() bool { return f.pool || f.request != "" }

// args is trace's argument check: one LEAK, or none when --request names
// an earlier pooled request.
func (f *poolFlags) args(cmd *cobra.Command, args []string) error {
	switch {
	case f.request != "" && len(args) > 0:
		return usageError{errors.New("--request combines the answers to an earlier request: give no LEAK with it")}
	case f.request == "" && len(args) != 1:
		return usageError{fmt.Errorf("trace takes one LEAK (a file, or - for stdin); got %d arguments", len(args))}
	}
	return nil
}

func (f *poolFlags) run(cmd *cobra.Command, g *globals, room string, epsilon float64, args []string) error {
	if f.wait < 0 || f.wait > 24*time.Hour {
		return usageError{fmt.Errorf("--wait %s: give a duration between 0 and 24h, such as 2m", f.wait)}
	}
	if f.request == "" && room == "" {
		return usageError{errors.New("--pool asks one room: give --room ROOM")}
	}
	var data []byte
	if f.request == "" {
		var err error
		if data, err = readEvidence(cmd, g, args[0]); err != nil {
			return err
		}
	}
	c, err := g.open(cmd.Context())
	if err != nil {
		return err
	}
	defer g.release(c)
	ctx := cmd.Context()
	id := f.request
	w := cmd.OutOrStdout()
	if id == "" {
		// The senders asked are those of the messages the leak matches:
		// fetch what arrived first, or a message not yet read leaves its
		// sender out.
		if _, err := c.Sync(ctx); err != nil {
			fmt.Fprintln(cmd.ErrOrStderr(), "warning: could not fetch new messages before asking:", err)
		}
		q, err := c.RequestPooledTrace(ctx, room, data, epsilon)
		if err != nil && !errors.Is(err, client.ErrNotDelivered) {
			return err
		}
		id = q.ID
		if !g.json {
			fmt.Fprintf(w, "asked the room to pool evidence (request %s); waiting up to %s for %s\n", tracepool.Short(id), f.wait, joinOr(q.Senders, "nobody else"))
		}
	}
	q, warnings, err := c.AwaitPooledTrace(ctx, id, f.wait)
	if err != nil {
		return err
	}
	for _, wn := range warnings {
		fmt.Fprintln(cmd.ErrOrStderr(), "warning:", wn)
	}
	res, err := c.PooledTrace(ctx, q.ID)
	if err != nil {
		return err
	}
	if g.json {
		return printJSON(w, res)
	}
	printPooled(w, res)
	return nil
}

func joinOr(names []string, none string) string {
	if len(names) == 0 {
		return none
	}
	return strings.Join(names, ", ")
}

func printPooled(w io.Writer, res *client.PooledResult) {
	r := res.Result
	fmt.Fprintf(w, "pooled verdict: %s (ε = %.0e; %d words matched, %d marks read, over the evidence of %d senders)\n",
		r.Verdict, r.Epsilon, r.WordsMatched, r.SlotsRead, contributors(res))
	for _, s := range r.Suspects {
		fmt.Fprintln(w, "  "+suspectLine(s))
	}
	if len(r.Suspects) > 0 {
		fmt.Fprintln(w, "  "+canary.CopyCaveat)
	} else if r.MoreWordsNeeded > 0 {
		fmt.Fprintf(w, "  about %d more words of leaked text would be needed.\n", r.MoreWordsNeeded)
	}
	fmt.Fprintln(w, "senders:")
	late := false
	for _, s := range res.Senders {
		name := s.Member
		if s.You {
			name += " (you)"
		}
		switch s.Status {
		case tracepool.Contributed:
			fmt.Fprintf(w, "  %s: contributed, %d marks read in %d words\n", name, s.SlotsRead, s.WordsMatched)
		case tracepool.Declined:
			fmt.Fprintf(w, "  %s: declined\n", name)
		case tracepool.TooLittle:
			fmt.Fprintf(w, "  %s: too little of their text in the leak to return any score\n", name)
		default:
			late = true
			why := "no answer (offline, or the answer did not arrive)"
			if s.Reason != "" {
				why = s.Reason
			}
			fmt.Fprintf(w, "  %s: %s\n", name, why)
		}
	}
	if late {
		fmt.Fprintf(w, "Late answers can be combined later: backchannel trace --pool --request %s\n", tracepool.Short(res.Request))
	}
}

func contributors(res *client.PooledResult) int {
	n := 0
	for _, s := range res.Senders {
		if s.Status == tracepool.Contributed {
			n++
		}
	}
	return n
}

func newPoolCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pool",
		Short: "The trace requests other members sent you: list, show, answer, decline",
		Long: `A member investigating a leak can ask the room to pool evidence
('backchannel trace --room ROOM --pool LEAK'). Your client never answers on its
own: you read the leaked text ('pool show'), then answer ('pool answer', which
sends the requester your contribution: per-member match scores for that text
over your own messages, never your marks or your key) or decline. You can give
a standing consent for one room ('pool consent ROOM on').`,
		Example: `  backchannel pool list
  backchannel pool show ab12cd34
  backchannel pool answer ab12cd34
  backchannel pool decline ab12cd34`,
	}
	list := &cobra.Command{
		Use:   "list [ROOM]",
		Short: "List the trace requests you received, and what you did with each",
		Long:  "list fetches new messages, then shows every trace request you received (in ROOM, or in every room), newest last, with its state: pending, answered, declined or refused (beyond the rate limit).",
		Example: `  backchannel pool list
  backchannel pool list talks --json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			room := ""
			if len(args) == 1 {
				room = args[0]
			}
			c, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer g.release(c)
			if _, err := c.Sync(cmd.Context()); err != nil { // requests arrive as messages
				fmt.Fprintln(cmd.ErrOrStderr(), "warning: could not fetch new requests:", err)
			}
			reqs, err := c.TraceRequests(cmd.Context(), room)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if g.json {
				type item struct {
					ID        string    `json:"id"`
					Room      string    `json:"room"`
					Requester string    `json:"requester"`
					At        time.Time `json:"at"`
					Words     int       `json:"words"`
					Epsilon   float64   `json:"epsilon"`
					State     string    `json:"state"`
					Note      string    `json:"note,omitempty"`
				}
				out := []item{}
				for _, in := range reqs {
					out = append(out, item{in.ID, in.Room, in.Requester, in.At, len(strings.Fields(string(in.Leak))), in.Epsilon, in.State, in.Note})
				}
				return printJSON(w, out)
			}
			if len(reqs) == 0 {
				fmt.Fprintln(w, "No trace requests.")
				return nil
			}
			for _, in := range reqs {
				fmt.Fprintf(w, "%s  %s  from %s, %d words: %s", tracepool.Short(in.ID), in.At.Local().Format("2006-01-02 15:04"), in.Requester, len(strings.Fields(string(in.Leak))), in.State)
				if in.Note != "" {
					fmt.Fprintf(w, " (%s)", in.Note)
				}
				fmt.Fprintln(w)
			}
			return nil
		},
	}
	show := &cobra.Command{
		Use:     "show REQUEST",
		Short:   "Print the leaked text a trace request asks about",
		Long:    "show prints the leaked text of a trace request, exactly as the requester sent it, so you can judge it before answering.",
		Example: `  backchannel pool show ab12cd34`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer g.release(c)
			in, err := findRequest(cmd, c, args[0])
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if g.json {
				return printJSON(w, map[string]any{"id": in.ID, "requester": in.Requester, "epsilon": in.Epsilon, "state": in.State, "leak": string(in.Leak)})
			}
			fmt.Fprintf(w, "request %s from %s (%s), ε = %.0e; the leaked text:\n", tracepool.Short(in.ID), in.Requester, in.State, in.Epsilon)
			fmt.Fprintln(w, strings.TrimRight(string(in.Leak), "\n"))
			return nil
		},
	}
	answer := func(consent bool) *cobra.Command {
		use, short, long, ex := "answer REQUEST", "Send the requester your evidence about the leak of one trace request",
			"answer computes, over your own messages in the room, how well the leaked text matches each member's copy, and sends those scores (never your marks or your key) to the requester only. A request is answered once.",
			`  backchannel pool answer ab12cd34`
		if !consent {
			use, short, long, ex = "decline REQUEST", "Decline a trace request (the requester sees that you declined)",
				"decline tells the requester, and only the requester, that you decline to contribute to this trace.",
				`  backchannel pool decline ab12cd34`
		}
		return &cobra.Command{
			Use: use, Short: short, Long: long, Example: ex,
			Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := g.open(cmd.Context())
				if err != nil {
					return err
				}
				defer g.release(c)
				in, err := findRequest(cmd, c, args[0])
				if err != nil {
					return err
				}
				a, err := c.AnswerTraceRequest(cmd.Context(), in.ID, consent)
				if err != nil && !errors.Is(err, client.ErrNotDelivered) {
					return err
				}
				w := cmd.OutOrStdout()
				if g.json {
					return printJSON(w, map[string]any{"request": in.ID, "requester": in.Requester, "status": a.Status, "queued": err != nil})
				}
				switch a.Status {
				case tracepool.Contributed:
					fmt.Fprintf(w, "Sent %s your evidence for request %s.\n", in.Requester, tracepool.Short(in.ID))
				case tracepool.TooLittle:
					fmt.Fprintf(w, "Told %s that too little of your text is in the leak of request %s to return any score.\n", in.Requester, tracepool.Short(in.ID))
				default:
					fmt.Fprintf(w, "Declined request %s; %s sees that you declined.\n", tracepool.Short(in.ID), in.Requester)
				}
				if err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "warning:", err)
				}
				return nil
			},
		}
	}
	consent := &cobra.Command{
		Use:   "consent ROOM on|off",
		Short: "Answer every trace request in a room without asking (on), or ask again (off)",
		Long:  "consent on makes your client answer every trace request in ROOM as 'pool answer' would, within the rate limit; every request is still shown in the room. consent off asks you again for each request.",
		Example: `  backchannel pool consent talks on
  backchannel pool consent talks off`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[1] != "on" && args[1] != "off" {
				return usageError{fmt.Errorf("consent takes on or off, not %q", args[1])}
			}
			c, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer g.release(c)
			if err := c.SetTraceConsent(cmd.Context(), args[0], args[1] == "on"); err != nil {
				return err
			}
			if args[1] == "on" {
				fmt.Fprintf(cmd.OutOrStdout(), "Trace requests in %q are answered without asking from now on.\n", args[0])
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "Trace requests in %q wait for your answer from now on.\n", args[0])
			}
			return nil
		},
	}
	cmd.AddCommand(list, show, answer(true), answer(false), consent)
	return cmd
}

// findRequest finds a received request by id or prefix; one not received
// yet is fetched first (a request arrives as a message).
func findRequest(cmd *cobra.Command, c *client.Client, id string) (*tracepool.Incoming, error) {
	find := func() (*tracepool.Incoming, error) {
		reqs, err := c.TraceRequests(cmd.Context(), "")
		if err != nil {
			return nil, err
		}
		l := tracepool.Ledger{Requests: reqs}
		return l.Find(id)
	}
	in, err := find()
	if !errors.Is(err, tracepool.ErrUnknownRequest) {
		return in, err
	}
	if _, serr := c.Sync(cmd.Context()); serr != nil {
		return nil, fmt.Errorf("%w, and new messages could not be fetched: %v", err, serr)
	}
	return find()
}
