// Package witness is a transparency-log witness for the backchannel key log,
// and the helpers the log server and the clients use to talk to witnesses.
//
// A witness speaks the C2SP tlog-witness protocol (c2sp.org/tlog-witness):
// a log POSTs "old <size>", an RFC 6962 consistency proof and its newly
// signed checkpoint to <prefix>/add-checkpoint, and the witness answers with
// a C2SP tlog-cosignature (cosignature/v1, Ed25519 with a timestamp) once it
// has checked that the checkpoint
//
//   - names an origin it is configured for (else 404) and carries a valid
//     signature by that log's key (else 403);
//   - has old <= size (else 400) and old equal to the size it last cosigned
//     for that origin (else 409 with that size, Content-Type text/x.tlog.size);
//   - extends what it cosigned before: the proof verifies from the stored
//     (size, root) to the new one (else 422); at equal sizes the roots are
//     equal (else 409, and both signed checkpoints are kept as evidence).
//
// The contract a Server keeps, across concurrent requests and restarts: for
// each origin it never cosigns two checkpoints that are not consistent with
// each other, and never a checkpoint smaller than one it cosigned. The check,
// the state update and its fsync happen under one lock, before the
// cosignature leaves the process; a lock file keeps a second process off the
// same data directory.
//
// Clients check cosignatures with VerifyCosignatures (N of the named witness
// keys). A log collects them with Collect, or with Tessera's own witness
// support (tessera.NewWitness with the vkey this package prints), which
// speaks the same protocol.
package witness
