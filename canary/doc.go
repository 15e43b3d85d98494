// Package canary gives every recipient of a message a subtly different copy
// (a cryptographic canary trap) and traces a leaked copy back to the
// recipient(s) whose copy it was.
//
// Contract:
//
//   - Mark derives a recipient's copy from the sender's secret marking key, the
//     message id and the recipient only; nothing extra is stored, and without the
//     key nobody (in particular no other member) can compute that copy.
//   - Marks are carried by slots of three channels: invisible Unicode (a
//     zero-width character after a word gap), typographic (quote, apostrophe,
//     dash and ellipsis styles; one or two spaces after a sentence) and lexical
//     (curated meaning-preserving alternatives shipped in lexicon/*.txt).
//     Marking never changes the value of a number, names (capitalised words in
//     mid-sentence), negations, quoted code, URLs or e-mail addresses, and
//     nothing inside a protected span (protect.go): Markdown structure
//     (tables, rules, headings, list and quote markers, code, links, HTML)
//     and digit groups such as IBANs, card and phone numbers and dates.
//   - Normalize strips invisible marks and folds typography; Canonicalize also
//     maps every lexical alternative to its canonical form, so that all copies
//     of one message have the same canonical text.
//   - A Tracer aligns a leak (pasted, retyped, excerpted, reordered, lightly
//     edited, merged by colluders) to the sender's messages, reads the slots and
//     scores every recipient with a q-ary symmetric Tardos score and a
//     single-copy likelihood-ratio score. A member is named only if a proven
//     Chernoff bound, union-bounded over both scores and all members, puts the
//     probability that an innocent member scores as high at or below ε.
//     Otherwise the verdict is inconclusive. See docs/canary.md for the math.
package canary
