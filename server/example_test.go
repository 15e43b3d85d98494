package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"

	"backchannel/server"
	"backchannel/store/sqlite"
)

// Wiring a server: open the store in the data directory, serve until
// interrupted, then close the store.
func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	st, err := sqlite.OpenDir(ctx, "/var/lib/backchannel", sqlite.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	defer st.Close()
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	srv := server.New(server.Config{Addr: server.DefaultAddr}, st, logger)
	if err := srv.ListenAndServe(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
}

// Minting an invite token for `backchannel serve invite`.
func ExampleCreateInvite() {
	ctx := context.Background()
	st, err := sqlite.OpenDir(ctx, "/var/lib/backchannel", sqlite.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	defer st.Close()
	token, err := server.CreateInvite(ctx, st, server.InviteTTL)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	fmt.Println(token)
}
