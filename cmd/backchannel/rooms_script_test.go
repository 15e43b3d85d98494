package main

import (
	"os"
	"regexp"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// scriptWaitFor is the script command "waitfor FILE REGEXP": it waits until FILE (written by a command running in
// the background) matches REGEXP, for a minute at most: what a script
// needs to read the output of a command that runs until it is stopped
// (sync --follow).
func scriptWaitFor(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitfor FILE REGEXP")
	}
	re, err := regexp.Compile(args[1])
	ts.Check(err)
	deadline := time.Now().Add(time.Minute)
	for {
		b, _ := os.ReadFile(ts.MkAbs(args[0]))
		if re.Match(b) {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s does not match %q after a minute; it holds:\n%s", args[0], args[1], b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func init() { frontCmds["waitfor"] = scriptWaitFor }
