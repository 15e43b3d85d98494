package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"backchannel/entropy"
	"backchannel/keylog/witness"
)

// defaultWitnessName names a new witness key after this machine.
func defaultWitnessName() string {
	h, err := os.Hostname()
	if err != nil || h == "" || strings.ContainsAny(h, " +") {
		h = "localhost"
	}
	return h + "/backchannel-witness"
}

// parseWitnessLogs reads repeated --log ORIGIN=VKEY flags.
func parseWitnessLogs(flags []string) ([]witness.Log, error) {
	var logs []witness.Log
	for _, f := range flags {
		origin, vkey, ok := strings.Cut(f, "=")
		if !ok || origin == "" || vkey == "" {
			return nil, usageError{fmt.Errorf("--log %q: want ORIGIN=VKEY", f)}
		}
		logs = append(logs, witness.Log{Origin: origin, VerifierKey: vkey})
	}
	return logs, nil
}

func newWitnessCmd(g *globals) *cobra.Command {
	var data, listen, name, logLevel string
	var logFlags []string
	cmd := &cobra.Command{
		Use:         "witness --data DIR --listen ADDR --log ORIGIN=VKEY [--log ORIGIN=VKEY ...]",
		Short:       "Run a key-log witness (C2SP tlog-witness): cosign checkpoints only if they extend what it cosigned",
		Annotations: map[string]string{annotationDaemon: "yes"},
		Long: `Run a witness for one or more backchannel key logs. A witness is an independent
party (the other side of a negotiation, a law firm, a journalist) that cosigns a
log's checkpoint only after checking it is consistent with every checkpoint of
that log it cosigned before, so a server cannot show different logs to different
people without a witness refusing. Clients can require N of M named witnesses.

The witness serves POST /add-checkpoint (c2sp.org/tlog-witness) and replies with
cosignature/v1 signatures (c2sp.org/tlog-cosignature). Its key and its state (the
latest cosigned size and root per log) live in --data; the state is written and
synced before every reply and survives restarts. A refused fork (two signed
checkpoints of one size with different roots) is kept in DIR/evidence.

Each --log names a log it witnesses: the origin (the checkpoint's first line,
backchannel/keylog/<host>) and the log's verifier key, as served by the log
server at GET /log/key. Serve plain HTTP on loopback behind a TLS proxy, or on a
private network.

Once listening it prints one line on stdout (the address, the data directory and
its verifier key; with --json an object); its logs are JSON lines on stderr.`,
		Example: `  # Create the witness key and print the verifier key to give to the server and clients:
  backchannel witness key --data /srv/witness --name witness.example.org/w1

  # Witness a server's key log:
  backchannel witness --data /srv/witness --listen 127.0.0.1:7380 \
    --log "backchannel/keylog/chat.example.org=$(curl -s https://chat.example.org/log/key)"

  # The server then asks it for cosignatures:
  backchannel serve --witness http://127.0.0.1:7380=<witness vkey> ...`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			logs, err := parseWitnessLogs(logFlags)
			if err != nil {
				return err
			}
			if len(logs) == 0 {
				return usageError{errors.New("no --log ORIGIN=VKEY: the witness would refuse everything")}
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return usageError{fmt.Errorf("--log-level: %w", err)}
			}
			logger := slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			k, created, err := witness.LoadOrCreateKey(data, keyNameOrDefault(data, name), entropy.System{})
			if err != nil {
				return err
			}
			srv, err := witness.NewServer(witness.Config{DataDir: data, Key: k, Logs: logs, Logger: logger})
			if err != nil {
				return err
			}
			defer srv.Close()
			announce := func(addr string) error {
				if g.json {
					return printJSON(cmd.OutOrStdout(), map[string]any{"listening": "http://" + addr, "data": data, "name": k.Name(), "vkey": k.VerifierKey()})
				}
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "backchannel witness listening on http://%s, data in %s, verifier key %s\n", addr, data, k.VerifierKey())
				return err
			}
			return runWitness(cmd.Context(), listen, srv, logger, k, created, len(logs), announce)
		},
	}
	f := cmd.Flags()
	f.StringVar(&data, "data", envDefault("BACKCHANNEL_WITNESS_DATA", "backchannel-witness"), "witness data directory: key and state ($BACKCHANNEL_WITNESS_DATA)")
	f.StringVar(&listen, "listen", envDefault("BACKCHANNEL_WITNESS_LISTEN", "127.0.0.1:7380"), "listen address ($BACKCHANNEL_WITNESS_LISTEN)")
	f.StringArrayVar(&logFlags, "log", nil, "a witnessed log, ORIGIN=VKEY (repeatable)")
	f.StringVar(&name, "name", "", "witness name for a new key (default <hostname>/backchannel-witness); must match an existing key")
	f.StringVar(&logLevel, "log-level", envDefault("BACKCHANNEL_LOG_LEVEL", "info"), "debug, info, warn or error ($BACKCHANNEL_LOG_LEVEL)")

	var keyData, keyName string
	key := &cobra.Command{
		Use:   "key --data DIR [--name NAME]",
		Short: "Print the witness's verifier key (creating the key on first use)",
		Long: `Print the witness's cosignature/v1 verifier key (a C2SP vkey), the value a log
server passes to serve --witness and clients pin as a witness. The private key is
created in DIR/witness.key (mode 0600) the first time, named --name.`,
		Example: `  backchannel witness key --data /srv/witness --name witness.example.org/w1
  backchannel witness key --data /srv/witness --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			k, created, err := witness.LoadOrCreateKey(keyData, keyNameOrDefault(keyData, keyName), entropy.System{})
			if err != nil {
				return err
			}
			if g.json {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(struct {
					Name    string `json:"name"`
					VKey    string `json:"vkey"`
					Created bool   `json:"created"`
				}{k.Name(), k.VerifierKey(), created})
			}
			if created {
				fmt.Fprintf(cmd.ErrOrStderr(), "created a new witness key %q in %s\n", k.Name(), keyData)
			}
			fmt.Fprintln(cmd.OutOrStdout(), k.VerifierKey())
			return nil
		},
	}
	key.Flags().StringVar(&keyData, "data", envDefault("BACKCHANNEL_WITNESS_DATA", "backchannel-witness"), "witness data directory ($BACKCHANNEL_WITNESS_DATA)")
	key.Flags().StringVar(&keyName, "name", "", "witness name for a new key (default <hostname>/backchannel-witness)")
	cmd.AddCommand(key)
	return cmd
}

// keyNameOrDefault is name, or the default when no key exists yet; with a
// key present and no name asked for, it is "" (take the key's own).
func keyNameOrDefault(dir, name string) string {
	if name != "" {
		return name
	}
	if _, err := os.Stat(filepath.Join(dir, witness.KeyFile)); err == nil {
		return ""
	}
	return defaultWitnessName()
}

func runWitness(ctx context.Context, listen string, h http.Handler, logger *slog.Logger, k *witness.Key, created bool, nlogs int, announce func(addr string) error) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", listen, err)
	}
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
	vk := k.VerifierKey()
	logger.Info("witness starting", "addr", ln.Addr().String(), "name", k.Name(), "vkey", vk, "new", created, "logs", nlogs)
	if err := announce(ln.Addr().String()); err != nil {
		ln.Close()
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("the witness stopped: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("the witness did not stop cleanly: %w", err)
	}
	logger.Info("witness stopped")
	return nil
}
