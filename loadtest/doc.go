// Package loadtest is the load tool behind `backchannel bench`: it drives a
// real backchannel server with real clients and measures durable relay
// throughput, end-to-end delivery latency and memory.
//
// Contract:
//
//   - Every run starts its own server in this process (package server over
//     store/sqlite, open registration) on 127.0.0.1:0 with a fresh temporary
//     data directory, and deletes it afterwards. Nothing leaves loopback.
//     The SQLite store fsyncs every commit (WAL, synchronous=FULL) and groups
//     concurrent writes into one commit; a send is acknowledged only once
//     durable, so every accepted message was fsync'd.
//   - Server limits are the defaults except registrations per client IP and
//     the per-address connection and unauthenticated-body caps, which are
//     lifted because every load account connects from 127.0.0.1 (see
//     benchLimits).
//   - Clients are real: each account has an identity key and a certified
//     device (package identity); readers publish signed prekeys with one-time
//     X25519 and ML-KEM prekeys (package handshake); each sender fetches its
//     reader's bundle from the server, runs PQXDH and keeps a Double Ratchet
//     session (package session). Every message is encrypted by its sender's
//     session and decrypted by its reader, which receives over the WebSocket
//     push stream and acknowledges on it.
//   - Before measuring, each sender completes its handshake with one round
//     trip (a prekey message and the reader's reply), as members of a new
//     room do; those messages are not measured.
//   - Messages carry their send time inside the plaintext; delivery latency
//     runs from just before the sender encrypts to the reader's decryption.
//     Readers de-duplicate by server id and check that every (sender,
//     sequence) arrives exactly once with exactly the bytes sent.
//   - Memory figures are the Go runtime's for the whole process, which
//     holds the server and the relay runs' load clients. The idle-connection
//     run keeps the client ends in a child process when
//     IdleConfig.ClientCommand is set (that program must call
//     IdleClientMain when IdleClientEnv is set), else in this process as
//     bare sockets whose estimated cost is subtracted.
//   - Anything that blocks takes a context; runs are bounded by timeouts.
//
// Use Run with DefaultConfig (or a Config of your own) for the whole
// benchmark, or RunRelay and RunIdle for single runs. Report renders as
// JSON (struct tags) or as text tables (String).
package loadtest
