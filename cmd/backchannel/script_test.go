package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"backchannel/localserver"
	"backchannel/server"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"backchannel":         func() { os.Exit(run()) },
		"backchannel-patched": func() { os.Exit(patchedMain()) },
	})
}

// TestScripts runs the end-to-end CLI scripts in testdata/script: each gets
// a fresh server on loopback ($SERVER) and a fresh work directory.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:  "testdata/script",
		Cmds: frontCmds,
		Setup: func(env *testscript.Env) error {
			srv, err := localserver.Start(context.Background(), filepath.Join(env.WorkDir, ".server"), "127.0.0.1:0", server.Config{OpenRegistration: true}, nil)
			if err != nil {
				return err
			}
			env.Defer(func() { srv.Stop() })
			env.Setenv("SERVER", srv.URL)
			if _, err := startFrontEnd(env, srv.URL); err != nil { // $FRONT, see frontend_test.go
				return err
			}
			env.Setenv("BACKCHANNEL_PASSPHRASE", "correct horse battery staple")
			// The scripts check what one-shot processes print (sync counts,
			// a wrong passphrase per command, patched clients opening the
			// profile themselves); agent_test.go runs the program through
			// its agent. A script can turn the agent on with "env
			// BACKCHANNEL_AGENT=".
			env.Setenv(envAgent, "off")
			return nil
		},
	})
}
