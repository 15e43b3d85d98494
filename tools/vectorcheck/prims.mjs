// Primitives for the independent vector checker (written from docs/protocol.md, section 1).
// Only Node's built-in `crypto` is used; there is no ML-KEM here (Node 20 has none), so
// ML-KEM results come from the entropy tapes (see KemOracle below and protocol.md section 10).

import crypto from 'node:crypto';

// ---- bytes ----------------------------------------------------------------------------------

export const unhex = (s) => Buffer.from(s, 'hex');
export const hex = (b) => Buffer.from(b).toString('hex');
export const ascii = (s) => Buffer.from(s, 'ascii');
export const cat = (...parts) => Buffer.concat(parts.map((p) => Buffer.from(p)));
export const eq = (a, b) => a.length === b.length && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
export const u32 = (x) => { const b = Buffer.alloc(4); b.writeUInt32BE(x); return b; };
/** i64(t): 8-byte big-endian two's complement of a BigInt (section 1). */
export const i64 = (t) => { const b = Buffer.alloc(8); b.writeBigInt64BE(BigInt(t)); return b; };
export const zeros = (n) => Buffer.alloc(n);

/** Sequential strict parser: every read checks bounds; end() refuses trailing bytes. */
export class Reader {
  constructor(buf, what = 'input') { this.buf = Buffer.from(buf); this.pos = 0; this.what = what; }
  take(n) {
    if (this.pos + n > this.buf.length) throw new Error(`${this.what}: truncated`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  u8() { return this.take(1)[0]; }
  u32() { return this.take(4).readUInt32BE(0); }
  i64() { return this.take(8).readBigInt64BE(0); }
  rest() { return this.take(this.buf.length - this.pos); }
  remaining() { return this.buf.length - this.pos; }
  end() { if (this.pos !== this.buf.length) throw new Error(`${this.what}: trailing bytes`); }
}

// ---- hashes, HKDF, HMAC, AES-GCM ------------------------------------------------------------

export const sha256 = (b) => crypto.createHash('sha256').update(b).digest();
export const sha512 = (b) => crypto.createHash('sha512').update(b).digest();
export const hmac = (key, data) => crypto.createHmac('sha256', key).update(data).digest();
export const hkdf = (salt, ikm, info, len) =>
  Buffer.from(crypto.hkdfSync('sha256', ikm, salt, typeof info === 'string' ? ascii(info) : info, len));

/** HKDF-Expand (RFC 5869 section 2.3) alone: T(i) = HMAC(prk, T(i-1) || info || i). */
export function hkdfExpand(prk, info, len) {
  const infoBytes = typeof info === 'string' ? ascii(info) : Buffer.from(info);
  let t = Buffer.alloc(0), out = Buffer.alloc(0);
  for (let i = 1; out.length < len; i++) {
    t = hmac(prk, cat(t, infoBytes, [i]));
    out = cat(out, t);
  }
  return out.subarray(0, len);
}

export function aeadSeal(key, nonce, plaintext, ad) {
  const c = crypto.createCipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
  c.setAAD(ad);
  return cat(c.update(plaintext), c.final(), c.getAuthTag());
}

export function aeadOpen(key, nonce, sealed, ad) {
  if (sealed.length < 16) throw new Error('ciphertext shorter than the tag');
  const d = crypto.createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
  d.setAAD(ad);
  d.setAuthTag(sealed.subarray(sealed.length - 16));
  try {
    return cat(d.update(sealed.subarray(0, sealed.length - 16)), d.final());
  } catch {
    throw new Error('AES-GCM authentication failed');
  }
}

// ---- X25519 and Ed25519 through DER wrappers ------------------------------------------------

const X25519_PKCS8 = unhex('302e020100300506032b656e04220420');
const X25519_SPKI = unhex('302a300506032b656e032100');
const ED25519_PKCS8 = unhex('302e020100300506032b657004220420');
const ED25519_SPKI = unhex('302a300506032b6570032100');

const privKey = (prefix, raw) => crypto.createPrivateKey({ key: cat(prefix, raw), format: 'der', type: 'pkcs8' });
const pubKey = (prefix, raw) => crypto.createPublicKey({ key: cat(prefix, raw), format: 'der', type: 'spki' });
const rawPublic = (priv) => crypto.createPublicKey(priv).export({ format: 'der', type: 'spki' }).subarray(12);

export const x25519Public = (priv) => Buffer.from(rawPublic(privKey(X25519_PKCS8, priv)));

/** X25519(priv, pub); an all-zero output (low-order peer point) is an error (section 1). */
export function x25519(priv, pub) {
  if (priv.length !== 32 || pub.length !== 32) throw new Error('X25519: bad key length');
  let out;
  try {
    out = crypto.diffieHellman({ privateKey: privKey(X25519_PKCS8, priv), publicKey: pubKey(X25519_SPKI, pub) });
  } catch (e) {
    throw new Error(`X25519 failed (low-order point?): ${e.message}`);
  }
  if (out.every((b) => b === 0)) throw new Error('X25519: all-zero output');
  return Buffer.from(out);
}

/** "a valid X25519 public key" (section 2): 32 bytes that are not a low-order point. */
export function validX25519Public(pub) {
  if (pub.length !== 32) return false;
  try { x25519(Buffer.alloc(32, 0x55), pub); return true; } catch { return false; }
}

export const ed25519Public = (seed) => Buffer.from(rawPublic(privKey(ED25519_PKCS8, seed)));
export const ed25519Sign = (seed, msg) => crypto.sign(null, msg, privKey(ED25519_PKCS8, seed));
export function ed25519Verify(pub, msg, sig) {
  if (pub.length !== 32 || sig.length !== 64) return false;
  try { return crypto.verify(null, msg, pubKey(ED25519_SPKI, pub), sig); } catch { return false; }
}

// ---- entropy tapes ---------------------------------------------------------------------------

/** A party's tape of random values, consumed strictly in order (protocol.md section 10). */
export class Tape {
  constructor(name, entries) {
    this.name = name;
    this.entries = entries.map((e) => Object.fromEntries(
      Object.entries(e).map(([k, v]) => [k, k === 'op' ? v : unhex(v)])));
    this.pos = 0;
  }
  next(op) {
    const e = this.entries[this.pos];
    if (!e) throw new Error(`${this.name}'s tape exhausted (wanted ${op})`);
    if (e.op !== op) throw new Error(`${this.name}'s tape entry ${this.pos} is ${e.op}, wanted ${op}`);
    this.pos++;
    if (op === 'x25519' && !eq(x25519Public(e.private), e.public)) {
      throw new Error(`${this.name}'s tape entry ${this.pos - 1}: x25519 public does not match private`);
    }
    return e;
  }
  get consumed() { return this.pos === this.entries.length; }
}

/**
 * ML-KEM-768 decapsulation stand-in: the shared secret for a ciphertext is looked up among the
 * OTHER party's `mlkem768_encapsulate` entries (allowed by section 10). A ciphertext that is not
 * there, or that targets another key, yields random bytes, as ML-KEM's implicit rejection would.
 */
export class KemOracle {
  constructor(peerTape) { this.entries = peerTape.entries.filter((e) => e.op === 'mlkem768_encapsulate'); this.misses = 0; }
  decaps(ourPublic, ct) {
    const e = this.entries.find((x) => eq(x.ciphertext, ct));
    if (e && eq(e.public, ourPublic)) return e.shared_secret;
    this.misses++;
    return crypto.randomBytes(32);
  }
}
