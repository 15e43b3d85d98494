package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"backchannel/client"
	"backchannel/server/apiclient"
)

// docJSON is a document as `share`, `docs` and `docs get` print it with
// --json. The blob id and the key stay in the profile.
type docJSON struct {
	ID     string    `json:"id"`
	Room   string    `json:"room"`
	Name   string    `json:"name"`
	Size   int64     `json:"size"`
	SHA256 string    `json:"sha256"`
	Sender string    `json:"sender"`
	SentAt time.Time `json:"sent_at"`
	Path   string    `json:"path,omitempty"` // docs get: where it was written
}

func docOf(m *client.Message) docJSON {
	return docJSON{ID: m.ID, Room: m.Room, Name: m.Doc.Name, Size: m.Doc.Size, SHA256: hex.EncodeToString(m.Doc.SHA256), Sender: m.Sender, SentAt: m.SentAt}
}

// docError gives document errors their documented exit codes: a document
// that is not in the room is "not found" (4), a corrupt or tampered one a
// failed verification (3), an ambiguous reference a usage error (2).
func docError(err error) error {
	switch {
	case errors.Is(err, client.ErrDocNotFound):
		return notFoundError{err}
	case errors.Is(err, client.ErrDocCorrupt):
		return verifyError{err}
	case errors.Is(err, client.ErrDocAmbiguous), errors.Is(err, client.ErrDocName):
		return usageError{err}
	}
	return err
}

// notFoundError makes exitCode report exitNotFound.
type notFoundError struct{ err error }

func (e notFoundError) Error() string        { return e.err.Error() }
func (e notFoundError) Unwrap() error        { return e.err }
func (e notFoundError) Is(target error) bool { return target == apiclient.ErrNotFound }

func newShareCmd(g *globals) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "share ROOM FILE",
		Short: "Share a document with a room (FILE, or - for stdin with --name)",
		Long: `Share a document with every member of a room.

The file is encrypted on this device with a fresh key (AES-256-GCM in 64 KiB
authenticated chunks) and uploaded as it is read, so any size up to the
server's blob limit (256 MiB by default) works in constant memory. The room's
members receive the key, the name, the size and the SHA-256 in an end-to-end
encrypted message; the server stores only ciphertext. Members fetch it with
'backchannel docs get ROOM NAME'.`,
		Example: `  backchannel share ceasefire draft-2.pdf
  pg_dump talks | backchannel share ceasefire - --name talks.sql`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			room, file := args[0], args[1]
			if file == "-" && name == "" {
				return usageError{errors.New("sharing stdin needs --name")}
			}
			if file != "-" {
				if _, err := os.Stat(g.env.path(file)); err != nil {
					return readError(file, err)
				}
			}
			c, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer g.release(c)
			var m *client.Message
			switch {
			case file == "-":
				m, err = c.ShareReader(cmd.Context(), room, name, cmd.InOrStdin())
			case name != "":
				var f *os.File
				if f, err = os.Open(g.env.path(file)); err != nil {
					return readError(file, err)
				}
				defer f.Close()
				m, err = c.ShareReader(cmd.Context(), room, name, f)
			default:
				m, err = c.Share(cmd.Context(), room, g.env.path(file))
			}
			if err != nil {
				return docError(err)
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), docOf(m))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Shared %s (%s) as %s.\n", safeName(m.Doc.Name), humanSize(m.Doc.Size), m.ID[:12])
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "the document's name for the room (default: the file's base name)")
	return cmd
}

func newDocsCmd(g *globals) *cobra.Command {
	var noSync bool
	docs := &cobra.Command{
		Use:   "docs ROOM",
		Short: "List a room's documents (syncs first unless --no-sync); 'docs get' downloads one",
		Long: `docs lists the documents shared in a room. Names are shown as their senders gave
them, with anything that could act on the terminal escaped (\x1b, \u202e); documents
whose names break the rule for names are refused when they arrive, with a warning.`,
		Example: `  backchannel docs ceasefire
  backchannel docs get ceasefire draft-2.pdf -o ~/Downloads/`,
		Args: cobra.ExactArgs(1),
		RunE: g.withClient(func(cmd *cobra.Command, args []string, c *client.Client) error {
			if !noSync {
				syncQuietly(cmd, c)
			}
			msgs, err := c.Docs(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if g.json {
				out := make([]docJSON, 0, len(msgs))
				for i := range msgs {
					out = append(out, docOf(&msgs[i]))
				}
				return printJSON(cmd.OutOrStdout(), out)
			}
			w := cmd.OutOrStdout()
			if len(msgs) == 0 {
				fmt.Fprintln(w, "No documents.")
				return nil
			}
			for _, m := range msgs {
				fmt.Fprintf(w, "%s  %s %9s  %-12s %s\n", m.ID[:12], padName(m.Doc.Name, 30), humanSize(m.Doc.Size), m.Sender, m.SentAt.Local().Format("2006-01-02 15:04"))
			}
			return nil
		}),
	}
	docs.PersistentFlags().BoolVar(&noSync, "no-sync", false, "use stored messages without contacting the server first")
	docs.AddCommand(newDocsGetCmd(g, &noSync))
	return docs
}

func newDocsGetCmd(g *globals, noSync *bool) *cobra.Command {
	var out string
	var force bool
	cmd := &cobra.Command{
		Use:   "get ROOM DOC [-o PATH]",
		Short: "Download, decrypt and verify a document (DOC: its id, an id prefix of 8+ characters, or its name)",
		Long: `Download a document shared in a room, decrypt it and verify it (every chunk is
authenticated; the size and the SHA-256 must match what the sender announced).

It is written to a temporary file next to the destination and renamed into
place only once verified, so a failed or tampered download leaves nothing
behind. The destination is -o PATH (a directory: the document's name in it;
-: standard output, where a failed download leaves partial output and a
non-zero exit code), by default the document's name in the current directory.

The name comes from the sender, so it is made a safe file name first: no path,
no control or invisible characters (a right-to-left override cannot hide the
real extension), runs of spaces folded, no leading dot or dash, no device name
such as CON; you are told when it changed. An existing file is not overwritten
without --force.`,
		Args: cobra.ExactArgs(2),
		RunE: g.withClient(func(cmd *cobra.Command, args []string, c *client.Client) error {
			if !*noSync {
				syncQuietly(cmd, c)
			}
			m, err := c.FindDoc(cmd.Context(), args[0], args[1])
			if err != nil {
				return docError(err)
			}
			dst, err := saveDownload(cmd, g, out, m.Doc.Name, force, func(w io.Writer) error {
				_, err := c.GetDoc(cmd.Context(), args[0], m.ID, w)
				return err
			})
			if err != nil || dst == "" {
				return err
			}
			if g.json {
				d := docOf(m)
				d.Path = dst
				return printJSON(cmd.OutOrStdout(), d)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Saved %s (%s, from %s) to %s; SHA-256 verified.\n", safeName(m.Doc.Name), humanSize(m.Doc.Size), m.Sender, safeLine(dst))
			if local := client.LocalFileName(m.Doc.Name); local != m.Doc.Name && filepath.Base(dst) == local {
				fmt.Fprintf(cmd.ErrOrStderr(), "note: the name the sender gave it, \"%s\", was made a safe file name.\n", safeName(m.Doc.Name))
			}
			return nil
		}),
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "where to write it: a file, a directory, or - for stdout (default: its name in the current directory)")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing file")
	return cmd
}

// saveDownload writes what get downloads to out, as docs get and voice
// save do: "-" is standard output (and dst is ""), anything else goes
// through destination (name is the default file name) and writeVerified.
func saveDownload(cmd *cobra.Command, g *globals, out, name string, force bool, get func(io.Writer) error) (dst string, err error) {
	if out == "-" {
		return "", docError(get(cmd.OutOrStdout()))
	}
	if dst, err = destination(g.env, out, name, force); err != nil {
		return "", err
	}
	if err := writeVerified(cmd.Context(), g.env.path(dst), force, get); err != nil {
		return "", docError(err)
	}
	return dst, nil
}

// syncQuietly syncs before a listing, like read: a failure only warns.
func syncQuietly(cmd *cobra.Command, c *client.Client) {
	rep, err := c.Sync(cmd.Context())
	if err != nil {
		warn(cmd.ErrOrStderr(), "could not sync, using stored messages: "+err.Error())
		return
	}
	for _, w := range rep.Warnings {
		warn(cmd.ErrOrStderr(), w)
	}
}

// destination picks the output path, as the caller named it (relative to
// the caller's working directory, env). The document's name comes from its
// sender, so it is reduced to a plain file name first.
func destination(env *callEnv, out, docName string, force bool) (string, error) {
	name := client.LocalFileName(docName)
	dst := out
	switch {
	case out == "":
		dst = name
	default:
		if st, err := os.Stat(env.path(out)); err == nil && st.IsDir() {
			dst = filepath.Join(out, name)
		}
	}
	st, err := os.Stat(env.path(dst))
	switch {
	case err == nil && st.IsDir():
		return "", usageError{fmt.Errorf("%s is a directory", dst)}
	case err == nil && !force:
		return "", errExists(dst)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return "", err
	}
	return dst, nil
}

// writeVerified runs write into a temporary file in dst's directory and
// moves it to dst only if write succeeds; without force it never replaces a
// file that appeared meanwhile.
func writeVerified(ctx context.Context, dst string, force bool, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".part-*")
	if err != nil {
		return err
	}
	// After a rename the temporary name is gone; after a link it is removed.
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if err := write(tmp); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if force {
		return os.Rename(tmp.Name(), dst)
	}
	// A hard link fails if dst exists: no window to clobber a file.
	if err := os.Link(tmp.Name(), dst); err != nil {
		if _, serr := os.Lstat(dst); errors.Is(err, fs.ErrExist) || serr == nil {
			return errExists(dst)
		}
		return os.Rename(tmp.Name(), dst) // a file system without hard links
	}
	return nil
}

func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
