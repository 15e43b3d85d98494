// Package invariants holds no code: its tests read the repository's source
// and fail when a rule that must never break is broken — no math/rand in
// cryptographic packages, deterministic test entropy only in tests, no
// secret in a log call, and every domain-separation label written down in
// the documentation word for word.
package invariants
