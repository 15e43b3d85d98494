// The backchannel protocol, version 2, reimplemented from docs/protocol.md alone (not from the Go
// code) for the vector checker. Section numbers below refer to that document.

import {
  Reader, aeadOpen, aeadSeal, ascii, cat, ed25519Public, ed25519Sign, ed25519Verify, eq, hex, hkdf,
  hkdfExpand, hmac, i64, sha256, sha512, u32, validX25519Public, x25519, x25519Public, zeros,
} from './prims.mjs';

export const LABEL = {
  certificate: 'backchannel device certificate v1',
  signedPrekey: 'backchannel signed prekey v2',
  kemPrekey: 'backchannel kem prekey v2',
  safety: 'backchannel safety number v1',
  pqxdh: 'backchannel_CURVE25519_SHA-256_ML-KEM-768',
  root: 'backchannel_ratchet_root',
  rootKem: 'backchannel_ratchet_root_kem',
  messageKeys: 'backchannel message keys v1',
};
const NONCE = 12, TAG = 16;
// Prekey lifetimes (section 3), in seconds.
export const MAX_PREKEY_AGE = 2592000n, MAX_CLOCK_SKEW = 86400n;
const KEM_PUBLIC = 1184, KEM_CT = 1088;
const KEM_INTERVAL = 8, MAX_SKIP = 1000, MAX_STORED = 2000, MAX_RETIRED = 8;

// ---- section 2: certificates and safety numbers ---------------------------------------------

export const certificateMessage = (iku, deviceId, ds, dh) => cat(ascii(LABEL.certificate), iku, u32(deviceId), ds, dh);

export function makeCertificate(userSeed, deviceId, ds, dh) {
  const iku = ed25519Public(userSeed);
  return cat(iku, u32(deviceId), ds, dh, ed25519Sign(userSeed, certificateMessage(iku, deviceId, ds, dh)));
}

export function parseCertificate(bytes) {
  const r = new Reader(bytes, 'certificate');
  const c = { raw: Buffer.from(bytes), iku: r.take(32), deviceId: r.u32(), ds: r.take(32), dh: r.take(32), sig: r.take(64) };
  r.end();
  return c;
}

export function verifyCertificate(c) {
  if (!ed25519Verify(c.iku, certificateMessage(c.iku, c.deviceId, c.ds, c.dh), c.sig)) throw new Error('certificate signature invalid');
  if (!validX25519Public(c.dh)) throw new Error('certificate DH key invalid');
  return c;
}

function safetyHalf(iku, name) {
  let d = sha512(cat(ascii(LABEL.safety), [0x00], iku, ascii(name)));
  for (let i = 1; i <= 5199; i++) d = sha512(cat(d, iku));
  let digits = '';
  for (let j = 0; j <= 5; j++) digits += String(d.readUIntBE(5 * j, 5) % 100000).padStart(5, '0');
  return digits;
}

/** The 60 digits (without the grouping of the text form). */
export function safetyNumber(ikuA, nameA, ikuB, nameB) {
  const a = safetyHalf(ikuA, nameA), b = safetyHalf(ikuB, nameB);
  const c = Buffer.compare(ikuA, ikuB) || Buffer.compare(ascii(nameA), ascii(nameB));
  return c <= 0 ? a + b : b + a;
}

// ---- section 3: prekeys and bundles ---------------------------------------------------------

export const spkMessage = (id, created, spk) => cat(ascii(LABEL.signedPrekey), u32(id), i64(created), spk);
export const kemPrekeyMessage = (kind, id, created, pq) => cat(ascii(LABEL.kemPrekey), [kind], u32(id), i64(created), pq);

export function parseBundle(bytes) {
  const r = new Reader(bytes, 'bundle');
  if (r.u8() !== 0x02) throw new Error('bundle: unknown version');
  const b = {
    certificate: parseCertificate(r.take(164)), spkId: r.u32(), spkCreated: r.i64(), spk: r.take(32), spkSig: r.take(64), opk: null,
  };
  const hasOpk = r.u8();
  if (hasOpk === 0x01) b.opk = { id: r.u32(), pub: r.take(32) };
  else if (hasOpk !== 0x00) throw new Error('bundle: bad one-time prekey marker');
  b.pqpkId = r.u32();
  b.kind = r.u8();
  if (b.kind > 1) throw new Error('bundle: bad KEM prekey kind');
  b.pqpkCreated = r.i64();
  b.pqpk = r.take(KEM_PUBLIC);
  b.pqpkSig = r.take(64);
  r.end();
  return b;
}

export function parseAndVerifyBundle(bytes) {
  const b = parseBundle(bytes);
  const c = verifyCertificate(b.certificate);
  if (!ed25519Verify(c.ds, spkMessage(b.spkId, b.spkCreated, b.spk), b.spkSig)) throw new Error('bundle: signed prekey signature invalid');
  if (!ed25519Verify(c.ds, kemPrekeyMessage(b.kind, b.pqpkId, b.pqpkCreated, b.pqpk), b.pqpkSig)) {
    throw new Error('bundle: KEM prekey signature invalid');
  }
  return b;
}

/** Freshness (section 3): both creation times within [now - MAX_PREKEY_AGE, now + MAX_CLOCK_SKEW]. */
export function checkFresh(b, now) {
  const t = BigInt(now);
  for (const [what, created] of [['signed prekey', b.spkCreated], ['KEM prekey', b.pqpkCreated]]) {
    if (created < t - MAX_PREKEY_AGE) throw new Error(`bundle: ${what} created ${created}, older than MAX_PREKEY_AGE at ${t}`);
    if (created > t + MAX_CLOCK_SKEW) throw new Error(`bundle: ${what} dated ${created}, beyond MAX_CLOCK_SKEW at ${t}`);
  }
  return b;
}

// ---- section 4: PQXDH and the initiation ----------------------------------------------------

export const pqxdhSecret = (dhs, ss) => hkdf(zeros(32), cat(Buffer.alloc(32, 0xff), ...dhs, ss), LABEL.pqxdh, 32);
export const associatedData = (certA, certB) => cat(certA.iku, certA.dh, certB.iku, certB.dh);

export function encodeInitiation(i) {
  const flags = (i.opkId !== null ? 1 : 0) | (i.lastResort ? 2 : 0);
  return cat(i.certificate, i.ek, u32(i.spkId), [flags], i.opkId !== null ? u32(i.opkId) : [], u32(i.pqpkId), i.ct);
}

export function readInitiation(r) {
  const i = { certificate: r.take(164), ek: r.take(32), spkId: r.u32() };
  const flags = r.u8();
  if (flags & ~3) throw new Error('initiation: unknown flag bits');
  i.opkId = flags & 1 ? r.u32() : null;
  i.lastResort = (flags & 2) !== 0;
  i.pqpkId = r.u32();
  i.ct = r.take(KEM_CT);
  return i;
}

/** Initiator side: draws EK_A, then the encapsulation, from the tape. */
export function initiate(me, bundle, tape) {
  const ek = tape.next('x25519');
  const enc = tape.next('mlkem768_encapsulate');
  if (!eq(enc.public, bundle.pqpk)) throw new Error('PQXDH encapsulation does not target the bundle KEM prekey');
  const peer = bundle.certificate;
  const dhs = [x25519(me.dhPriv, bundle.spk), x25519(ek.private, peer.dh), x25519(ek.private, bundle.spk)];
  if (bundle.opk) dhs.push(x25519(ek.private, bundle.opk.pub));
  const sk = pqxdhSecret(dhs, enc.shared_secret);
  const initiation = encodeInitiation({
    certificate: me.certificate, ek: ek.public, spkId: bundle.spkId, opkId: bundle.opk ? bundle.opk.id : null,
    lastResort: bundle.kind === 1, pqpkId: bundle.pqpkId, ct: enc.ciphertext,
  });
  return { sk, ad: associatedData(parseCertificate(me.certificate), peer), initiation, dhs, ek: ek.public };
}

// ---- section 5: Double Ratchet with a KEM step ----------------------------------------------

function kdfRK(rk, ikm, withKEM) {
  const out = hkdf(rk, ikm, withKEM ? LABEL.rootKem : LABEL.root, 64);
  return [out.subarray(0, 32), out.subarray(32, 64)];
}
const kdfCK = (ck) => [hmac(ck, Buffer.from([0x02])), hmac(ck, Buffer.from([0x01]))]; // [next CK, MK]
// Message keys: HKDF-Expand(MK, "backchannel message keys v1", 64) = EK || NK; the synthetic nonce is
// HMAC(NK, header || plaintext)[0:12], sent after the header; AES-256-GCM under EK, ad = AD || header.
function messageKeys(mk) {
  const out = hkdfExpand(mk, LABEL.messageKeys, 64);
  return { ek: out.subarray(0, 32), nk: out.subarray(32, 64) };
}
export const syntheticNonce = (nk, header, pt) => hmac(nk, cat(header, pt)).subarray(0, NONCE);
/** Returns nonce || ciphertext || tag. */
function seal(mk, header, pt, ad) {
  const { ek, nk } = messageKeys(mk);
  const nonce = syntheticNonce(nk, header, pt);
  return cat(nonce, aeadSeal(ek, nonce, pt, ad));
}
/** Opens nonce || ciphertext || tag and checks that the nonce is the synthetic one. */
function open(mk, header, body, ad) {
  const { ek, nk } = messageKeys(mk);
  const nonce = body.subarray(0, NONCE);
  const pt = aeadOpen(ek, nonce, body.subarray(NONCE), ad);
  if (!eq(syntheticNonce(nk, header, pt), nonce)) throw new Error('nonce is not the synthetic nonce');
  return pt;
}

export function parseRatchetMessage(msg) {
  const r = new Reader(msg, 'ratchet message');
  const h = { flags: r.u8() };
  if (h.flags & ~7) throw new Error('ratchet message: unknown flag bits');
  if (h.flags & 4 && h.flags & 3) throw new Error('ratchet message: KEM fields present and omitted');
  h.dh = r.take(32); h.pn = r.u32(); h.n = r.u32();
  if (h.flags & 1) { h.targetId = r.take(8); h.kemCt = r.take(KEM_CT); }
  if (h.flags & 2) h.kemPublic = r.take(KEM_PUBLIC);
  h.header = msg.subarray(0, r.pos);
  h.body = r.rest(); // nonce || ciphertext || tag
  if (h.body.length < NONCE + TAG) throw new Error('ratchet message: shorter than nonce and tag');
  return h;
}

const skipKey = (dh, n) => `${hex(dh)}:${n}`;
const cloneState = (s) => ({ ...s, skipped: new Map(s.skipped), retired: [...s.retired] });

export class Ratchet {
  /** tape: this party's randomness; kem: decapsulation oracle (KemOracle). */
  constructor(ad, rk, tape, kem) {
    this.tape = tape; this.kem = kem;
    this.s = {
      ad, rk, dhs: null, dhr: null, cks: null, ckr: null, ns: 0, nr: 0, pn: 0, turns: 0,
      kems: null, kemr: null, kemrFresh: false, chainKem: null, chainAdvertises: false, skipped: new Map(), retired: [],
    };
  }

  // Section 5, Initialisation: a fresh ratchet key pair, and a first chain without KEM fields.
  static initiator(ad, sk, spkB, tape, kem) {
    const r = new Ratchet(ad, sk, tape, kem);
    const kp = tape.next('x25519');
    r.s.dhr = spkB;
    r.s.dhs = { priv: kp.private, pub: kp.public };
    [r.s.rk, r.s.cks] = kdfRK(sk, x25519(kp.private, spkB), false);
    return r;
  }

  static responder(ad, sk, spkPriv, tape, kem) {
    const r = new Ratchet(ad, sk, tape, kem);
    r.s.dhs = { priv: spkPriv, pub: x25519Public(spkPriv) };
    return r;
  }

  sendingStep(s) {
    const kp = this.tape.next('x25519');
    let ikm = x25519(kp.private, s.dhr);
    let withKEM = false;
    // Section 5, KEM cadence: encapsulate once to each key the peer advertised, on the next turn;
    // advertise a new key pair on the first turn and every KEM_INTERVAL-th after.
    s.chainKem = null;
    if (s.kemr !== null && s.kemrFresh) {
      const enc = this.tape.next('mlkem768_encapsulate');
      if (!eq(enc.public, s.kemr)) throw new Error("tape encapsulation does not target the peer's KEM key");
      ikm = cat(ikm, enc.shared_secret);
      withKEM = true;
      s.chainKem = { targetId: sha256(s.kemr).subarray(0, 8), ct: enc.ciphertext };
      s.kemrFresh = false;
    }
    if (s.kems === null || s.turns + 1 >= KEM_INTERVAL) {
      s.kems = this.tape.next('mlkem768_keygen').public;
      s.chainAdvertises = true;
      s.turns = 0;
    } else {
      s.turns += 1;
      s.chainAdvertises = false;
    }
    [s.rk, s.cks] = kdfRK(s.rk, ikm, withKEM);
    s.dhs = { priv: kp.private, pub: kp.public };
    s.pn = s.ns;
    s.ns = 0;
  }

  encrypt(plaintext) {
    const s = this.s;
    if (s.cks === null) {
      if (s.dhr === null) throw new Error('cannot send before receiving');
      this.sendingStep(s); // deferred from the receiving step
    }
    const [ck, mk] = kdfCK(s.cks);
    s.cks = ck;
    // A chain's KEM fields ride on every one of its messages (section 5, Encrypt); bit 2 is never sent.
    const flags = (s.chainKem ? 1 : 0) | (s.chainAdvertises ? 2 : 0);
    const header = cat([flags], s.dhs.pub, u32(s.pn), u32(s.ns),
      s.chainKem ? cat(s.chainKem.targetId, s.chainKem.ct) : [],
      s.chainAdvertises ? s.kems : []);
    s.ns += 1;
    return cat(header, seal(mk, header, plaintext, cat(s.ad, header)));
  }

  // Derives and stores the keys of chain `dh` for numbers from..to-1; returns the advanced chain key.
  static skip(s, dh, ck, from, to) {
    if (to - from > MAX_SKIP) throw new Error('too many skipped messages');
    for (let n = from; n < to; n++) {
      const [next, mk] = kdfCK(ck);
      ck = next;
      s.skipped.set(skipKey(dh, n), mk);
      if (s.skipped.size > MAX_STORED) s.skipped.delete(s.skipped.keys().next().value);
    }
    return ck;
  }

  decrypt(msg) {
    const h = parseRatchetMessage(msg);
    const s = cloneState(this.s); // committed only after the plaintext authenticated
    const ad = cat(s.ad, h.header);
    let pt;
    const stored = s.skipped.get(skipKey(h.dh, h.n));
    if (stored) {
      pt = open(stored, h.header, h.body, ad);
      s.skipped.delete(skipKey(h.dh, h.n));
    } else if (s.dhr !== null && eq(h.dh, s.dhr)) {
      if (h.n < s.nr) throw new Error('duplicate message');
      if (s.ckr === null) throw new Error('no receiving chain for this key');
      const ck = Ratchet.skip(s, h.dh, s.ckr, s.nr, h.n);
      const [next, mk] = kdfCK(ck);
      pt = open(mk, h.header, h.body, ad);
      s.ckr = next;
      s.nr = h.n + 1;
    } else if (s.retired.some((k) => eq(k, h.dh))) {
      throw new Error('duplicate message (retired ratchet key)');
    } else if (s.cks === null && s.dhr !== null) {
      throw new Error('a new chain before ours was sent (our ratchet key is deleted)');
    } else if (h.flags & 4) {
      throw new Error('an earlier message of this chain must be decrypted first');
    } else {
      if (s.ckr !== null) s.ckr = Ratchet.skip(s, s.dhr, s.ckr, s.nr, h.pn);
      let ikm = x25519(s.dhs.priv, h.dh);
      if (h.flags & 1) {
        if (s.kems === null || !eq(h.targetId, sha256(s.kems).subarray(0, 8))) throw new Error('unknown KEM key');
        ikm = cat(ikm, this.kem.decaps(s.kems, h.kemCt));
      }
      let ck;
      [s.rk, ck] = kdfRK(s.rk, ikm, (h.flags & 1) !== 0);
      ck = Ratchet.skip(s, h.dh, ck, 0, h.n);
      const [next, mk] = kdfCK(ck);
      pt = open(mk, h.header, h.body, ad);
      s.ckr = next;
      if (h.flags & 2) { s.kemr = h.kemPublic; s.kemrFresh = true; }
      if (s.dhr !== null) { s.retired.push(s.dhr); if (s.retired.length > MAX_RETIRED) s.retired.shift(); }
      s.dhr = h.dh;
      s.nr = h.n + 1;
      // The sending step waits for the next encrypt; the ended chain's KEM fields are acknowledged.
      s.cks = null;
      s.chainKem = null;
      s.chainAdvertises = false;
      s.dhs = null; // its last DH is done: deleted now (forward secrecy)
    }
    this.s = s;
    return pt;
  }
}

// ---- sections 7 and 8: envelopes and sessions -----------------------------------------------

export function parseEnvelope(env) {
  const r = new Reader(env, 'envelope');
  const version = r.u8();
  if (version !== 0x02) throw new Error(`envelope version ${version} unknown: ${version < 2 ? 'the sender' : 'this checker'} must upgrade`);
  const type = r.u8();
  if (type === 0x01) return { type, initiation: readInitiation(r), message: r.rest() };
  if (type === 0x02) return { type, message: r.rest() };
  throw new Error(`envelope: unknown type ${type}`);
}

/** The initiator's session: prekey envelopes until it has decrypted one reply. */
export class InitiatorSession {
  constructor(me, bundle, tape, kem) {
    const x = initiate(me, bundle, tape);
    Object.assign(this, { sk: x.sk, ad: x.ad, pending: x.initiation });
    this.ratchet = Ratchet.initiator(x.ad, x.sk, bundle.spk, tape, kem);
  }
  seal(plaintext) {
    const m = this.ratchet.encrypt(plaintext);
    return this.pending ? cat([0x02, 0x01], this.pending, m) : cat([0x02, 0x02], m);
  }
  open(envelope) {
    const e = parseEnvelope(envelope);
    if (e.type !== 0x02) throw new Error('initiator received a prekey envelope');
    const pt = this.ratchet.decrypt(e.message);
    this.pending = null;
    return pt;
  }
}

/** A responder device holding the prekeys of one bundle (one generation); sessions are named by EK_A. */
export class Responder {
  constructor(me, bundle, prekeys, tape, kem) {
    Object.assign(this, { me, tape, kem, sessions: new Map(), replay: [], last: null });
    this.spks = new Map([[bundle.spkId, prekeys.spkPriv]]);
    this.opks = new Map(bundle.opk ? [[bundle.opk.id, prekeys.opkPriv]] : []);
    this.kemPrekeys = new Map([[bundle.pqpkId, { kind: bundle.kind, pub: bundle.pqpk }]]);
  }

  seal(plaintext) {
    if (!this.last) throw new Error('responder cannot send before it has received');
    return cat([0x02, 0x02], this.last.ratchet.encrypt(plaintext));
  }

  open(envelope) {
    const e = parseEnvelope(envelope);
    if (e.type === 0x02) {
      // A plain message names no session; the mailbox's sender does. This device has one peer.
      if (!this.last) throw new Error('message for no session');
      return this.last.ratchet.decrypt(e.message);
    }
    const i = e.initiation;
    const known = this.sessions.get(hex(i.ek));
    if (known) {
      if (!eq(known.certificate, i.certificate)) throw new Error('prekey envelope: certificate differs from the session');
      return known.ratchet.decrypt(e.message);
    }
    return this.start(i, e.message);
  }

  start(i, message) {
    const peer = verifyCertificate(parseCertificate(i.certificate));
    const spkPriv = this.spks.get(i.spkId);
    if (!spkPriv) throw new Error('unknown signed prekey');
    const kp = this.kemPrekeys.get(i.pqpkId);
    if (!kp || kp.kind !== (i.lastResort ? 1 : 0)) throw new Error('unknown KEM prekey');
    let opkPriv = null;
    if (i.opkId !== null) { opkPriv = this.opks.get(i.opkId); if (!opkPriv) throw new Error('unknown one-time prekey'); }
    const replayTag = hex(sha256(cat(i.ek, i.ct)));
    const oneTime = i.opkId !== null || !i.lastResort;
    if (!oneTime && this.replay.includes(replayTag)) throw new Error('replayed initiation');
    const dhs = [x25519(spkPriv, peer.dh), x25519(this.me.dhPriv, i.ek), x25519(spkPriv, i.ek)];
    if (opkPriv) dhs.push(x25519(opkPriv, i.ek));
    const sk = pqxdhSecret(dhs, this.kem.decaps(kp.pub, i.ct));
    const ad = associatedData(peer, parseCertificate(this.me.certificate));
    const ratchet = Ratchet.responder(ad, sk, spkPriv, this.tape, this.kem);
    const pt = ratchet.decrypt(message); // throws before anything is consumed
    if (i.opkId !== null) this.opks.delete(i.opkId);
    if (!i.lastResort) this.kemPrekeys.delete(i.pqpkId);
    // Remembered for as long as the generation of the signed prekey exists (here: always).
    if (!oneTime) this.replay.push(replayTag);
    this.last = { certificate: Buffer.from(i.certificate), ratchet, sk, ad };
    this.sessions.set(hex(i.ek), this.last);
    return pt;
  }
}
