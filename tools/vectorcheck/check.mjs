#!/usr/bin/env node
// vectorcheck: an independent checker of testdata/protocol_vectors.json.
//
// Written from docs/protocol.md alone (sections 1-8 and 10, protocol version 2), without reading the Go implementation,
// so that a second implementation reproduces the known-answer vectors. Node's built-in `crypto` only.
// ML-KEM-768 is not implemented: key generation and encapsulation results come from the tapes and
// decapsulation looks the shared secret up by ciphertext on the other party's tape (section 10).
//
// Usage: node tools/vectorcheck/check.mjs testdata

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  KemOracle, Reader, Tape, ed25519Public, ed25519Sign, eq, hex, unhex, x25519, x25519Public,
} from './prims.mjs';
import {
  InitiatorSession, MAX_CLOCK_SKEW, MAX_PREKEY_AGE, Responder, checkFresh, initiate, kemPrekeyMessage,
  makeCertificate, parseAndVerifyBundle,
  parseCertificate, readInitiation, safetyNumber, spkMessage, verifyCertificate,
} from './protocol.mjs';
import { checkDeviceLists } from './devicelist.mjs';
import { checkKeyLog } from './keylog.mjs';
import { checkManifests } from './manifest.mjs';

const dir = process.argv[2] ?? 'testdata';
const V = JSON.parse(readFileSync(join(dir, 'protocol_vectors.json'), 'utf8'));

let passed = 0, failed = 0;

/** A check group: one output line, with the failures listed under it. */
function group(title, body) {
  const g = {
    n: 0, failures: [],
    check(what, ok, detail = '') {
      g.n++;
      if (ok) passed++; else { failed++; g.failures.push(detail ? `${what}: ${detail}` : what); }
      return ok;
    },
    same(what, expected, got) {
      const e = Buffer.from(expected), o = Buffer.from(got);
      if (eq(e, o)) return g.check(what, true);
      let at = 0;
      while (at < e.length && at < o.length && e[at] === o[at]) at++;
      const from = Math.max(0, at - 4);
      const around = (b) => `${hex(b.subarray(0, 6))}… [${from}..] ${hex(b.subarray(from, at + 12))}`;
      return g.check(what, false, `first difference at byte ${at} (lengths ${e.length}/${o.length}): ` +
        `expected ${around(e)}, got ${around(o)}`);
    },
    throws(what, fn) {
      try { fn(); } catch (err) { g.check(what, true); return err.message; }
      g.check(what, false, 'was accepted');
      return null;
    },
  };
  let note = '';
  try { note = body(g) ?? ''; } catch (err) { g.check('unexpected error', false, err.stack.split('\n').slice(0, 3).join(' | ')); }
  console.log(`${g.failures.length ? 'FAIL' : 'ok  '} ${title}: ${g.n} checks${note ? ` (${note})` : ''}`);
  for (const f of g.failures) console.log(`       - ${f}`);
}

// ---- inputs shared by the groups ------------------------------------------------------------

const party = (p) => ({
  userSeed: unhex(p.user_seed), userPublic: unhex(p.user_public), dsSeed: unhex(p.device_signing_seed),
  dhPriv: unhex(p.device_dh_private), certificate: unhex(p.certificate),
});
const prekeys = (h) => ({
  spkPriv: unhex(h.responder_prekeys.signed_prekey_private),
  opkPriv: h.responder_prekeys.one_time_prekey_private ? unhex(h.responder_prekeys.one_time_prekey_private) : null,
  kemSeed: unhex(h.responder_prekeys.kem_prekey_seed),
});
const runFor = (i) => {
  const run = V.ratchets.find((r) => r.handshake === i);
  if (!run) throw new Error(`no ratchet run for handshake ${i}`);
  return run;
};
const text = (s) => Buffer.from(s, 'utf8');

// A fresh responder of handshake i, with its own copies of the tapes.
function freshResponder(i) {
  const h = V.handshakes[i], run = runFor(i);
  const aliceTape = new Tape('alice', run.tapes.alice), bobTape = new Tape('bob', run.tapes.bob);
  return new Responder(party(h.responder), parseAndVerifyBundle(unhex(h.bundle)), prekeys(h), bobTape, new KemOracle(aliceTape));
}

// ---- 1. handshakes --------------------------------------------------------------------------

function checkHandshake(g, i) {
  const h = V.handshakes[i], run = runFor(i);
  const A = party(h.initiator), B = party(h.responder), P = prekeys(h);

  for (const [name, p] of [['initiator', A], ['responder', B]]) {
    g.same(`${name} user public key`, p.userPublic, ed25519Public(p.userSeed));
    const c = parseCertificate(p.certificate);
    g.check(`${name} certificate verifies`, (() => { try { verifyCertificate(c); return true; } catch { return false; } })());
    g.same(`${name} certificate IKU`, p.userPublic, c.iku);
    g.same(`${name} certificate DS`, ed25519Public(p.dsSeed), c.ds);
    g.same(`${name} certificate DH`, x25519Public(p.dhPriv), c.dh);
    g.same(`${name} certificate rebuilt`, p.certificate, makeCertificate(p.userSeed, c.deviceId, c.ds, c.dh));
  }

  let bundle;
  try { bundle = parseAndVerifyBundle(unhex(h.bundle)); g.check('bundle parses and verifies', true); } catch (err) {
    g.check('bundle parses and verifies', false, err.message);
    return;
  }
  g.same('bundle certificate is the responder\'s', B.certificate, bundle.certificate.raw);
  g.same('bundle SPK', x25519Public(P.spkPriv), bundle.spk);
  g.same('bundle SPK signature (deterministic Ed25519)',
    ed25519Sign(B.dsSeed, spkMessage(bundle.spkId, bundle.spkCreated, bundle.spk)), bundle.spkSig);
  g.check('bundle has a one-time prekey iff the vector has its secret', (bundle.opk !== null) === (P.opkPriv !== null));
  if (bundle.opk && P.opkPriv) g.same('bundle OPK', x25519Public(P.opkPriv), bundle.opk.pub);
  g.same('bundle KEM prekey signature (deterministic Ed25519)',
    ed25519Sign(B.dsSeed, kemPrekeyMessage(bundle.kind, bundle.pqpkId, bundle.pqpkCreated, bundle.pqpk)), bundle.pqpkSig);
  // Freshness (section 3) at the vector's clock, and exactly at both limits.
  g.check('vector has a clock (now)', Number.isInteger(h.now));
  const fresh = (now) => { try { checkFresh(bundle, now); return true; } catch { return false; } };
  g.check('bundle is fresh at the vector\'s now', fresh(h.now), `now ${h.now}`);
  const oldest = bundle.spkCreated < bundle.pqpkCreated ? bundle.spkCreated : bundle.pqpkCreated;
  const newest = bundle.spkCreated > bundle.pqpkCreated ? bundle.spkCreated : bundle.pqpkCreated;
  g.check('bundle is fresh exactly MAX_PREKEY_AGE after its oldest prekey', fresh(oldest + MAX_PREKEY_AGE));
  g.check('bundle is stale one second later', !fresh(oldest + MAX_PREKEY_AGE + 1n));
  g.check('bundle is fresh exactly MAX_CLOCK_SKEW before its newest prekey', fresh(newest - MAX_CLOCK_SKEW));
  g.check('bundle is refused one second earlier', !fresh(newest - MAX_CLOCK_SKEW - 1n));
  g.check('KEM prekey seed is 64 bytes', P.kemSeed.length === 64);
  const ids = [bundle.spkId, bundle.pqpkId, ...(bundle.opk ? [bundle.opk.id] : [])];
  g.check('prekey ids are distinct', new Set(ids).size === ids.length, ids.join(','));

  // Initiator side, from the tape: EK_A, then the PQXDH encapsulation.
  const tape = new Tape('alice', run.tapes.alice);
  const ek = tape.entries[0], enc = tape.entries[1];
  const x = initiate(A, bundle, tape);
  g.same('PQXDH encapsulation targets the bundle KEM prekey', bundle.pqpk, enc.public);
  g.same('SK', unhex(h.secret_key), x.sk);
  g.same('AD', unhex(h.associated_data), x.ad);
  g.same('initiation rebuilt', unhex(h.initiation), x.initiation);

  // Responder side: the same DH values from the other private keys.
  const cA = parseCertificate(A.certificate);
  const dhB = [x25519(P.spkPriv, cA.dh), x25519(B.dhPriv, ek.public), x25519(P.spkPriv, ek.public)];
  if (P.opkPriv) dhB.push(x25519(P.opkPriv, ek.public));
  g.check(`DH1..DH${x.dhs.length} agree on both sides`, x.dhs.length === dhB.length && x.dhs.every((d, k) => eq(d, dhB[k])));

  // The initiation decodes to the expected values.
  const r = new Reader(unhex(h.initiation), 'initiation');
  const ini = readInitiation(r);
  r.end();
  g.same('initiation certificate', A.certificate, ini.certificate);
  g.same('initiation EK_A = first x25519 tape entry', ek.public, ini.ek);
  g.check('initiation spk_id', ini.spkId === bundle.spkId, `${ini.spkId} vs ${bundle.spkId}`);
  g.check('initiation opk_id', ini.opkId === (bundle.opk ? bundle.opk.id : null), `${ini.opkId}`);
  g.check('initiation pqpk_id and kind', ini.pqpkId === bundle.pqpkId && ini.lastResort === (bundle.kind === 1));
  g.same('initiation CT = tape ciphertext', enc.ciphertext, ini.ct);

  const sn = safetyNumber(A.userPublic, 'alice', B.userPublic, 'bob');
  g.check('safety number', sn === h.safety_number.replace(/\s/g, ''), `expected ${h.safety_number}, got ${sn}`);

  // Control for the negative vectors: a fresh responder accepts the genuine first envelope.
  const first = run.events.find((e) => e.event === 'send');
  const bob = freshResponder(i);
  try {
    g.same('fresh responder opens the first envelope', text(first.plaintext), bob.open(unhex(first.envelope)));
    g.same('responder SK', x.sk, bob.last.sk);
  } catch (err) { g.check('fresh responder opens the first envelope', false, err.message); }
  return `${bundle.opk ? 'with' : 'without'} OPK, KEM prekey ${bundle.kind ? 'last-resort' : 'one-time'}`;
}

// ---- 2. ratchet runs ------------------------------------------------------------------------

function checkRun(g, run) {
  const h = V.handshakes[run.handshake];
  const bundle = parseAndVerifyBundle(unhex(h.bundle));
  const aliceTape = new Tape('alice', run.tapes.alice), bobTape = new Tape('bob', run.tapes.bob);
  const aliceKem = new KemOracle(bobTape), bobKem = new KemOracle(aliceTape);
  const parties = {
    alice: new InitiatorSession(party(h.initiator), bundle, aliceTape, aliceKem),
    bob: new Responder(party(h.responder), bundle, prekeys(h), bobTape, bobKem),
  };
  const sent = new Map();
  let sends = 0, receives = 0;
  for (const [k, ev] of run.events.entries()) {
    const what = `event ${k} (${ev.party} ${ev.event}s #${ev.message})`;
    try {
      if (ev.event === 'send') {
        sends++;
        g.same(`${what} envelope`, unhex(ev.envelope), parties[ev.party].seal(text(ev.plaintext)));
        sent.set(ev.message, unhex(ev.envelope));
      } else if (ev.event === 'receive') {
        receives++;
        if (!sent.has(ev.message)) throw new Error('message was never sent');
        g.same(`${what} plaintext`, text(ev.plaintext), parties[ev.party].open(sent.get(ev.message)));
      } else throw new Error(`unknown event ${ev.event}`);
    } catch (err) {
      g.check(what, false, err.message);
      break; // the states have diverged; later events would only repeat the failure
    }
  }
  for (const t of [aliceTape, bobTape]) g.check(`${t.name}'s tape consumed exactly`, t.consumed, `${t.pos} of ${t.entries.length} entries used`);
  g.check('every decapsulation found its ciphertext on the peer tape', aliceKem.misses + bobKem.misses === 0);
  return `${sends} sends, ${receives} receives`;
}

// ---- 3. negative vectors --------------------------------------------------------------------

function checkNegative(g, n) {
  const data = unhex(n.data);
  if (n.kind === 'bundle') return g.throws('bundle refused', () => parseAndVerifyBundle(data));
  if (n.kind === 'stale_bundle') {
    // A genuine bundle: it must verify, and fail only the freshness check at the vector's now.
    let b = null;
    try { b = parseAndVerifyBundle(data); g.check('stale bundle verifies', true); } catch (err) { g.check('stale bundle verifies', false, err.message); return null; }
    g.check('vector has a clock (now)', Number.isInteger(n.now));
    return g.throws('bundle refused as stale', () => checkFresh(b, n.now));
  }
  if (n.kind === 'first_envelope') {
    const bob = freshResponder(n.handshake);
    return g.throws('first envelope refused by a fresh responder', () => bob.open(data));
  }
  g.check(`known kind (${n.kind})`, false);
  return null;
}

// ---- main -----------------------------------------------------------------------------------

V.handshakes.forEach((h, i) => group(`handshake ${i} "${h.name}"`, (g) => checkHandshake(g, i)));
V.ratchets.forEach((r, i) => group(`ratchet ${i} "${r.name}"`, (g) => checkRun(g, r)));
V.negative.forEach((n, i) => group(`negative ${i} (handshake ${n.handshake}) "${n.name}"`, (g) => {
  const why = checkNegative(g, n);
  return why ? `refused: ${why}` : '';
}));
checkDeviceLists(dir, group);
checkKeyLog(dir, group);
checkManifests(group);
if (!V.handshakes.length || !V.ratchets.length || !V.negative.length) {
  failed++;
  console.log('FAIL vectors file lacks handshakes, ratchets or negative cases');
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
