package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"backchannel/loadtest"
)

func newBenchCmd(g *globals) *cobra.Command {
	var clients, data string
	var idle int
	var shape bool
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load-test a real server on loopback with real, encrypting clients",
		Long: `bench starts a fresh server in this process on 127.0.0.1 (SQLite store, every
acknowledged send fsync'd) for each run and drives it with real clients: PQXDH
sessions, Double Ratchet encryption, WebSocket push, decryption and acks.

Runs, in order:
  shape       10 senders x 1,000 messages of 256 bytes, each waiting for its
              acknowledgement, into one room with one reader (also measured on a
              peer server; see docs/benchmarks.md)
  scale-N     N clients (--clients), in rooms of ten
  idle        K idle push connections (--idle), memory per connection

It prints accepted and delivered messages/s, p50 and p99 delivery latency and
memory. Nothing leaves loopback.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := loadtest.Config{DataDir: data}
			if shape {
				cfg.Relay = append(cfg.Relay, loadtest.Shape())
			}
			for _, f := range strings.Split(clients, ",") {
				if f = strings.TrimSpace(f); f == "" {
					continue
				}
				n, err := strconv.Atoi(f)
				if err != nil || n < 1 {
					return usageError{fmt.Errorf("--clients: %q is not a positive number", f)}
				}
				cfg.Relay = append(cfg.Relay, loadtest.Scale(n))
			}
			if idle > 0 {
				cfg.Idle = loadtest.IdleConfig{Conns: idle}
				if exe, err := os.Executable(); err == nil {
					// This binary holds the client ends in a child process.
					cfg.Idle.ClientCommand = []string{exe}
				}
			}
			if len(cfg.Relay) == 0 && cfg.Idle.Conns == 0 {
				return usageError{errors.New("nothing to run: give --shape, --clients or --idle")}
			}
			start := time.Now()
			errw := cmd.ErrOrStderr()
			cfg.Progress = func(p loadtest.Progress) {
				bar := progressBar(errw, start)
				fmt.Fprintf(errw, "\r%-10s %-9s ", p.Run, p.Phase)
				if p.Total > 0 {
					bar(int(p.Done), int(p.Total))
				}
			}
			rep, err := loadtest.Run(cmd.Context(), cfg)
			fmt.Fprintln(errw)
			if rep != nil {
				if g.json {
					if perr := printJSON(cmd.OutOrStdout(), rep); perr != nil {
						return perr
					}
				} else {
					fmt.Fprint(cmd.OutOrStdout(), rep.String())
				}
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&shape, "shape", true, "run the reference shape (10 senders x 1,000 messages)")
	cmd.Flags().StringVar(&clients, "clients", "10,100,1000", "comma-separated client counts for the scaling runs (empty: none)")
	cmd.Flags().IntVar(&idle, "idle", 10000, "idle push connections to hold (0: none)")
	cmd.Flags().StringVar(&data, "data", "", "parent of the servers' temporary data directories (default: system temp; use a real disk)")
	return cmd
}
