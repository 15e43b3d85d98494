package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"backchannel/audio"
	audioeval "backchannel/audiomark/eval"
	"backchannel/canary"
	"backchannel/canary/eval"
	"backchannel/client"
)

// maxEvidenceBytes bounds a leak or export file read by verify and trace.
const maxEvidenceBytes = 32 << 20

// readEvidence reads a file, or stdin for "-", with a size limit.
func readEvidence(cmd *cobra.Command, g *globals, path string) ([]byte, error) {
	return readEvidenceUpTo(cmd, g, path, maxEvidenceBytes)
}

// readEvidenceUpTo is readEvidence with another bound (trace reads
// recordings up to audio.MaxFileBytes).
func readEvidenceUpTo(cmd *cobra.Command, g *globals, path string, limit int) ([]byte, error) {
	var r io.Reader
	if path == "-" {
		r = cmd.InOrStdin()
	} else {
		f, err := os.Open(g.env.path(path))
		if err != nil {
			return nil, readError(path, err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > limit {
		return nil, fmt.Errorf("%s is larger than %d MiB", path, limit>>20)
	}
	return b, nil
}

// colour reports whether the caller's stdout is a terminal that takes
// colour (human output is coloured then).
func (g *globals) colour() bool {
	v, _ := g.env.lookupEnv("NO_COLOR")
	return g.env.stdoutTTY && v == ""
}

func newVerifyCmd(g *globals) *cobra.Command {
	var room, bundle string
	var trusts []string
	var noProfile bool
	cmd := &cobra.Command{
		Use:   "verify (--room ROOM LEAK | --bundle FILE [--trust NAME=FINGERPRINT]...)",
		Short: "Check a leaked text line by line against a room, or an exported transcript offline",
		Long: `verify --room ROOM LEAK checks a published or leaked text (a file, or - for stdin;
retyped, re-wrapped, excerpted, with or without speaker labels, or the output of
'backchannel read' or 'chat') against the room's real messages: each line is
authentic, altered (with a word diff), fabricated, misattributed (the words are
real, the stated speaker is not, or one line merges two senders' messages) or
misdated (the stated time or date is not the message's). Room events ("* alice
added bob") are checked against the room's membership changes.

verify --bundle FILE checks a file written by 'backchannel transcript export' offline:
signatures, hash links, device lists, identities and every disclosed copy. A
member's identity counts only when someone vouches for it: the local profile
(if there is one, members whose safety numbers you compared) or --trust
NAME=FINGERPRINT with a fingerprint obtained from that person out of band
('backchannel keys fingerprint' prints it). Otherwise the report says
UNVERIFIED IDENTITIES and exits 3. --no-profile ignores the local profile.

Exit status 3 when anything is not authentic.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			w := cmd.OutOrStdout()
			switch {
			case bundle != "" && (room != "" || len(args) > 0):
				return usageError{errors.New("give either --bundle FILE or --room ROOM LEAK")}
			case bundle != "":
				data, err := readEvidence(cmd, g, bundle)
				if err != nil {
					return err
				}
				trust, err := bundleTrust(cmd, g, data, trusts, noProfile)
				if err != nil {
					return err
				}
				rep, err := client.VerifyExport(data, trust)
				if err != nil {
					return err
				}
				if g.json {
					if err := printJSON(w, rep); err != nil {
						return err
					}
				} else {
					if err := rep.WriteText(w, g.colour()); err != nil {
						return err
					}
					for _, c := range rep.Copies {
						mark := "authentic"
						if !c.Authentic {
							mark = "NOT AUTHENTIC: " + c.Problem
						} else if c.Note != "" {
							mark += " (" + c.Note + ")"
						}
						fmt.Fprintf(w, "  %s %s (%s, copy of %s): %s\n    %q\n", c.MessageID[:12], c.Sender, c.SentAt.Format(time.RFC3339), c.Recipient, mark, canary.Normalize(c.Text))
					}
				}
				if !rep.OK {
					if g.json {
						return reported{exitVerify} // the report says what failed
					}
					return verifyError{errors.New("the export does not verify")}
				}
				return nil
			case room == "" || len(args) != 1:
				return usageError{errors.New("verify needs --room ROOM LEAK, or --bundle FILE")}
			}
			data, err := readEvidence(cmd, g, args[0])
			if err != nil {
				return err
			}
			c, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer g.release(c)
			rep, err := c.VerifyLeak(cmd.Context(), room, data)
			if err != nil {
				return err
			}
			if g.json {
				b, err := rep.JSON()
				if err != nil {
					return err
				}
				fmt.Fprintln(w, string(b))
			} else if err := rep.WriteText(w, g.colour()); err != nil {
				return err
			}
			for _, l := range rep.Lines {
				if l.Verdict != "authentic" {
					if g.json {
						return reported{exitVerify} // the report says what failed
					}
					return verifyError{errors.New("the text contains lines that are not authentic")}
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&room, "room", "", "the room the text claims to come from")
	cmd.Flags().StringVar(&bundle, "bundle", "", "an exported transcript to check offline")
	cmd.Flags().StringArrayVar(&trusts, "trust", nil, "NAME=FINGERPRINT: vouch for a member's identity with a fingerprint obtained out of band (repeatable)")
	cmd.Flags().BoolVar(&noProfile, "no-profile", false, "with --bundle: do not use the local profile's verified keys")
	return cmd
}

func newTranscriptCmd(g *globals) *cobra.Command {
	tr := &cobra.Command{Use: "transcript", Short: "Export a room's signed transcript"}
	var from, to, only, out string
	var force bool
	export := &cobra.Command{
		Use:   "export ROOM [--from T] [--to T] [--only IDS] [-o FILE]",
		Short: "Write a self-contained bundle anyone can check with 'verify --bundle'",
		Long: `Export the room's transcript: every entry (so the chain can be checked) with the
selected messages disclosed and the rest as salted commitments only. Times are
RFC 3339 (2026-11-28T14:00:00Z); IDS are message ids or prefixes of 8+ characters,
comma-separated.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var tf, tt time.Time
			var err error
			if from != "" {
				if tf, err = time.Parse(time.RFC3339, from); err != nil {
					return usageError{fmt.Errorf("--from %q: give a time such as 2026-11-28T14:00:00Z (UTC) or 2026-11-28T15:00:00+01:00", from)}
				}
			}
			if to != "" {
				if tt, err = time.Parse(time.RFC3339, to); err != nil {
					return usageError{fmt.Errorf("--to %q: give a time such as 2026-11-28T14:00:00Z (UTC) or 2026-11-28T15:00:00+01:00", to)}
				}
			}
			var ids []string
			if only != "" {
				ids = strings.Split(only, ",")
			}
			c, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer g.release(c)
			data, err := c.ExportTranscript(cmd.Context(), args[0], tf, tt, ids)
			if err != nil {
				return err
			}
			if out == "" || out == "-" {
				_, err = cmd.OutOrStdout().Write(append(data, '\n'))
				return err
			}
			if err := g.writeFile(cmd.Context(), out, force, func(w io.Writer) error {
				_, err := w.Write(append(data, '\n'))
				return err
			}); err != nil {
				return err
			}
			var ex client.Export
			if err := json.Unmarshal(data, &ex); err != nil {
				return fmt.Errorf("read back the export: %w", err)
			}
			var signers []string
			seen := map[string]bool{}
			for _, c := range ex.Copies {
				if !seen[c.Sender] {
					seen[c.Sender] = true
					signers = append(signers, c.Sender)
				}
			}
			sort.Strings(signers)
			if g.json {
				if signers == nil {
					signers = []string{}
				}
				return printJSON(cmd.OutOrStdout(), map[string]any{"file": out, "room": args[0], "messages": len(ex.Copies), "signers": signers})
			}
			msg := fmt.Sprintf("Wrote %s: %d messages of %s", out, len(ex.Copies), safeName(args[0]))
			if len(ex.Copies) == 1 {
				msg = fmt.Sprintf("Wrote %s: 1 message of %s", out, safeName(args[0]))
			}
			if len(signers) > 0 {
				msg += ", signed by " + andList(signers)
			}
			fmt.Fprintln(cmd.OutOrStdout(), msg+". Anyone can check it with: backchannel verify --bundle "+out)
			return nil
		},
	}
	export.Flags().StringVar(&from, "from", "", "first time to disclose (RFC 3339)")
	export.Flags().StringVar(&to, "to", "", "last time to disclose (RFC 3339)")
	export.Flags().StringVar(&only, "only", "", "disclose only these message ids")
	export.Flags().StringVarP(&out, "output", "o", "", "write to FILE instead of stdout (an existing FILE only with --force)")
	export.Flags().BoolVar(&force, "force", false, "overwrite an existing FILE")
	tr.AddCommand(export)
	return tr
}

func newTraceCmd(g *globals) *cobra.Command {
	var room string
	var epsilon float64
	var pool poolFlags // pool.go
	cmd := &cobra.Command{
		Use:   "trace [--room ROOM] LEAK",
		Short: "Name the member whose marked copy of your messages or voice notes leaked (whose copy, not who leaked it), or say inconclusive",
		Long: `trace reads a leak (a file, or - for stdin), aligns it to the messages you sent,
reads the canary marks of each recipient's copy and names a member only when the
probability of accusing an innocent member is at most --epsilon (a proven bound).
Otherwise the verdict is "inconclusive", with an estimate of the text still needed.
With --pool, the room's members who consent pool their evidence about their own
messages in the leak, and one verdict with one bound combines it.

A recording (recognised by its content: WAV, FLAC, MP3; Ogg Opus, M4A and WebM
need ffmpeg) is looked for in the voice notes you sent, any stretch of at least
5 s from anywhere in a note, re-encoded, resampled, sped up or noisy, and the recipient whose copy
it is is named with the same kind of bound; or the verdict is inconclusive, with
about how many more seconds of recording would be needed, or the recording
matches none of your voice notes. Only the sender can trace a voice note: the
trace needs the unmarked original, which only the sender keeps.`,
		Args: pool.args,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !(epsilon > 0 && epsilon < 1) {
				return usageError{fmt.Errorf("--epsilon %g: give a probability between 0 and 1, such as 1e-6", epsilon)}
			}
			if pool.on() {
				return pool.run(cmd, g, room, epsilon, args)
			}
			data, err := readEvidenceUpTo(cmd, g, args[0], audio.MaxFileBytes)
			if err != nil {
				return err
			}
			isAudio := audio.Sniff(data) != audio.FormatUnknown
			if !isAudio && len(data) > maxEvidenceBytes {
				return fmt.Errorf("%s is larger than %d MiB", args[0], maxEvidenceBytes>>20)
			}
			c, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer g.release(c)
			if isAudio {
				return traceAudio(cmd, g, c, room, data, epsilon)
			}
			res, err := c.Trace(cmd.Context(), room, string(data), epsilon)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if g.json {
				return printJSON(w, res)
			}
			fmt.Fprintf(w, "verdict: %s (ε = %.0e; %d words matched, %d marks read)\n", res.Verdict, res.Epsilon, res.WordsMatched, res.SlotsRead)
			for _, s := range res.Suspects {
				fmt.Fprintln(w, "  "+suspectLine(s))
			}
			if len(res.Suspects) > 0 {
				fmt.Fprintln(w, "  "+canary.CopyCaveat)
			}
			for _, q := range res.Quotes {
				fmt.Fprintf(w, "  note: %d of the %d words matched in your message %s also appear in %s's message %s; the leak may be a copy of that message, which only %s can trace.\n",
					q.Words, q.MatchedWords, shortID(q.MessageID), q.By, shortID(q.InMessage), q.By)
			}
			if res.Verdict != canary.Identified {
				if res.MoreWordsNeeded > 0 {
					fmt.Fprintf(w, "  about %d more words of leaked text would be needed.\n", res.MoreWordsNeeded)
				} else {
					fmt.Fprintln(w, "  no usable marks: the text may not come from your messages, or was paraphrased beyond recognition.")
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&room, "room", "", "only this room's messages (default: all rooms)")
	cmd.Flags().Float64Var(&epsilon, "epsilon", canary.DefaultEpsilon, "largest acceptable probability of accusing an innocent member")
	pool.register(cmd)
	return cmd
}

// traceAudio is trace on a recording: TraceAudio's verdict in words.
func traceAudio(cmd *cobra.Command, g *globals, c *client.Client, room string, data []byte, epsilon float64) error {
	res, err := c.TraceAudio(cmd.Context(), room, data, epsilon)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	if g.json {
		return printJSON(w, res)
	}
	if !res.Matched {
		fmt.Fprintf(w, "verdict: inconclusive (ε = %.0e; %d voice notes searched)\n", res.Epsilon, res.Notes)
		fmt.Fprintln(w, "  the recording matches none of your voice notes.")
		return nil
	}
	verdict := "inconclusive"
	if len(res.Named) > 0 {
		verdict = "named: " + andList(res.Named)
	}
	fmt.Fprintf(w, "verdict: %s (ε = %.0e; %.0f s of your voice note %s in %s, sent %s, matched)\n",
		verdict, res.Epsilon, res.Seconds, shortID(res.MessageID), safeName(res.RoomName), res.SentAt.Local().Format("2006-01-02 15:04"))
	for _, s := range res.Scores {
		if s.Z < res.Threshold {
			continue
		}
		fmt.Fprintf(w, "  %s (score %.1f, threshold %.1f; probability that a given innocent member scores this high ≤ %s)\n", s.Recipient, s.Z, res.Threshold, s.BoundText())
	}
	if len(res.Named) > 0 {
		fmt.Fprintln(w, "  "+canary.CopyCaveat)
		return nil
	}
	if len(res.Scores) > 0 {
		fmt.Fprintf(w, "  best score %.1f (%s), threshold %.1f.\n", res.Scores[0].Z, res.Scores[0].Recipient, res.Threshold)
	}
	if res.MoreSeconds > 0 {
		fmt.Fprintf(w, "  about %.0f more seconds of recording would be needed.\n", res.MoreSeconds)
	} else {
		fmt.Fprintln(w, "  no sign of any recipient's mark: the recording may not come from a copy of this note, or was altered beyond what trace reads.")
	}
	return nil
}

func newEvalCmd(g *globals) *cobra.Command {
	ev := &cobra.Command{Use: "eval", Short: "Evaluation harnesses"}
	var cfg eval.Config
	trace := &cobra.Command{
		Use:   "trace",
		Short: "Simulate leaks over real prose and report identification and false-accusation rates",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cfg.CorpusDir != "" {
				cfg.CorpusDir = g.env.path(cfg.CorpusDir)
			}
			start := time.Now()
			tab, err := eval.Run(cmd.Context(), cfg, progressBar(cmd.ErrOrStderr(), start))
			fmt.Fprintln(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), tab)
			}
			fmt.Fprint(cmd.OutOrStdout(), tab.Markdown())
			return nil
		},
	}
	trace.Flags().StringVar(&cfg.CorpusDir, "corpus", "", "directory of *.txt prose (default: ../shared/corpus next to the repository)")
	trace.Flags().IntVar(&cfg.Trials, "trials", 0, "trials per condition (default 40)")
	trace.Flags().Uint64Var(&cfg.Seed, "seed", 1, "simulator seed")
	trace.Flags().BoolVar(&cfg.Quick, "quick", false, "a small grid (seconds, not minutes)")
	ev.AddCommand(trace, newEvalAudioCmd(g))
	return ev
}

func newEvalAudioCmd(g *globals) *cobra.Command {
	var cfg audioeval.Config
	cmd := &cobra.Command{
		Use:   "audio",
		Short: "Mark real speech, attack the copies with ffmpeg, trace excerpts and report detection, false-accusation and loudness figures",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			start := time.Now()
			rep, err := audioeval.Run(cmd.Context(), cfg, progressBar(cmd.ErrOrStderr(), start))
			fmt.Fprintln(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), rep)
			}
			fmt.Fprint(cmd.OutOrStdout(), rep.Markdown())
			return nil
		},
	}
	cmd.Flags().BoolVar(&cfg.Quick, "quick", false, "6 trials per row and 4 members (about a minute)")
	cmd.Flags().IntVar(&cfg.Trials, "trials", 0, "trials per attack and clip length (default 100)")
	cmd.Flags().IntVar(&cfg.Members, "members", 0, "recipients of the note (default 8)")
	cmd.Flags().Uint64Var(&cfg.Seed, "seed", 1, "seed for leakers, excerpts and noise")
	return cmd
}

// progressBar returns a progress callback drawing a bar on w.
func progressBar(w io.Writer, start time.Time) func(done, total int) {
	return func(done, total int) {
		if total == 0 {
			return
		}
		const width = 30
		n := done * width / total
		fmt.Fprintf(w, "\r[%s%s] %d/%d %s", strings.Repeat("=", n), strings.Repeat(" ", width-n), done, total, time.Since(start).Round(time.Second))
	}
}

// bundleTrust gathers who vouches for the identities in an export: the
// --trust fingerprints, and the local profile's verified contacts when a
// profile exists.
func bundleTrust(cmd *cobra.Command, g *globals, data []byte, trusts []string, noProfile bool) (client.Trust, error) {
	t := client.Trust{Fingerprints: map[string]string{}}
	for _, tr := range trusts {
		name, fp, ok := strings.Cut(tr, "=")
		if !ok || name == "" || fp == "" {
			return t, usageError{fmt.Errorf("--trust takes NAME=FINGERPRINT, not %q", tr)}
		}
		t.Fingerprints[name] = fp
	}
	if noProfile {
		return t, nil
	}
	home, err := g.homeDir()
	if err != nil {
		return t, nil
	}
	if _, err := os.Stat(filepath.Join(home, client.ProfileFile)); err != nil {
		return t, nil // no profile: only --trust vouches
	}
	names, err := client.ExportMembers(data)
	if err != nil {
		return t, err
	}
	c, err := g.open(cmd.Context())
	if err != nil {
		return t, err
	}
	defer g.release(c)
	pt := c.Trust(cmd.Context(), names)
	t.Keys, t.Pinned = pt.Keys, pt.Pinned
	return t, nil
}

// shortID shortens a message id for display.
func shortID(id string) string { return id[:min(12, len(id))] }

// suspectLine says in plain words what the evidence against a suspect is.
func suspectLine(s canary.Suspect) string { return s.Explain() }
