// Device list vectors (testdata/devicelist_vectors.json), checked from docs/protocol.md section 14
// alone: a second encoder, parser and chain verifier in Node's built-in crypto.
//
// checkDeviceLists(dir, group) runs the check groups through check.mjs's `group` helper.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ascii, cat, ed25519Public, ed25519Sign, ed25519Verify, eq, sha256, u32, unhex, x25519Public, zeros } from './prims.mjs';

// ---- section 14 constants ---------------------------------------------------------------------

const LIST_LABEL = 'backchannel device list v1';
const ENTRY_LABEL = 'backchannel device list entry v1';
const HASH_LABEL = 'backchannel device list hash v1';
const FORMAT_VERSION = 0x01;
const MAX_DEVICES = 16;
const MAX_NAME = 64;
const MAX_ACCOUNT = 32;
const MAX_LIST = 3463;

/** A failure of a given class: malformed, signature, chain or rollback (section 14). */
class ListError extends Error {
  constructor(cls, msg) { super(`${cls}: ${msg}`); this.cls = cls; }
}
const fail = (cls, msg) => { throw new ListError(cls, msg); };

const u8 = (x) => Buffer.from([x]);
const u64 = (x) => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(x)); return b; };
const i64 = (x) => { const b = Buffer.alloc(8); b.writeBigInt64BE(BigInt(x)); return b; };
const utf8 = (s) => Buffer.from(s, 'utf8');

// ---- encoding -----------------------------------------------------------------------------------

/** The message of device_sig. */
const entryMessage = (account, iku, d) => cat(ascii(ENTRY_LABEL), u8(account.length), account, iku,
  u32(d.id), d.ds, d.dh, u8(d.name.length), d.name, i64(d.addedAt));

const encodeDevice = (d) => cat(u32(d.id), d.ds, d.dh, u8(d.name.length), d.name, i64(d.addedAt), d.sig);

/** The list bytes before account_sig. */
const listBody = (l) => cat(u8(FORMAT_VERSION), u8(l.account.length), l.account, l.iku, u64(l.version), l.prev,
  i64(l.issuedAt), u32(l.maxId), u8(l.devices.length), ...l.devices.map(encodeDevice));

const listHash = (bytes) => sha256(cat(ascii(HASH_LABEL), bytes));

// ---- parsing (rules 1-8, then signatures) ---------------------------------------------------------

class R {
  constructor(b) { this.b = Buffer.from(b); this.p = 0; }
  take(n) {
    if (this.p + n > this.b.length) fail('malformed', 'truncated');
    const out = this.b.subarray(this.p, this.p + n); this.p += n; return out;
  }
  u8() { return this.take(1)[0]; }
  u32() { return this.take(4).readUInt32BE(0); }
  u64() { return this.take(8).readBigUInt64BE(0); }
  i64() { return this.take(8).readBigInt64BE(0); }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function checkName(name) {
  if (name.length < 1 || name.length > MAX_NAME) fail('malformed', `name of ${name.length} bytes`);
  let text;
  try { text = strictUtf8.decode(name); } catch { fail('malformed', 'name is not valid UTF-8'); }
  for (const ch of text) {
    const c = ch.codePointAt(0);
    if (c <= 0x1f || (c >= 0x7f && c <= 0x9f)) fail('malformed', `name holds control character U+${c.toString(16)}`);
  }
}

/** Parse and verify a list (section 14, "Parsing"); throws a ListError. */
export function parseList(bytes) {
  if (bytes.length > MAX_LIST) fail('malformed', `${bytes.length} bytes`);
  const r = new R(bytes);
  if (r.u8() !== FORMAT_VERSION) fail('malformed', 'format version');
  const l = {};
  l.account = Buffer.from(r.take(r.u8()));
  l.iku = Buffer.from(r.take(32));
  l.version = r.u64();
  l.prev = Buffer.from(r.take(32));
  l.issuedAt = r.i64();
  l.maxId = r.u32();
  const count = r.u8();
  if (l.account.length < 1 || l.account.length > MAX_ACCOUNT || !/^[a-z0-9_-]+$/.test(l.account.toString('latin1'))) {
    fail('malformed', 'account name');
  }
  if (l.version < 1n) fail('malformed', 'version 0');
  if (eq(l.prev, zeros(32)) !== (l.version === 1n)) fail('malformed', 'prev must be zero exactly for version 1');
  if (count < 1 || count > MAX_DEVICES) fail('malformed', `${count} devices`);
  l.devices = [];
  for (let i = 0; i < count; i++) {
    const d = { id: r.u32(), ds: Buffer.from(r.take(32)), dh: Buffer.from(r.take(32)) };
    d.name = Buffer.from(r.take(r.u8()));
    d.addedAt = r.i64();
    d.sig = Buffer.from(r.take(64));
    l.devices.push(d);
  }
  l.sig = Buffer.from(r.take(64));
  if (r.p !== r.b.length) fail('malformed', 'trailing bytes');
  // Rules 6-8 on the decoded devices.
  l.devices.forEach((d, i) => {
    checkName(d.name);
    if (d.id < 1 || d.id > l.maxId) fail('malformed', `id ${d.id} outside 1..${l.maxId}`);
    if (i > 0 && d.id <= l.devices[i - 1].id) fail('malformed', 'ids not strictly ascending');
    for (const e of l.devices.slice(0, i)) {
      if (eq(e.ds, d.ds)) fail('malformed', 'shared signing key');
      if (eq(e.dh, d.dh)) fail('malformed', 'shared DH key');
    }
  });
  if (!ed25519Verify(l.iku, cat(ascii(LIST_LABEL), listBody(l)), l.sig)) fail('signature', 'account_sig');
  for (const d of l.devices) {
    if (!ed25519Verify(d.ds, entryMessage(l.account, l.iku, d), d.sig)) fail('signature', `device_sig of ${d.id}`);
  }
  l.bytes = Buffer.from(bytes);
  l.hash = listHash(l.bytes);
  return l;
}

/** Chain rules 1-8 of section 14; throws a ListError. */
export function verifyNext(prev, next) {
  if (!eq(prev.account, next.account) || !eq(prev.iku, next.iku)) fail('chain', 'another account or key');
  if (next.version <= prev.version) {
    if (eq(next.hash, prev.hash)) fail('chain', 'the same list');
    fail('rollback', `version ${next.version} after ${prev.version}`);
  }
  if (next.version !== prev.version + 1n) fail('chain', 'version skipped');
  if (!eq(next.prev, prev.hash)) fail('chain', 'prev');
  if (next.maxId < prev.maxId) fail('chain', 'max_id decreased');
  if (next.issuedAt < prev.issuedAt) fail('chain', 'issued_at decreased');
  for (const d of next.devices) {
    const old = prev.devices.find((e) => e.id === d.id);
    if (old) {
      if (!eq(encodeDevice(old), encodeDevice(d))) fail('chain', `device ${d.id} changed`);
    } else if (d.id <= prev.maxId) fail('chain', `new device ${d.id} not above max_id ${prev.maxId}`);
  }
}

// ---- checks -------------------------------------------------------------------------------------

const classOf = (fn) => {
  try { fn(); return 'accepted'; } catch (err) { return err instanceof ListError ? err.cls : `error (${err.message})`; }
};

export function checkDeviceLists(dir, group) {
  const V = JSON.parse(readFileSync(join(dir, 'devicelist_vectors.json'), 'utf8'));
  const account = ascii(V.account);
  const seed = unhex(V.account_seed), iku = unhex(V.account_public);
  const devices = new Map();

  group(`device list entries of "${V.account}"`, (g) => {
    g.same('account public key from its seed', iku, ed25519Public(seed));
    for (const v of V.devices) {
      const d = {
        id: v.id, ds: ed25519Public(unhex(v.signing_seed)), dh: x25519Public(unhex(v.dh_private)),
        name: utf8(v.name), addedAt: BigInt(v.added_at),
      };
      g.same(`device ${v.id} signing key from its seed`, unhex(v.signing_public), d.ds);
      g.same(`device ${v.id} DH key from its private key`, unhex(v.dh_public), d.dh);
      d.sig = ed25519Sign(unhex(v.signing_seed), entryMessage(account, iku, d));
      g.same(`device ${v.id} device_sig (deterministic Ed25519)`, unhex(v.device_sig), d.sig);
      g.same(`device ${v.id} entry`, unhex(v.entry), encodeDevice(d));
      devices.set(v.id, d);
    }
    return `${V.devices.length} devices`;
  });

  // Rebuild each version from the previous one, as "Making lists" describes.
  const accepted = [];
  let prev = null;
  V.lists.forEach((v, i) => group(`device list ${i} "${v.name}" (version ${v.version})`, (g) => {
    if (i > 0 && !accepted[i - 1]) return void g.check('the version before was accepted', false);
    const kept = prev ? prev.devices.filter((d) => !v.remove.includes(d.id)) : [];
    for (const id of v.remove) g.check(`removed device ${id} was listed`, prev !== null && prev.devices.some((d) => d.id === id));
    const added = v.add.map((id) => devices.get(id));
    g.check('added devices are known', added.every(Boolean));
    const l = {
      account, iku, version: BigInt(v.version), prev: prev ? prev.hash : zeros(32), issuedAt: BigInt(v.issued_at),
      maxId: Math.max(prev ? prev.maxId : 0, ...v.add),
      devices: [...kept, ...added].sort((a, b) => a.id - b.id),
    };
    g.check('max_id', l.maxId === v.max_id, `${l.maxId} vs ${v.max_id}`);
    l.sig = ed25519Sign(seed, cat(ascii(LIST_LABEL), listBody(l)));
    const bytes = cat(listBody(l), l.sig);
    g.same('list bytes rebuilt', unhex(v.bytes), bytes);
    g.same('ListHash', unhex(v.hash), listHash(bytes));
    let parsed;
    try { parsed = parseList(unhex(v.bytes)); g.check('parses and verifies', true); } catch (err) {
      g.check('parses and verifies', false, err.message);
      return '';
    }
    g.same('re-encodes to the same bytes', unhex(v.bytes), cat(listBody(parsed), parsed.sig));
    g.check('account and key', eq(parsed.account, account) && eq(parsed.iku, iku));
    if (prev) {
      const why = classOf(() => verifyNext(prev, parsed));
      g.check(`extends version ${prev.version}`, why === 'accepted', why);
    } else {
      g.check('version 1 with a zero prev', parsed.version === 1n && eq(parsed.prev, zeros(32)));
    }
    accepted[i] = parsed;
    prev = parsed;
    return `${parsed.devices.length} devices, ${bytes.length} bytes`;
  }));

  V.negative.forEach((n, i) => group(`device list negative ${i} "${n.name}"`, (g) => {
    const data = unhex(n.data);
    if (n.check === 'parse') {
      const got = classOf(() => parseList(data));
      g.check(`refused as ${n.error}`, got === n.error, `got ${got}`);
    } else if (n.check === 'next') {
      let l;
      try { l = parseList(data); g.check('accepted alone', true); } catch (err) {
        g.check('accepted alone', false, err.message);
        return '';
      }
      const base = accepted[n.after];
      if (!g.check(`list ${n.after} was accepted`, base !== undefined)) return '';
      const got = classOf(() => verifyNext(base, l));
      g.check(`refused after version ${base.version} as ${n.error}`, got === n.error, `got ${got}`);
    } else g.check(`known check (${n.check})`, false);
    return n.error;
  }));

  group('device list vectors cover the section', (g) => {
    g.check('three versions', V.lists.length >= 3);
    for (const cls of ['malformed', 'signature', 'chain', 'rollback']) {
      g.check(`negative cases of class ${cls}`, V.negative.some((n) => n.error === cls));
    }
    return `${V.negative.length} negative cases`;
  });
}

