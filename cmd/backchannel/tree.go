package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// finishTree gives the command tree what every command shares: usage
// errors in plain words with exit status 2 (a wrong number of arguments, an
// unknown command or option, a bad option value), help for a command group
// called without a subcommand, --version, an example in every --help
// (examples.go), and shell completions (completion.go).
func finishTree(root *cobra.Command, g *globals) {
	root.SetFlagErrorFunc(flagError)
	var version bool
	root.Flags().BoolVar(&version, "version", false, "print the version of this program and of its protocol")
	root.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return unknownCommand(cmd, args[0])
		}
		return nil
	}
	root.RunE = func(cmd *cobra.Command, args []string) error {
		if version {
			return printVersion(cmd, g)
		}
		return cmd.Help()
	}
	root.SetHelpCommand(&cobra.Command{
		Use:   "help [COMMAND]",
		Short: "Help about any command",
		Long:  "Help shows what a command does, its options and examples: 'backchannel help room create' is 'backchannel room create --help'.",
		RunE: func(cmd *cobra.Command, args []string) error {
			target, rest, err := root.Find(args)
			if err != nil || len(rest) > 0 {
				word := ""
				if len(rest) > 0 {
					word = rest[0]
				} else if len(args) > 0 {
					word = args[len(args)-1]
				}
				return unknownCommand(target, word)
			}
			return target.Help()
		},
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			target, _, err := root.Find(args)
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var names []cobra.Completion
			for _, c := range target.Commands() {
				if c.IsAvailableCommand() && strings.HasPrefix(c.Name(), toComplete) {
					names = append(names, cobra.CompletionWithDesc(c.Name(), c.Short))
				}
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		},
	})
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	walk(root, func(c *cobra.Command) {
		c.SuggestionsMinimumDistance = 2
		if c.Name() == cobra.ShellCompRequestCmd || c.Name() == cobra.ShellCompNoDescRequestCmd {
			return
		}
		switch {
		case c != root && !c.Runnable():
			// A group: bare, it shows its help; with a word that names
			// none of its commands, a usage error.
			c.Args = func(cmd *cobra.Command, args []string) error {
				if len(args) > 0 {
					return unknownCommand(cmd, args[0])
				}
				return nil
			}
			c.RunE = func(cmd *cobra.Command, args []string) error { return cmd.Help() }
		case c.Args != nil && c != root:
			check := c.Args
			c.Args = func(cmd *cobra.Command, args []string) error {
				if err := check(cmd, args); err != nil {
					return argsError(cmd, len(args))
				}
				return nil
			}
		}
		if c.Example == "" {
			c.Example = examples[commandKey(c)]
		}
		if c.Long == "" && longHelp[commandKey(c)] != "" {
			c.Long = longHelp[commandKey(c)]
		}
	})
	addCompletions(root, g)
}

// walk calls f on c and every command below it.
func walk(c *cobra.Command, f func(*cobra.Command)) {
	f(c)
	for _, sub := range c.Commands() {
		walk(sub, f)
	}
}

// commandKey is a command's path without the program's name: "room create".
func commandKey(c *cobra.Command) string {
	return strings.TrimPrefix(strings.TrimPrefix(c.CommandPath(), c.Root().Name()), " ")
}

// protocolRevision is the revision of docs/protocol.md this program
// implements (a test checks the document names it).
const protocolRevision = "2.2"

// versionInfo is what --version prints.
type versionInfo struct {
	Version  string `json:"version"`            // the module's version, "(devel)" for a local build
	Revision string `json:"revision,omitempty"` // the VCS revision it was built from
	Time     string `json:"time,omitempty"`     // that revision's commit time
	Modified bool   `json:"modified,omitempty"` // built from a work tree with uncommitted changes
	Go       string `json:"go"`
	Protocol string `json:"protocol"`
}

func buildVersion() versionInfo {
	v := versionInfo{Version: "(devel)", Go: runtime.Version(), Protocol: protocolRevision}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if bi.Main.Version != "" {
		v.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

func printVersion(cmd *cobra.Command, g *globals) error {
	v := buildVersion()
	if g.json {
		return printJSON(cmd.OutOrStdout(), v)
	}
	line := "backchannel " + v.Version
	if v.Revision != "" {
		line += ", revision " + v.Revision[:min(12, len(v.Revision))]
		if v.Modified {
			line += " with local changes"
		}
	}
	_, err := fmt.Fprintf(cmd.OutOrStdout(), "%s\nprotocol revision %s (docs/protocol.md), built with %s\n", line, v.Protocol, v.Go)
	return err
}
