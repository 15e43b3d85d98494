package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"backchannel/client"
	"backchannel/identity"
	"backchannel/server/api"
)

func newInitCmd(g *globals) *cobra.Command {
	var serverURL, name, invite, linkCode, deviceName string
	var yes, generate bool
	cmd := &cobra.Command{
		Use:   "init (--server URL --name NAME [--invite TOKEN] | --link CODE)",
		Short: "Create a client profile: a new account, or a new device of your account",
		Long: `init creates a client profile in --home: a new account on a server, or (--link)
a new device of your account.

The profile is encrypted under a passphrase that you type twice on the terminal,
take from $BACKCHANNEL_PASSPHRASE (scripts), or let --generate-passphrase choose.
It must have at least 12 characters and not be one character or a short pattern
repeated: whoever copies the profile can try passphrases offline, and only length
slows that down. Several words are easiest to type and to remember.`,
		Example: `  backchannel init --server https://bc.example.org --name alice --invite bci_...
  backchannel --home ~/.backchannel-laptop init --link bcl1-... --device-name laptop`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			home, err := g.homeDir()
			if err != nil {
				return err
			}
			if linkCode != "" {
				if serverURL != "" || name != "" || invite != "" {
					return usageError{errors.New("init --link takes the code only: the server and the name come from your primary device")}
				}
				pw, err := g.newPassphrase(cmd.ErrOrStderr(), "BACKCHANNEL_PASSPHRASE", generate)
				if err != nil {
					return err
				}
				c, err := client.InitLinked(cmd.Context(), home, linkCode, deviceName, pw, func(sas string) (bool, error) { return g.confirmSAS(cmd, sas, yes) }, client.Options{})
				if err != nil {
					return err
				}
				defer c.Close()
				if g.json {
					return printJSON(cmd.OutOrStdout(), map[string]any{"user": c.User(), "server": c.Server(), "home": home, "device": c.DeviceID()})
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Linked: this is device %d of %s on %s; profile in %s.\n", c.DeviceID(), c.User(), c.Server(), home)
				return nil
			}
			if serverURL == "" || name == "" {
				return usageError{errors.New("init needs --server and --name (or --link CODE from your primary device)")}
			}
			if !api.ValidName(name) {
				return usageError{fmt.Errorf("--name %q: a name is 1 to 32 lowercase letters, digits, - or _", name)}
			}
			if u, err := url.Parse(serverURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return usageError{fmt.Errorf("--server %q: give the server's URL, such as https://bc.example.org or http://127.0.0.1:7450", serverURL)}
			}
			pw, err := g.newPassphrase(cmd.ErrOrStderr(), "BACKCHANNEL_PASSPHRASE", generate)
			if err != nil {
				return err
			}
			c, err := client.Init(cmd.Context(), home, serverURL, name, invite, pw, client.Options{DeviceName: deviceName})
			if err != nil {
				return err
			}
			defer c.Close()
			if g.json {
				return printJSON(cmd.OutOrStdout(), map[string]any{"user": name, "server": serverURL, "home": home, "identity_key": fmt.Sprintf("%x", c.IdentityKey())})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Registered %s on %s; profile in %s.\n", name, serverURL, home)
			return nil
		},
	}
	cmd.Flags().StringVar(&serverURL, "server", "", "server URL, e.g. http://127.0.0.1:7450")
	cmd.Flags().StringVar(&name, "name", "", "user name ([a-z0-9_-], at most 32)")
	cmd.Flags().StringVar(&invite, "invite", "", "invite token from the server's operator")
	cmd.Flags().StringVar(&linkCode, "link", "", "join your account as a new device, with the code 'backchannel devices link' prints")
	cmd.Flags().StringVar(&deviceName, "device-name", "", "this device's name in your device list (default: the host name)")
	cmd.Flags().BoolVar(&yes, "yes", false, "with --link: do not ask to compare the codes (scripts)")
	cmd.Flags().BoolVar(&generate, "generate-passphrase", false, "generate the profile's passphrase (125 random bits) and print it once")
	return cmd
}

func newKeysCmd(g *globals) *cobra.Command {
	keys := &cobra.Command{
		Use:   "keys",
		Short: "Compare, verify and accept the keys of the people you talk to",
		Long: `Every account has an account key that signs the list of its devices. Your client
pins a person's key the first time it sees it; until you compare safety numbers
(in person, or on a call you trust) that person is shown as unverified.

  backchannel keys verify bob            show the safety number to compare
  backchannel keys verify bob --confirm  record that all 12 groups matched
  backchannel keys accept bob            accept bob's changed key or new device
  backchannel keys fingerprint [bob]     the fingerprint that transcript exports list
  backchannel keys unverify bob          forget the verification`,
	}
	var confirm bool
	verify := &cobra.Command{
		Use:   "verify NAME",
		Short: "Show the safety number to compare with NAME out of band (--confirm once it matches)",
		Example: `  backchannel keys verify bob
  backchannel keys verify bob --confirm`,
		Args: cobra.ExactArgs(1),
		RunE: g.withClient(func(cmd *cobra.Command, args []string, c *client.Client) error {
			n, old, err := c.SafetyNumber(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if confirm {
				if err := c.MarkVerified(cmd.Context(), args[0]); err != nil {
					return err
				}
			}
			verified := c.Verified(cmd.Context(), []string{args[0]})[args[0]]
			if g.json {
				out := map[string]any{"user": args[0], "safety_number": n, "verified": verified}
				if old != "" {
					out["previous_safety_number"] = old
				}
				return printJSON(cmd.OutOrStdout(), out)
			}
			w := cmd.OutOrStdout()
			if old != "" {
				fmt.Fprintf(w, "%s's account key CHANGED. The number you had:\n\n%s\n\nThe new number:\n\n", args[0], identity.FormatSafetyNumber(old))
			} else {
				fmt.Fprintf(w, "Safety number with %s:\n\n", args[0])
			}
			fmt.Fprintf(w, "%s\n\nRead all 12 groups aloud to each other (half of the number is your own key, so\ncomparing only the first groups proves nothing).\n", identity.FormatSafetyNumber(n))
			switch {
			case confirm:
				fmt.Fprintf(w, "Recorded: %s is verified.\n", args[0])
			case verified:
				fmt.Fprintf(w, "%s is verified.\n", args[0])
			default:
				fmt.Fprintf(w, "%s is NOT verified. If every group matched: backchannel keys verify %s --confirm\n", args[0], args[0])
			}
			return nil
		}),
	}
	verify.Flags().BoolVar(&confirm, "confirm", false, "record that you compared all 12 groups and they matched")
	accept := &cobra.Command{
		Use:   "accept NAME",
		Short: "Accept NAME's changed account key or newly linked devices, so that sending resumes",
		Long: `When a person's account key changes (a reinstall, or someone else) or they link
a new device, sending to them waits (always for a changed key; for a new device
when they are verified or the room is on-record). Check with them first, then
accept. An accepted new key is NOT verified: compare safety numbers again.`,
		Example: `  backchannel keys accept bob`,
		Args:    cobra.ExactArgs(1),
		RunE: g.withClient(func(cmd *cobra.Command, args []string, c *client.Client) error {
			evs, err := c.AcceptChange(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), map[string]any{"user": args[0], "accepted": evs})
			}
			if len(evs) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "Nothing to accept for %s.\n", args[0])
			}
			for _, ev := range evs {
				fmt.Fprintln(cmd.OutOrStdout(), safeLine(capitalize(ev.Text))+".")
			}
			return nil
		}),
	}
	fingerprint := &cobra.Command{
		Use:   "fingerprint [NAME]",
		Short: "Print the fingerprint of your account key (or NAME's), as transcript exports list it",
		Long: `A fingerprint identifies an account key in exported transcripts. Give yours to
anyone who will check your exports (for example a journalist): they pass it to
'backchannel verify --bundle FILE --trust NAME=FINGERPRINT'.`,
		Example: `  backchannel keys fingerprint
  backchannel keys fingerprint bob`,
		Args: cobra.MaximumNArgs(1),
		RunE: g.withClient(func(cmd *cobra.Command, args []string, c *client.Client) error {
			name := c.User()
			if len(args) == 1 {
				name = args[0]
			}
			fp, err := c.Fingerprint(cmd.Context(), name)
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), map[string]any{"user": name, "fingerprint": fp})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s  %s\n", name, fp)
			return nil
		}),
	}
	unverify := &cobra.Command{
		Use:   "unverify NAME",
		Short: "Forget that you compared NAME's safety number",
		Args:  cobra.ExactArgs(1),
		RunE: g.withClient(func(cmd *cobra.Command, args []string, c *client.Client) error {
			if err := c.Unverify(cmd.Context(), args[0]); err != nil {
				return err
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), map[string]any{"user": args[0], "verified": false})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s is no longer verified.\n", args[0])
			return nil
		}),
	}
	audit := &cobra.Command{
		Use:   "audit",
		Short: "Check your own account in the server's key log (what everyone who looks you up sees)",
		Long: `audit looks your account up in the key log, verifies the proof, and compares what the
log holds with the device lists your own devices published: every version of your
device list, and whether anyone else's key or list was logged under your name.
Exit status 3 when there is an alert; --json has an "alerts" array that is empty only
when every version was published by your own devices. Your devices also check this
by themselves at start and every 3 hours.`,
		Example: "  backchannel keys audit --json",
		Args:    cobra.NoArgs,
		RunE: g.withClient(func(cmd *cobra.Command, args []string, c *client.Client) error {
			a, err := c.AuditLog(cmd.Context())
			if err != nil {
				return err
			}
			if g.json {
				if err := printJSON(cmd.OutOrStdout(), a); err != nil {
					return err
				}
			} else {
				w := cmd.OutOrStdout()
				fmt.Fprintf(w, "Key log: your entry changed %d times; it holds version %d of your device list.\n", a.Updates, a.Version)
				for _, v := range a.Versions {
					mark := "published by your devices"
					if !v.Known {
						mark = "NOT PUBLISHED BY YOUR DEVICES"
					}
					fmt.Fprintf(w, "  version %d  %s  %s  (%s)\n", v.Version, v.IssuedAt.Local().Format("2006-01-02 15:04"), safeLine(strings.Join(v.Devices, ", ")), mark)
				}
				for _, l := range a.Listings {
					mark := fmt.Sprintf("change %d, published by your devices", l.Updates)
					if l.Alert != "" {
						mark = strings.ToUpper(l.Alert)
					}
					fmt.Fprintf(w, "  listed at epoch %d  (%s)\n", l.Epoch, mark)
				}
				for _, al := range a.Alerts {
					fmt.Fprintf(w, "ALERT: %s\n", safeLine(al))
				}
				if len(a.Alerts) == 0 {
					fmt.Fprintln(w, "No alerts: every version was published by your own devices.")
				}
			}
			if len(a.Alerts) > 0 {
				if g.json {
					return reported{exitVerify} // the report says what failed
				}
				return verifyError{errors.New("the key log shows versions of your account that your devices did not publish")}
			}
			return nil
		}),
	}
	keys.AddCommand(verify, accept, fingerprint, unverify, audit)
	return keys
}

// memberList names a room's members, marking those whose safety numbers
// were not compared.
func memberList(r *client.Room) string {
	var out []string
	for _, m := range r.State.Members {
		if r.Verified != nil && !r.Verified[m] {
			m += " (unverified)"
		}
		out = append(out, m)
	}
	return strings.Join(out, ", ")
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func newDevicesCmd(g *globals) *cobra.Command {
	devices := &cobra.Command{
		Use:   "devices",
		Short: "List your account's devices (from its signed device list)",
		Long: `Your account key signs the list of your devices; your contacts encrypt only to the
devices in it, and see a notice whenever it changes.

  backchannel devices            list them
  backchannel devices remove ID  remove one (primary device only); it receives nothing new`,
		Args: cobra.NoArgs,
		RunE: g.withClient(func(cmd *cobra.Command, args []string, c *client.Client) error {
			ds, err := c.Devices(cmd.Context())
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), ds)
			}
			for _, d := range ds {
				this := ""
				if d.This {
					this = "  (this device)"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%3d  %s added %s%s\n", d.ID, padName(d.Name, 24), d.AddedAt.Local().Format("2006-01-02 15:04"), this)
			}
			return nil
		}),
	}
	remove := &cobra.Command{
		Use:     "remove ID",
		Short:   "Remove a device from your account (primary device only)",
		Example: "  backchannel devices remove 2",
		Args:    cobra.ExactArgs(1),
		RunE: g.withClient(func(cmd *cobra.Command, args []string, c *client.Client) error {
			id, err := strconv.ParseUint(args[0], 10, 32)
			if err != nil {
				return usageError{fmt.Errorf("a device id is a number (see: backchannel devices), not %q", args[0])}
			}
			if err := c.RemoveDevice(cmd.Context(), uint32(id)); err != nil {
				return err
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), map[string]any{"removed": id})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Removed device %d; it receives nothing new.\n", id)
			return nil
		}),
	}
	var yes bool
	linkCmd := &cobra.Command{
		Use:   "link",
		Short: "Link a new device to your account (primary device only)",
		Long: `link prints a one-time code on its first line (with --json, the first line is
{"code": "..."}) and waits up to 10 minutes. On the new device run:

  backchannel --home DIR init --link CODE

Both devices then show the same 12-digit code: compare them, and confirm here
(--yes skips the question, for scripts). The new device gets its own keys; your
account key stays on this device. Your contacts see that you linked a device.`,
		Example: "  backchannel devices link",
		Args:    cobra.NoArgs,
		RunE: g.withClient(func(cmd *cobra.Command, args []string, c *client.Client) error {
			w := cmd.OutOrStdout()
			d, err := c.LinkDevice(cmd.Context(), func(code string) error {
				if g.json {
					b, _ := json.Marshal(map[string]string{"code": code})
					_, err := fmt.Fprintf(w, "%s\n", b)
					return err
				}
				_, err := fmt.Fprintf(w, "%s\n\nOn the new device run:\n  backchannel --home DIR init --link %s\nWaiting for it (up to 10 minutes)...\n", code, code)
				return err
			}, func(sas string) (bool, error) { return g.confirmSAS(cmd, sas, yes) })
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(w, d)
			}
			fmt.Fprintf(w, "Linked device %d \"%s\".\n", d.ID, safeName(d.Name))
			return nil
		}),
	}
	linkCmd.Flags().BoolVar(&yes, "yes", false, "do not ask to compare the codes (scripts)")
	devices.AddCommand(remove, linkCmd)
	return devices
}

// confirmSAS shows the short authentication string and asks whether the
// other device shows the same.
func (g *globals) confirmSAS(cmd *cobra.Command, sas string, yes bool) (bool, error) {
	fmt.Fprintf(cmd.ErrOrStderr(), "Both devices must show: %s\n", sas)
	if yes {
		return true, nil
	}
	if !g.env.stdinTTY {
		return false, usageError{errors.New("cannot ask to compare the codes without a terminal: pass --yes after comparing them some other way")}
	}
	fmt.Fprint(cmd.ErrOrStderr(), "Does the other device show the same? [y/N] ")
	var answer string
	fmt.Fscanln(cmd.InOrStdin(), &answer)
	return strings.EqualFold(strings.TrimSpace(answer), "y") || strings.EqualFold(strings.TrimSpace(answer), "yes"), nil
}

func newSettingsCmd(g *globals) *cobra.Command {
	settings := &cobra.Command{
		Use:   "settings",
		Short: "Show this profile's settings",
		Long: `Settings of this profile:

  require-verified on|off   on: refuse on-record rooms and sends with members whose
                            safety numbers you have not compared (default off: warn)
  device-changes ask|auto   ask: a contact's new device waits for 'keys accept' when
                            the contact is verified or the room is on-record (default);
                            auto: use it at once (the notice is still shown)
  witnesses "VKEY ..."      witnesses of the server's key log ('backchannel witness key')
  witness-quorum N          how many of them must cosign every checkpoint you accept`,
		Example: `  backchannel settings
  backchannel settings set require-verified on`,
		Args: cobra.NoArgs,
		RunE: g.withClient(func(cmd *cobra.Command, args []string, c *client.Client) error {
			st := c.Settings()
			if g.json {
				return printJSON(cmd.OutOrStdout(), st)
			}
			for _, k := range []string{client.SettingRequireVerified, client.SettingDeviceChanges, client.SettingWitnesses, client.SettingWitnessQuorum} {
				if v, ok := st[k]; ok {
					fmt.Fprintf(cmd.OutOrStdout(), "%-17s %s\n", k, v)
				}
			}
			return nil
		}),
	}
	set := &cobra.Command{
		Use:   "set KEY VALUE",
		Short: "Change a setting (require-verified on|off, device-changes ask|auto)",
		Args:  cobra.ExactArgs(2),
		RunE: g.withClient(func(cmd *cobra.Command, args []string, c *client.Client) error {
			if err := c.SetSetting(cmd.Context(), args[0], args[1]); err != nil {
				if errors.Is(err, client.ErrBadSetting) {
					return usageError{err}
				}
				return err
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), c.Settings())
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s is now %s.\n", args[0], args[1])
			return nil
		}),
	}
	settings.AddCommand(set)
	return settings
}

func newStatusCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the profile, the server and the rooms (exit status 1 when the server is unreachable)",
		Args:  cobra.NoArgs,
		RunE: g.withClient(func(cmd *cobra.Command, args []string, c *client.Client) error {
			st, err := c.Status(cmd.Context())
			if err != nil {
				return err
			}
			if g.json {
				if err := printJSON(cmd.OutOrStdout(), st); err != nil {
					return err
				}
				if st.ServerError != "" {
					return reported{exitFailure} // the object says why
				}
				return nil
			}
			reach := "reachable"
			if st.ServerError != "" {
				reach = "UNREACHABLE: " + st.ServerError
			}
			role := "linked device"
			if st.Primary {
				role = "primary device, holds the account key"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "user:    %s\ndevice:  %d %q (%s)\nserver:  %s (%s)\nrooms:   %d\nqueued:  %d message batches not yet delivered\nchecked: %s\n", st.User, st.Device, st.DeviceName, role, st.Server, reach, st.Rooms, st.Queued, time.Now().Format(time.RFC3339))
			for _, a := range st.Attention {
				fmt.Fprintf(cmd.OutOrStdout(), "! %s\n", safeLine(a))
			}
			if st.ServerError != "" {
				return errors.New(st.ServerError)
			}
			return nil
		}),
	}
}
