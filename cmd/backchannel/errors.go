package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"backchannel/backup"
	"backchannel/client"
	"backchannel/server/apiclient"
	"backchannel/vault"
)

// How an invocation's error reaches its caller. Every error a command
// returns is classified once, by classify, into one row of README.md's
// "Exit codes" table; the caller sees one plain line on stderr
// ("backchannel: ...") or, with --json, one JSON object on stdout:
//
//	{"error": {"code": 4, "kind": "not_found", "message": "..."}}
//
// The exit status is the same either way.

// Exit codes, documented in README.md ("Exit codes").
const (
	exitOK       = 0
	exitFailure  = 1
	exitUsage    = 2
	exitVerify   = 3 // verification found a problem (bad signature, doctored text)
	exitNotFound = 4 // unknown room, user or message
	exitAuth     = 5 // wrong passphrase, or the server refused our identity
)

// usageError marks errors caused by how the command was called.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// verifyError marks a verification that ran and found a problem.
type verifyError struct{ err error }

func (e verifyError) Error() string { return e.err.Error() }
func (e verifyError) Unwrap() error { return e.err }

// exitCode is err's exit status (see classify in errors.go).
func exitCode(err error) int {
	code, _ := classify(err)
	return code
}

// exitInterrupted: Ctrl-C (SIGINT) or SIGTERM, at a prompt or anywhere
// else, as shells report a process killed by SIGINT (128 + 2).
const exitInterrupted = 130

// annotationDaemon marks a command that runs until stopped (serve,
// witness): Ctrl-C or SIGTERM is how it ends, so it ends with status 0.
const annotationDaemon = "daemon"

// Kinds of failure, as --json names them; one per exit code.
const (
	kindFailure     = "failure"
	kindUsage       = "usage"
	kindVerify      = "verification"
	kindNotFound    = "not_found"
	kindAuth        = "auth"
	kindInterrupted = "interrupted"
)

// authError marks an error as a refusal to authenticate (exit 5).
type authError struct{ err error }

func (e authError) Error() string { return e.err.Error() }
func (e authError) Unwrap() error { return e.err }

// sentinelError is an error with a message of its own that matches a
// sentinel (errors.Is), for when the sentinel's text would repeat what the
// message says ("wrong passphrase for ...: wrong passphrase").
type sentinelError struct {
	msg string
	is  error
}

func (e sentinelError) Error() string { return e.msg }
func (e sentinelError) Unwrap() error { return e.is }

// because returns the message, matching the sentinel is.
func because(is error, format string, a ...any) error {
	return sentinelError{fmt.Sprintf(format, a...), is}
}

// reported is the outcome of a command that has told its caller what
// went wrong already (in its own --json output): only the status remains.
type reported struct{ code int }

func (r reported) Error() string { return fmt.Sprintf("exit status %d", r.code) }

// codedError is an error that knows its exit status (the agent's report
// of why it could not open the profile).
type codedError interface {
	error
	exitStatus() int
}

// kinds names the kind of each exit code.
var kinds = map[int]string{
	exitFailure: kindFailure, exitUsage: kindUsage, exitVerify: kindVerify,
	exitNotFound: kindNotFound, exitAuth: kindAuth, exitInterrupted: kindInterrupted,
}

// classify maps an error to its exit code and kind.
func classify(err error) (int, string) {
	var ce codedError
	if errors.As(err, &ce) {
		if k, ok := kinds[ce.exitStatus()]; ok {
			return ce.exitStatus(), k
		}
		return ce.exitStatus(), kindFailure
	}
	var ue usageError
	var ve verifyError
	var ae authError
	switch {
	case errors.Is(err, errInterrupted), errors.Is(err, context.Canceled):
		return exitInterrupted, kindInterrupted
	case errors.As(err, &ue):
		return exitUsage, kindUsage
	case errors.As(err, &ve), errors.Is(err, vault.ErrInconsistent):
		return exitVerify, kindVerify
	case errors.As(err, &ae),
		errors.Is(err, vault.ErrWrongPassphrase),
		errors.Is(err, backup.ErrWrongKey),
		errors.Is(err, apiclient.ErrUnauthorized),
		errors.Is(err, apiclient.ErrForbidden),
		errors.Is(err, apiclient.ErrInvalidInvite),
		errors.Is(err, client.ErrIdentityChanged):
		return exitAuth, kindAuth
	case errors.Is(err, client.ErrUnknownRoom),
		errors.Is(err, client.ErrUnknownUser),
		errors.Is(err, client.ErrUnknownMessage),
		errors.Is(err, client.ErrDocNotFound),
		errors.Is(err, client.ErrUnknownDevice),
		errors.Is(err, apiclient.ErrNotFound),
		errors.Is(err, vault.ErrNoVault),
		errors.Is(err, errNoServer):
		return exitNotFound, kindNotFound
	}
	return exitFailure, kindFailure
}

// errNoServer: a --data directory that holds no server.
var errNoServer = errors.New("no backchannel server data")

// report tells the caller about err, as text on stderr or, with asJSON,
// as a JSON object on stdout, and returns the exit status.
func report(stdout, stderr io.Writer, asJSON bool, err error) int {
	var r reported
	if errors.As(err, &r) {
		return r.code
	}
	code, kind := classify(err)
	msg := plainError(err)
	if asJSON {
		type body struct {
			Code    int    `json:"code"`
			Kind    string `json:"kind"`
			Message string `json:"message"`
		}
		if printJSON(stdout, map[string]body{"error": {code, kind, msg}}) == nil {
			return code
		}
	}
	fmt.Fprintln(stderr, "backchannel:", safeLine(msg))
	return code
}

// plainError is err's message for a person.
func plainError(err error) string {
	if errors.Is(err, context.Canceled) && !errors.Is(err, errInterrupted) {
		return "interrupted"
	}
	return err.Error()
}

// wantsJSON reports whether args ask for --json, for errors that happen
// before (or while) the flags are parsed.
func wantsJSON(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "--json", "--json=true", "--json=1":
			return true
		}
	}
	return false
}

// flagError turns the flag parser's errors into plain usage errors.
func flagError(cmd *cobra.Command, err error) error {
	see := fmt.Sprintf("see '%s --help'", cmd.CommandPath())
	var notExist *pflag.NotExistError
	var needs *pflag.ValueRequiredError
	var invalid *pflag.InvalidValueError
	var syntax *pflag.InvalidSyntaxError
	switch {
	case errors.As(err, &notExist):
		name := notExist.GetSpecifiedName()
		if s := notExist.GetSpecifiedShortnames(); s != "" {
			return usageError{fmt.Errorf("unknown option -%s for '%s': %s", name, cmd.CommandPath(), see)}
		}
		return usageError{fmt.Errorf("unknown option --%s for '%s': %s", name, cmd.CommandPath(), see)}
	case errors.As(err, &needs):
		return usageError{fmt.Errorf("--%s needs a value: %s", needs.GetFlag().Name, see)}
	case errors.As(err, &invalid):
		f := invalid.GetFlag()
		return usageError{fmt.Errorf("--%s %q: %s", f.Name, invalid.GetValue(), wantValue(f.Value.Type()))}
	case errors.As(err, &syntax):
		return usageError{fmt.Errorf("cannot read the option %q: %s", syntax.GetSpecifiedFlag(), see)}
	}
	return usageError{err}
}

// wantValue says what a flag of a pflag value type takes.
func wantValue(typ string) string {
	switch {
	case typ == "bool":
		return "give true or false"
	case typ == "duration":
		return "give a duration such as 90s, 10m or 2h"
	case strings.HasPrefix(typ, "float"):
		return "give a number such as 0.001 or 1e-6"
	case strings.HasPrefix(typ, "int"), strings.HasPrefix(typ, "uint"):
		return "give a whole number"
	}
	return "not a valid value"
}

// argsError is the usage error of a command given the wrong number of
// arguments.
func argsError(cmd *cobra.Command, given int) error {
	use := strings.TrimSuffix(cmd.UseLine(), " [flags]")
	return usageError{fmt.Errorf("wrong number of arguments (%d given): the usage is '%s' (see '%s --help')", given, use, cmd.CommandPath())}
}

// unknownCommand is the usage error of a word that names no command.
func unknownCommand(cmd *cobra.Command, word string) error {
	msg := fmt.Sprintf("'%s' is not a command of '%s'", word, cmd.CommandPath())
	if s := cmd.SuggestionsFor(word); len(s) > 0 {
		msg += fmt.Sprintf(" (did you mean '%s %s'?)", cmd.CommandPath(), s[0])
	}
	return usageError{fmt.Errorf("%s: see '%s --help'", msg, cmd.CommandPath())}
}
