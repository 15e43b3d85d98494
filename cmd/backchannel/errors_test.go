package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"backchannel/backup"
	"backchannel/client"
	"backchannel/server/apiclient"
	"backchannel/vault"
)

// TestClassify: each row of README.md's exit-code table, from the errors
// that cause it, wrapped as commands wrap them.
func TestClassify(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("open the profile: %w", err) }
	for _, c := range []struct {
		err  error
		code int
		kind string
	}{
		{errors.New("disk full"), exitFailure, kindFailure},
		{&apiclient.UnreachableError{Host: "127.0.0.1:1", Err: errors.New("connection refused")}, exitFailure, kindFailure},
		{usageError{errors.New("--mode must be on-record or deniable")}, exitUsage, kindUsage},
		{errExists("excerpt.json"), exitUsage, kindUsage},
		{verifyError{errors.New("the export does not verify")}, exitVerify, kindVerify},
		{wrap(vault.ErrInconsistent), exitVerify, kindVerify},
		{wrap(client.ErrUnknownRoom), exitNotFound, kindNotFound},
		{wrap(client.ErrUnknownUser), exitNotFound, kindNotFound},
		{wrap(client.ErrUnknownMessage), exitNotFound, kindNotFound},
		{wrap(client.ErrDocNotFound), exitNotFound, kindNotFound},
		{because(vault.ErrNoVault, "no profile in ./a"), exitNotFound, kindNotFound},
		{wrap(errNoServer), exitNotFound, kindNotFound},
		{because(vault.ErrWrongPassphrase, "wrong passphrase for the profile in ./a"), exitAuth, kindAuth},
		{wrap(backup.ErrWrongKey), exitAuth, kindAuth},
		{wrap(&apiclient.Error{Status: 403, Code: "invalid_invite", Message: "invalid, used or expired invite"}), exitAuth, kindAuth},
		{wrap(&apiclient.Error{Status: 403, Code: "forbidden", Message: "not allowed"}), exitAuth, kindAuth},
		{wrap(&apiclient.Error{Status: 401, Code: "unauthorized", Message: "bad proof"}), exitAuth, kindAuth},
		{wrap(&apiclient.Error{Status: 404, Code: "not_found", Message: "no such account"}), exitNotFound, kindNotFound},
		{wrap(client.ErrIdentityChanged), exitAuth, kindAuth},
		{wrap(errInterrupted), exitInterrupted, kindInterrupted},
		{wrap(context.Canceled), exitInterrupted, kindInterrupted},
		{agentStartError{exitAuth, "wrong passphrase"}, exitAuth, kindAuth},
	} {
		code, kind := classify(c.err)
		if code != c.code || kind != c.kind {
			t.Errorf("classify(%q) = %d %s, want %d %s", c.err, code, kind, c.code, c.kind)
		}
	}
}

// TestReport: an error is one plain line on stderr, or with --json one
// object on stdout; a command that reported already adds nothing.
func TestReport(t *testing.T) {
	var out, errw bytes.Buffer
	if code := report(&out, &errw, false, wrap4()); code != exitNotFound || out.Len() != 0 || errw.String() != "backchannel: unknown room \"talks\"\n" {
		t.Errorf("text: %d, stdout %q, stderr %q", code, out.String(), errw.String())
	}
	out.Reset()
	errw.Reset()
	code := report(&out, &errw, true, wrap4())
	var got struct {
		Error struct {
			Code    int    `json:"code"`
			Kind    string `json:"kind"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || code != exitNotFound || errw.Len() != 0 {
		t.Fatalf("json: %d, stdout %q (%v), stderr %q", code, out.String(), err, errw.String())
	}
	if got.Error.Code != exitNotFound || got.Error.Kind != kindNotFound || got.Error.Message != "unknown room \"talks\"" {
		t.Errorf("json error %+v", got.Error)
	}
	out.Reset()
	if code := report(&out, &errw, true, reported{exitVerify}); code != exitVerify || out.Len() != 0 || errw.Len() != 0 {
		t.Errorf("reported: %d, stdout %q, stderr %q", code, out.String(), errw.String())
	}
	out.Reset()
	errw.Reset()
	if report(&out, &errw, false, fmt.Errorf("interrupted: %w", context.Canceled)); !strings.Contains(errw.String(), "interrupted") || strings.Contains(errw.String(), "context canceled") {
		t.Errorf("interrupted: stderr %q", errw.String())
	}
}

func wrap4() error { return fmt.Errorf("%w %q", client.ErrUnknownRoom, "talks") }

func TestWantsJSON(t *testing.T) {
	for _, c := range []struct {
		args []string
		want bool
	}{
		{[]string{"read", "talks", "--json"}, true},
		{[]string{"--json", "bogus"}, true},
		{[]string{"read", "talks"}, false},
		{[]string{"send", "talks", "--", "--json"}, false},
	} {
		if got := wantsJSON(c.args); got != c.want {
			t.Errorf("wantsJSON(%q) = %v", c.args, got)
		}
	}
}
