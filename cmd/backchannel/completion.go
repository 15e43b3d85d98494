package main

import (
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"backchannel/client"
)

// Shell completion ('backchannel completion bash|zsh|fish|powershell').
// Room and user names come from the open profile, which a completion can
// only have without a passphrase when it runs inside the agent (g.peek);
// otherwise it offers no names. A room, a user, a setting or a flag value is
// never completed with file names.

// argKind is what one positional argument names.
type argKind int

const (
	argOther   argKind = iota // free text: nothing to offer, no file names
	argRoom                   // a room's name or id
	argUser                   // a person (a member of one of your rooms)
	argFile                   // a file: the shell's own file completion
	argDoc                    // a document of the room given before it
	argDevice                 // a device id of your account
	argSetting                // a setting's key
	argValue                  // the value of the setting given before it
)

// positional lists each command's arguments in order; a command not listed
// takes nothing that can be completed.
var positional = map[string][]argKind{
	"room add":          {argRoom, argUser},
	"room remove":       {argRoom, argUser},
	"room leave":        {argRoom},
	"room rename":       {argRoom},
	"room archive":      {argRoom},
	"room unarchive":    {argRoom},
	"send":              {argRoom},
	"read":              {argRoom},
	"chat":              {argRoom},
	"share":             {argRoom, argFile},
	"docs":              {argRoom},
	"docs get":          {argRoom, argDoc},
	"voice save":        {argRoom},
	"transcript export": {argRoom},
	"keys verify":       {argUser},
	"keys accept":       {argUser},
	"keys fingerprint":  {argUser},
	"keys unverify":     {argUser},
	"devices remove":    {argDevice},
	"settings set":      {argSetting, argValue},
	"verify":            {argFile},
	"trace":             {argFile},
	"restore":           {argFile},
}

// settingValues are the values each setting takes (nil: free text).
var settingValues = map[string][]string{
	client.SettingRequireVerified: {"on", "off"},
	client.SettingDeviceChanges:   {"ask", "auto"},
	client.SettingWitnesses:       nil,
	client.SettingWitnessQuorum:   nil,
}

// flagValues are the fixed values of flags, by flag name.
var flagValues = map[string][]string{
	"mode":      {client.ModeOnRecord + "\tsigned transcript", client.ModeDeniable + "\tno signatures"},
	"marking":   {"all\tevery channel", "lexical\tsurvives retyping", "typographic\tquotes, dashes, spacing", "invisible\tzero-width characters", "off\tno marks"},
	"log-level": {"debug", "info", "warn", "error"},
}

// fileFlags take a path: the shell completes them with file names.
var fileFlags = map[string]bool{
	"file": true, "output": true, "bundle": true, "home": true, "data": true,
	"tls-cert": true, "tls-key": true, "corpus": true,
}

func addCompletions(root *cobra.Command, g *globals) {
	walk(root, func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" || (c.Parent() != nil && c.Parent().Name() == "completion") {
			return
		}
		if c.ValidArgsFunction == nil {
			kinds := positional[commandKey(c)]
			c.ValidArgsFunction = func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
				if len(args) >= len(kinds) {
					return nil, cobra.ShellCompDirectiveNoFileComp
				}
				return g.completeArg(cmd, kinds[len(args)], args, toComplete)
			}
		}
		complete := func(name string, f cobra.CompletionFunc) {
			if c.Flags().Lookup(name) == nil {
				return
			}
			if _, ok := c.GetFlagCompletionFunc(name); ok {
				return
			}
			_ = c.RegisterFlagCompletionFunc(name, f)
		}
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			switch {
			case fileFlags[f.Name]:
				return // the shell's file names
			case f.Name == "room":
				complete(f.Name, func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
					return g.completeArg(cmd, argRoom, args, toComplete)
				})
			case f.Name == "members":
				complete(f.Name, g.completeMembers)
			case flagValues[f.Name] != nil:
				vals := flagValues[f.Name]
				complete(f.Name, func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
					return vals, cobra.ShellCompDirectiveNoFileComp
				})
			default:
				complete(f.Name, cobra.NoFileCompletions)
			}
		})
	})
}

// completeArg offers the values of one positional argument.
func (g *globals) completeArg(cmd *cobra.Command, kind argKind, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	const none = cobra.ShellCompDirectiveNoFileComp
	switch kind {
	case argFile:
		return nil, cobra.ShellCompDirectiveDefault
	case argSetting:
		keys := make([]string, 0, len(settingValues))
		for k := range settingValues {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return keys, none
	case argValue:
		if len(args) > 0 {
			return settingValues[args[0]], none
		}
		return nil, none
	}
	c, ok := g.peek()
	if !ok {
		return nil, none
	}
	ctx := cmd.Context()
	switch kind {
	case argRoom:
		rooms, err := c.Rooms(ctx)
		if err != nil {
			return nil, none
		}
		var out []string
		for _, r := range rooms {
			if !r.Removed {
				out = append(out, r.Label) // the name, or "talks (bob's)" when two rooms share it
			}
		}
		return out, none
	case argUser:
		return g.people(cmd, c), none
	case argDoc:
		if len(args) == 0 {
			return nil, none
		}
		docs, err := c.Docs(ctx, args[0])
		if err != nil {
			return nil, none
		}
		var out []string
		for _, m := range docs {
			out = append(out, m.Doc.Name)
		}
		return out, none
	case argDevice:
		ds, err := c.Devices(ctx)
		if err != nil {
			return nil, none
		}
		var out []string
		for _, d := range ds {
			if !d.This {
				out = append(out, strconv.FormatUint(uint64(d.ID), 10)+"\t"+d.Name)
			}
		}
		return out, none
	}
	return nil, none
}

// people are the members of your rooms other than you, sorted.
func (g *globals) people(cmd *cobra.Command, c *client.Client) []string {
	rooms, err := c.Rooms(cmd.Context())
	if err != nil {
		return nil
	}
	seen := map[string]bool{c.User(): true}
	var out []string
	for _, r := range rooms {
		for _, m := range r.State.Members {
			if !seen[m] {
				seen[m] = true
				out = append(out, m)
			}
		}
	}
	sort.Strings(out)
	return out
}

// completeMembers completes the last name of a comma-separated --members.
func (g *globals) completeMembers(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	c, ok := g.peek()
	if !ok {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	done := ""
	if i := strings.LastIndexByte(toComplete, ','); i >= 0 {
		done = toComplete[:i+1]
	}
	given := map[string]bool{}
	for _, n := range strings.Split(done, ",") {
		given[n] = true
	}
	var out []string
	for _, p := range g.people(cmd, c) {
		if !given[p] {
			out = append(out, done+p)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
}
