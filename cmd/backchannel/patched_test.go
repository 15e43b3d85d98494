package main

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"backchannel/client"
)

// patchedMain is the "backchannel-patched" command of the scripts: a member
// whose client skips the rule for names. Usage:
//
//	backchannel-patched HOME share ROOM NAME FILE
//
// NAME is Go-quoted text without the quotes ('\x1b[2J…\u202e…'), so that a
// script can write the escapes.
func patchedMain() int {
	if len(os.Args) != 6 || os.Args[2] != "share" {
		fmt.Fprintln(os.Stderr, "usage: backchannel-patched HOME share ROOM NAME FILE")
		return exitUsage
	}
	home, room, quoted, file := os.Args[1], os.Args[3], os.Args[4], os.Args[5]
	name, err := strconv.Unquote(`"` + quoted + `"`)
	if err != nil {
		fmt.Fprintln(os.Stderr, "NAME:", err)
		return exitUsage
	}
	ctx := context.Background()
	c, err := client.Open(ctx, home, []byte(os.Getenv("BACKCHANNEL_PASSPHRASE")), client.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return exitFailure
	}
	defer c.Close()
	f, err := os.Open(file)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return exitFailure
	}
	defer f.Close()
	if _, err := c.ShareUnchecked(ctx, room, name, f); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return exitFailure
	}
	fmt.Println("shared under the hostile name")
	return exitOK
}
