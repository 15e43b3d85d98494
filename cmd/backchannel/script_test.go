package main

import (
	"context"
	"encoding/hex"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"backchannel/audio"
	"backchannel/audiomark"
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
		Cmds: scriptCmds(),
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

// scriptCmds are the scripts' own commands: the front end's (withhold,
// release) and capture.
func scriptCmds() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	cmds := map[string]func(ts *testscript.TestScript, neg bool, args []string){
		// capture NAME REGEXP sets $NAME to the first group of REGEXP in
		// the last command's stdout (an id the program printed).
		"capture": func(ts *testscript.TestScript, neg bool, args []string) {
			if neg || len(args) != 2 {
				ts.Fatalf("usage: capture NAME REGEXP")
			}
			re, err := regexp.Compile(args[1])
			ts.Check(err)
			m := re.FindStringSubmatch(ts.ReadFile("stdout"))
			if len(m) < 2 {
				ts.Fatalf("capture: %q not in stdout", args[1])
			}
			ts.Setenv(args[0], m[1])
		},
		// speechwav FILE writes the LibriVox read speech of Debian's
		// pocketsphinx-testdata (about 25 s) as one 16 kHz WAV.
		"speechwav": func(ts *testscript.TestScript, neg bool, args []string) {
			if neg || len(args) != 1 {
				ts.Fatalf("usage: speechwav FILE")
			}
			files, _ := filepath.Glob("/usr/share/pocketsphinx/test/data/librivox/*.wav")
			if len(files) == 0 {
				ts.Fatalf("no read speech in /usr/share/pocketsphinx/test/data/librivox: install Debian's pocketsphinx-testdata")
			}
			c := &audio.Clip{Rate: audiomark.Rate}
			for _, f := range files {
				b, err := os.ReadFile(f)
				ts.Check(err)
				part, err := audio.DecodeWAV(b)
				ts.Check(err)
				c.Samples = append(c.Samples, audio.Resample(part, audiomark.Rate).Samples...)
			}
			ts.Check(os.WriteFile(ts.MkAbs(args[0]), audio.EncodeWAV(c), 0o600))
		},
		// isflac FILE checks that FILE decodes as FLAC with sound in it.
		"isflac": func(ts *testscript.TestScript, neg bool, args []string) {
			if len(args) != 1 {
				ts.Fatalf("usage: isflac FILE")
			}
			b, err := os.ReadFile(ts.MkAbs(args[0]))
			ts.Check(err)
			c, err := audio.DecodeFLAC(b)
			if ok := err == nil && c.Seconds() > 1; ok == neg {
				ts.Fatalf("isflac %s: decoded=%v (%v)", args[0], ok, err)
			}
		},
		// hexfile FILE HEX writes the bytes HEX spells (binary test input).
		"hexfile": func(ts *testscript.TestScript, neg bool, args []string) {
			if neg || len(args) != 2 {
				ts.Fatalf("usage: hexfile FILE HEX")
			}
			b, err := hex.DecodeString(args[1])
			ts.Check(err)
			ts.Check(os.WriteFile(ts.MkAbs(args[0]), b, 0o600))
		},
	}
	maps.Copy(cmds, frontCmds)
	return cmds
}
