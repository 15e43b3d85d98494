package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"backchannel/keylog"
	"backchannel/server"
	"backchannel/server/api"
	"backchannel/store/sqlite"
)

// envInt returns $name as an integer, or def when unset or malformed.
func envInt(name string, def int64) int64 {
	if v, err := strconv.ParseInt(os.Getenv(name), 10, 64); err == nil {
		return v
	}
	return def
}

// splitEnv returns $name split at commas (nil when unset or empty).
func splitEnv(name string) []string {
	v := strings.TrimSpace(os.Getenv(name))
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

// envDefault returns $name, or def when unset.
func envDefault(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func newServeCmd() *cobra.Command {
	cfg := server.Config{}
	var data, logLevel, logHost string
	var epoch time.Duration
	var witnesses []string
	var witnessQuorum int
	var trustedProxies []string
	var scrub time.Duration
	cmd := &cobra.Command{
		Use:         "serve",
		Short:       "Run the server (HTTP API, mailboxes, push, blobs) on an SQLite store",
		Annotations: map[string]string{annotationDaemon: "yes"},
		Long: `Run the backchannel server. It relays end-to-end encrypted envelopes and stores
them until acknowledged; it never sees plaintext. Configuration comes from flags,
or the environment variables named in each flag's help.

It checks the TLS certificate and key, opens the listen address and the data
directory first, and only then prints one line on stdout ("backchannel server
listening on http://127.0.0.1:7450, data in ./srv"; with --json, an object with
"listening" and "data"). Its logs are JSON lines on stderr. Ctrl-C or SIGTERM
stops it gracefully.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cfg.Limits.MaxBlobBytes <= 0 || cfg.Limits.BlobQuotaBytes <= 0 || cfg.Limits.RatePerSecond <= 0 {
				return usageError{fmt.Errorf("document limits and the rate must be positive")}
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return usageError{fmt.Errorf("--log-level %q: give debug, info, warn or error", logLevel)}
			}
			proxies, err := server.ParseTrustedProxies(trustedProxies)
			if err != nil {
				return usageError{fmt.Errorf("--trusted-proxy: %w", err)}
			}
			cfg.TrustedProxies = proxies
			if scrub <= 0 {
				return usageError{fmt.Errorf("--scrub-interval must be positive")}
			}
			if epoch <= 0 {
				return usageError{fmt.Errorf("--epoch must be positive")}
			}
			var ws []keylog.Witness
			for _, w := range witnesses {
				u, vkey, ok := strings.Cut(w, "=")
				if !ok || u == "" || vkey == "" {
					return usageError{fmt.Errorf("--witness %q: give URL=VKEY", w)}
				}
				ws = append(ws, keylog.Witness{URL: u, VKey: vkey})
			}
			// Everything that can fail at once fails before the server
			// says it listens: the certificate, the address, the data.
			scheme := "http"
			switch {
			case (cfg.TLSCertFile == "") != (cfg.TLSKeyFile == ""):
				return usageError{errors.New("--tls-cert and --tls-key go together: give both, or neither for plain HTTP behind a TLS proxy")}
			case cfg.TLSCertFile != "":
				if _, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile); err != nil {
					return fmt.Errorf("cannot use the TLS certificate %s with the key %s: %w", cfg.TLSCertFile, cfg.TLSKeyFile, err)
				}
				scheme = "https"
			}
			ln, err := net.Listen("tcp", cfg.Addr)
			if err != nil {
				return listenError(cfg.Addr, err)
			}
			defer ln.Close()
			logger := slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			if err := os.MkdirAll(data, 0o700); err != nil {
				return fmt.Errorf("cannot create the data directory %s: %w", data, err)
			}
			st, err := sqlite.OpenDir(cmd.Context(), data, sqlite.Options{ScrubInterval: scrub})
			if err != nil {
				return fmt.Errorf("cannot open the server's data in %s: %w", data, err)
			}
			defer st.Close()
			klCfg := keylog.Config{
				Dir: filepath.Join(data, "keylog"), Store: st, DefaultOrigin: keylog.Origin(cfg.Addr),
				Heartbeat: epoch, Logger: logger, POSIX: keylog.POSIXOptions{Witnesses: ws, WitnessQuorum: witnessQuorum},
			}
			if logHost != "" {
				klCfg.Origin = keylog.Origin(logHost)
			}
			kl, err := keylog.Open(cmd.Context(), klCfg)
			if err != nil {
				return fmt.Errorf("cannot open the key log in %s: %w", klCfg.Dir, err)
			}
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := kl.Close(ctx); err != nil {
					logger.Error("closing the key log", "err", err)
				}
			}()
			cfg.KeyLog = kl
			cfg.DataDir = data
			logger.Info("key log open", "origin", kl.Info().Origin)
			logger.Info("starting", "addr", ln.Addr().String(), "data", data, "open_registration", cfg.OpenRegistration, "tls", scheme == "https")
			url := scheme + "://" + ln.Addr().String()
			if jsonFlag(cmd) {
				err = printJSON(cmd.OutOrStdout(), map[string]any{"listening": url, "data": data, "origin": kl.Info().Origin})
			} else {
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "backchannel server listening on %s, data in %s\n", url, data)
			}
			if err != nil {
				return err
			}
			return server.New(cfg, st, logger).Serve(cmd.Context(), ln)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Addr, "addr", envDefault("BACKCHANNEL_ADDR", server.DefaultAddr), "listen address ($BACKCHANNEL_ADDR)")
	f.StringVar(&data, "data", envDefault("BACKCHANNEL_DATA", "backchannel-data"), "data directory ($BACKCHANNEL_DATA)")
	f.StringVar(&cfg.TLSCertFile, "tls-cert", os.Getenv("BACKCHANNEL_TLS_CERT"), "TLS certificate, PEM ($BACKCHANNEL_TLS_CERT)")
	f.StringVar(&cfg.TLSKeyFile, "tls-key", os.Getenv("BACKCHANNEL_TLS_KEY"), "TLS private key, PEM ($BACKCHANNEL_TLS_KEY)")
	f.BoolVar(&cfg.OpenRegistration, "open-registration", os.Getenv("BACKCHANNEL_OPEN_REGISTRATION") == "1", "let anyone register without an invite; development only ($BACKCHANNEL_OPEN_REGISTRATION=1)")
	f.StringVar(&logLevel, "log-level", envDefault("BACKCHANNEL_LOG_LEVEL", "info"), "debug, info, warn or error ($BACKCHANNEL_LOG_LEVEL)")
	def := server.DefaultLimits()
	f.Int64Var(&cfg.Limits.MaxBlobBytes, "max-document-bytes", envInt("BACKCHANNEL_MAX_DOCUMENT_BYTES", def.MaxBlobBytes), "largest stored document, encrypted ($BACKCHANNEL_MAX_DOCUMENT_BYTES)")
	f.Int64Var(&cfg.Limits.BlobQuotaBytes, "document-quota-bytes", envInt("BACKCHANNEL_DOCUMENT_QUOTA_BYTES", def.BlobQuotaBytes), "document bytes one account may store ($BACKCHANNEL_DOCUMENT_QUOTA_BYTES)")
	f.Float64Var(&cfg.Limits.RatePerSecond, "rate", def.RatePerSecond, "authenticated requests per account per second")
	f.StringArrayVar(&trustedProxies, "trusted-proxy", splitEnv("BACKCHANNEL_TRUSTED_PROXY"), "a reverse proxy (CIDR or address, repeatable) whose X-Forwarded-For is believed; from anyone else the header is ignored ($BACKCHANNEL_TRUSTED_PROXY, comma-separated)")
	f.IntVar(&cfg.Limits.MaxConns, "max-conns", int(envInt("BACKCHANNEL_MAX_CONNS", int64(def.MaxConns))), "open connections; more are answered 503 and closed ($BACKCHANNEL_MAX_CONNS)")
	f.IntVar(&cfg.Limits.MaxConnsPerAddress, "max-conns-per-address", int(envInt("BACKCHANNEL_MAX_CONNS_PER_ADDRESS", int64(def.MaxConnsPerAddress))), "open connections from one client address; trusted proxies are exempt ($BACKCHANNEL_MAX_CONNS_PER_ADDRESS)")
	f.IntVar(&cfg.Limits.MaxUnauthBodies, "max-unauth-bodies", def.MaxUnauthBodies, "request bodies read before any signature can be checked (registrations, link requests), all together")
	f.IntVar(&cfg.Limits.MaxUnauthBodiesPerAddress, "max-unauth-bodies-per-address", def.MaxUnauthBodiesPerAddress, "the same from one client address")
	f.IntVar(&cfg.Limits.MaxStreamsPerDevice, "max-streams-per-device", def.MaxStreamsPerDevice, "open push streams of one device")
	f.Int64Var(&cfg.Limits.MaxMailboxBytes, "mailbox-bytes", envInt("BACKCHANNEL_MAILBOX_BYTES", def.MaxMailboxBytes), "unfetched message bytes one device's mailbox may hold ($BACKCHANNEL_MAILBOX_BYTES)")
	f.Int64Var(&cfg.Limits.MailboxBytesPerSender, "mailbox-bytes-per-sender", envInt("BACKCHANNEL_MAILBOX_BYTES_PER_SENDER", def.MailboxBytesPerSender), "unfetched message bytes one sender account may leave for one recipient account, itself included ($BACKCHANNEL_MAILBOX_BYTES_PER_SENDER)")
	f.IntVar(&cfg.Limits.MaxDevices, "max-devices", def.MaxDevices, "devices of one account (at most 16, the device list's own limit)")
	f.DurationVar(&scrub, "scrub-interval", sqlite.DefaultScrubInterval, "longest time an acknowledged message or deleted document stays readable in the database files")
	f.StringVar(&logHost, "log-origin", os.Getenv("BACKCHANNEL_LOG_ORIGIN"), "host in the key log's origin backchannel/keylog/<host>; fixed at the log's first start (default: the listen address) ($BACKCHANNEL_LOG_ORIGIN)")
	f.DurationVar(&epoch, "epoch", keylog.DefaultHeartbeat, "longest time between two key log epochs (a heartbeat epoch is published even with no change)")
	f.StringArrayVar(&witnesses, "witness", nil, "a witness that cosigns key log checkpoints, URL=VKEY (repeatable)")
	f.IntVar(&witnessQuorum, "witness-quorum", 0, "witnesses that must cosign each checkpoint (default: all of --witness)")

	var ttl time.Duration
	var name string
	invite := &cobra.Command{
		Use:   "invite --data DIR [--name NAME]",
		Short: "Print a one-time registration token",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if name != "" && !api.ValidName(name) {
				return usageError{fmt.Errorf("--name %q: a name is 1 to 32 lowercase letters, digits, - or _", name)}
			}
			if ttl <= 0 {
				return usageError{errors.New("--ttl must be positive")}
			}
			if _, err := os.Stat(filepath.Join(data, sqlite.FileName)); err != nil {
				return fmt.Errorf("%w in %s: give the directory 'backchannel serve --data' uses (nothing was created)", errNoServer, data)
			}
			st, err := sqlite.OpenDir(cmd.Context(), data, sqlite.Options{})
			if err != nil {
				return fmt.Errorf("cannot open the server's data in %s: %w", data, err)
			}
			defer st.Close()
			tok, err := server.CreateInviteFor(cmd.Context(), st, name, ttl)
			if err != nil {
				return fmt.Errorf("cannot create the invite: %w", err)
			}
			if jsonFlag(cmd) {
				return printJSON(cmd.OutOrStdout(), map[string]any{"invite": tok, "name": name, "expires": time.Now().Add(ttl).UTC().Format(time.RFC3339)})
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			return nil
		},
	}
	invite.Flags().StringVar(&data, "data", envDefault("BACKCHANNEL_DATA", "backchannel-data"), "data directory of the server ($BACKCHANNEL_DATA)")
	invite.Flags().DurationVar(&ttl, "ttl", server.InviteTTL, "how long the token stays valid")
	invite.Flags().StringVar(&name, "name", "", "the only account name the token registers (empty: any)")
	cmd.AddCommand(invite)
	return cmd
}

// jsonFlag reports whether --json was given (the root's flag, for the
// commands built without the globals).
func jsonFlag(cmd *cobra.Command) bool {
	v, err := cmd.Flags().GetBool("json")
	return err == nil && v
}

// listenError says in plain words why the server cannot listen on addr: a
// malformed address, a host that does not resolve or is not this machine's,
// a port in use or one that needs privileges.
func listenError(addr string, err error) error {
	host, port, serr := net.SplitHostPort(addr)
	switch {
	case serr != nil:
		return fmt.Errorf("%q is not an address to listen on: give HOST:PORT, for example 127.0.0.1:8443", addr)
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("cannot listen on %s: the port is in use (is another server running there?)", addr)
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("cannot listen on %s: this user may not use port %s (ports below 1024 need privileges; pick a higher one)", addr, port)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return fmt.Errorf("cannot listen on %s: %s is not an address of this machine", addr, host)
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return fmt.Errorf("cannot listen on %s: the host %s is not known (use an IP address such as 127.0.0.1)", addr, host)
	}
	if n, perr := strconv.Atoi(port); perr != nil || n < 0 || n > 65535 {
		return fmt.Errorf("cannot listen on %s: %s is not a port number (0-65535)", addr, port)
	}
	return fmt.Errorf("cannot listen on %s: %w", addr, err)
}
