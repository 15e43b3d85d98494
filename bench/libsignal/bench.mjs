// Measures Signal's own libsignal (npm @signalapp/libsignal-client, pinned in
// package.json) on this machine, for the operations that session/bench_test.go
// measures for backchannel. Test-only: CI does not run it; bench/compare.sh does.
//
//   node bench.mjs [seconds-per-benchmark]     (default 2, like -benchtime=2s)
//
// Output: one "RESULT name ops_per_sec=… ns_per_op=… n=…" line per benchmark
// (parsed by compare.sh) and "NOTE …" lines saying what one op includes.

import * as SignalClient from '@signalapp/libsignal-client';

const {
  IdentityKeyPair,
  PrivateKey,
  KEMKeyPair,
  KyberPreKeyRecord,
  SignedPreKeyRecord,
  PreKeyBundle,
  PreKeySignalMessage,
  SignalMessage,
  SessionRecord,
  ProtocolAddress,
  CiphertextMessageType,
  Direction,
  IdentityChange,
  processPreKeyBundle,
  signalEncrypt,
  signalDecrypt,
  signalDecryptPreKey,
} = SignalClient;

const seconds = Number(process.argv[2] ?? '2');
if (!(seconds > 0)) {
  throw new Error(`bad duration ${process.argv[2]}`);
}

// ---- stores ---------------------------------------------------------------

// Keeps every SessionRecord only as serialised bytes: saveSession serialises,
// getSession deserialises, as a client persisting to disk after every message.
class BytesSessionStore extends SignalClient.SessionStore {
  constructor() {
    super();
    this.m = new Map();
  }
  async saveSession(addr, record) {
    this.m.set(addr.toString(), record.serialize());
  }
  async getSession(addr) {
    const b = this.m.get(addr.toString());
    return b === undefined ? null : SessionRecord.deserialize(b);
  }
  async getExistingSessions(addrs) {
    return addrs.map((a) => {
      const b = this.m.get(a.toString());
      if (b === undefined) throw new Error(`no session for ${a}`);
      return SessionRecord.deserialize(b);
    });
  }
}

// Variant for the sender only, to mirror the Go benchmark exactly: the record
// is serialised on every save (bytes discarded), but kept as an object and
// handed back without deserialising, as Go keeps the sender's Session in memory.
class SerialiseOnlySessionStore extends SignalClient.SessionStore {
  constructor() {
    super();
    this.m = new Map();
    this.sink = 0;
  }
  async saveSession(addr, record) {
    this.sink += record.serialize().length;
    this.m.set(addr.toString(), record);
  }
  async getSession(addr) {
    return this.m.get(addr.toString()) ?? null;
  }
  async getExistingSessions(addrs) {
    return addrs.map((a) => this.m.get(a.toString()));
  }
}

// Keeps records as objects, never serialised: libsignal's in-memory floor
// (every call still crosses the JS/Rust async store bridge).
class ObjectSessionStore extends SignalClient.SessionStore {
  constructor() {
    super();
    this.m = new Map();
  }
  async saveSession(addr, record) {
    this.m.set(addr.toString(), record);
  }
  async getSession(addr) {
    return this.m.get(addr.toString()) ?? null;
  }
  async getExistingSessions(addrs) {
    return addrs.map((a) => this.m.get(a.toString()));
  }
}

class MemIdentityStore extends SignalClient.IdentityKeyStore {
  constructor(pair, regId) {
    super();
    this.pair = pair;
    this.regId = regId;
    this.known = new Map();
  }
  async getIdentityKey() {
    return this.pair.privateKey;
  }
  // The base class derives the public key from the private one on every call
  // (a scalar multiplication); a real client caches the pair, so do we.
  async getIdentityKeyPair() {
    return this.pair;
  }
  async getLocalRegistrationId() {
    return this.regId;
  }
  async saveIdentity(addr, key) {
    const k = addr.toString();
    const old = this.known.get(k);
    this.known.set(k, key);
    return old !== undefined && !old.equals(key)
      ? IdentityChange.ReplacedExisting
      : IdentityChange.NewOrUnchanged;
  }
  async isTrustedIdentity(addr, key, _direction) {
    const old = this.known.get(addr.toString());
    return old === undefined || old.equals(key);
  }
  async getIdentity(addr) {
    return this.known.get(addr.toString()) ?? null;
  }
}

// Prekey stores keep records as serialised bytes too.
class MemPreKeyStore extends SignalClient.PreKeyStore {
  constructor() {
    super();
    this.m = new Map();
  }
  async savePreKey(id, rec) {
    this.m.set(id, rec.serialize());
  }
  async getPreKey(id) {
    const b = this.m.get(id);
    if (b === undefined) throw new Error(`no prekey ${id}`);
    return SignalClient.PreKeyRecord.deserialize(b);
  }
  async removePreKey(id) {
    this.m.delete(id);
  }
}

class MemSignedPreKeyStore extends SignalClient.SignedPreKeyStore {
  constructor(bytesById) {
    super();
    this.m = bytesById;
  }
  async saveSignedPreKey(id, rec) {
    this.m.set(id, rec.serialize());
  }
  async getSignedPreKey(id) {
    const b = this.m.get(id);
    if (b === undefined) throw new Error(`no signed prekey ${id}`);
    return SignedPreKeyRecord.deserialize(b);
  }
}

// Last-resort Kyber prekey semantics (like the Go benchmark's last-resort
// ML-KEM key): marking it used does not remove it.
class MemKyberPreKeyStore extends SignalClient.KyberPreKeyStore {
  constructor(bytesById) {
    super();
    this.m = bytesById;
    this.used = 0;
  }
  async saveKyberPreKey(id, rec) {
    this.m.set(id, rec.serialize());
  }
  async getKyberPreKey(id) {
    const b = this.m.get(id);
    if (b === undefined) throw new Error(`no kyber prekey ${id}`);
    return KyberPreKeyRecord.deserialize(b);
  }
  async markKyberPreKeyUsed(_id, _signedId, _baseKey) {
    this.used++;
  }
}

// ---- parties --------------------------------------------------------------

let nextName = 1;
function uuid(n) {
  const h = n.toString(16).padStart(12, '0');
  return `00000000-0000-4000-8000-${h}`;
}

// Key generation for one (Alice, Bob) pair and Bob's published bundle keys.
// Done before timing.
function makeKeys() {
  const aliceId = IdentityKeyPair.generate();
  const bobId = IdentityKeyPair.generate();
  const spk = PrivateKey.generate();
  const spkSig = bobId.privateKey.sign(spk.getPublicKey().serialize());
  const kyber = KEMKeyPair.generate();
  const kyberSig = bobId.privateKey.sign(kyber.getPublicKey().serialize());
  const now = Date.now();
  return {
    aliceAddr: ProtocolAddress.new(uuid(nextName++), 1),
    bobAddr: ProtocolAddress.new(uuid(nextName++), 1),
    aliceId,
    bobId,
    aliceReg: 1 + (nextName % 16000),
    bobReg: 2 + (nextName % 16000),
    spkId: 1,
    spkBytes: SignedPreKeyRecord.new(1, now, spk.getPublicKey(), spk, spkSig).serialize(),
    spkPub: spk.getPublicKey(),
    spkSig,
    kyberId: 1,
    kyberBytes: KyberPreKeyRecord.new(1, now, kyber, kyberSig).serialize(),
    kyberPub: kyber.getPublicKey(),
    kyberSig,
  };
}

// Fresh stores for both sides (cheap JS objects; created inside the timed op).
function freshStores(k) {
  return {
    aliceSessions: new BytesSessionStore(),
    aliceIdentity: new MemIdentityStore(k.aliceId, k.aliceReg),
    bobSessions: new BytesSessionStore(),
    bobIdentity: new MemIdentityStore(k.bobId, k.bobReg),
    bobPreKeys: new MemPreKeyStore(),
    bobSigned: new MemSignedPreKeyStore(new Map([[k.spkId, k.spkBytes]])),
    bobKyber: new MemKyberPreKeyStore(new Map([[k.kyberId, k.kyberBytes]])),
  };
}

const msg1KiB = new Uint8Array(1024);
for (let i = 0; i < msg1KiB.length; i++) msg1KiB[i] = i & 0xff;

let lastPreKeyMessageSize = 0;

// The handshake op: Alice processes Bob's bundle (signature checks, PQXDH
// with a Kyber1024-parameter KEM encapsulation), encrypts a first 1 KiB message; Bob
// decrypts the PreKeySignalMessage, which creates his session.
async function handshake(k, s) {
  // The bundle object is built from already generated public keys, as a client
  // would from the server's reply (fetch-bundle-equivalent).
  const bundle = PreKeyBundle.new(
    k.bobReg, 1,
    null, null, // no one-time EC prekey: the Go benchmark uses none either
    k.spkId, k.spkPub, k.spkSig,
    k.bobId.publicKey,
    k.kyberId, k.kyberPub, k.kyberSig,
  );
  await processPreKeyBundle(bundle, k.bobAddr, k.aliceAddr, s.aliceSessions, s.aliceIdentity);
  const ct = await signalEncrypt(msg1KiB, k.bobAddr, k.aliceAddr, s.aliceSessions, s.aliceIdentity);
  if (ct.type() !== CiphertextMessageType.PreKey) throw new Error('first message is not a PreKeySignalMessage');
  const wire = ct.serialize();
  lastPreKeyMessageSize = wire.length;
  const pt = await signalDecryptPreKey(
    PreKeySignalMessage.deserialize(wire),
    k.aliceAddr, k.bobAddr,
    s.bobSessions, s.bobIdentity, s.bobPreKeys, s.bobSigned, s.bobKyber,
  );
  if (pt.length !== msg1KiB.length) throw new Error('handshake: wrong plaintext');
}

// An established session, as in the Go benchmark: Alice initiated, Bob
// accepted and replied once, so Alice's messages are plain SignalMessages.
async function established(aliceSessions, bobSessions) {
  const k = makeKeys();
  const s = freshStores(k);
  if (aliceSessions) s.aliceSessions = aliceSessions;
  if (bobSessions) s.bobSessions = bobSessions;
  await handshake(k, s);
  const reply = await signalEncrypt(new TextEncoder().encode('reply'), k.aliceAddr, k.bobAddr, s.bobSessions, s.bobIdentity);
  if (reply.type() !== CiphertextMessageType.Whisper) throw new Error('reply is not a SignalMessage');
  await signalDecrypt(SignalMessage.deserialize(reply.serialize()), k.bobAddr, k.aliceAddr, s.aliceSessions, s.aliceIdentity);
  return { k, s };
}

// The persisted op: Alice encrypts 1 KiB (her record loaded from the store and
// saved back), the message goes through its wire bytes, Bob decrypts it (his
// record deserialised from bytes, then serialised back).
async function encryptDecrypt({ k, s }) {
  const ct = await signalEncrypt(msg1KiB, k.bobAddr, k.aliceAddr, s.aliceSessions, s.aliceIdentity);
  const pt = await signalDecrypt(
    SignalMessage.deserialize(ct.serialize()),
    k.aliceAddr, k.bobAddr, s.bobSessions, s.bobIdentity,
  );
  if (pt.length !== msg1KiB.length) throw new Error('wrong plaintext');
}

// ---- timing ---------------------------------------------------------------

// Runs op in batches until `seconds` have passed (after a short warm-up), and
// reports ops/s over the whole timed region.
async function bench(name, op) {
  const warmEnd = performance.now() + Math.min(500, seconds * 250);
  let i = 0;
  while (performance.now() < warmEnd) await op(i++);
  let n = 0;
  const t0 = process.hrtime.bigint();
  const end = t0 + BigInt(Math.round(seconds * 1e9));
  let t = t0;
  while (t < end) {
    for (let j = 0; j < 16; j++) await op(i++);
    n += 16;
    t = process.hrtime.bigint();
  }
  const ns = Number(t - t0);
  const opsPerSec = (n * 1e9) / ns;
  console.log(`RESULT ${name} ops_per_sec=${opsPerSec.toFixed(1)} ns_per_op=${Math.round(ns / n)} n=${n}`);
}

console.log(`NOTE libsignal-client ${(await import('@signalapp/libsignal-client/package.json', { with: { type: 'json' } })).default.version} node ${process.version} ${process.platform}-${process.arch} ${seconds}s per benchmark`);

// Handshake: a pool of distinct (Alice, Bob) key sets generated before timing;
// every op uses the next set with brand-new, empty stores.
const pool = Array.from({ length: 64 }, makeKeys);
await bench('handshake', (i) => {
  const k = pool[i % pool.length];
  return handshake(k, freshStores(k));
});
console.log('NOTE handshake: one op = fresh empty stores for both sides; build PreKeyBundle from pre-generated public keys (signed X25519 prekey + signed Kyber1024 prekey, no one-time EC prekey); Alice processPreKeyBundle (verifies both signatures, PQXDH incl. KEM encapsulation with libsignal\'s Kyber1024-parameter KEM (key type 8, libcrux), generates base and ratchet keys) + signalEncrypt of 1 KiB; serialise; Bob signalDecryptPreKey (loads signed and Kyber prekeys from serialised records, PQXDH incl. KEM decapsulation, creates and saves the session). Identity/prekey key generation is outside the timed region (64 pre-generated key sets, reused cyclically).');

// Persisted encrypt+decrypt: both session stores keep records only as bytes.
{
  const e = await established();
  const probe = await signalEncrypt(msg1KiB, e.k.bobAddr, e.k.aliceAddr, e.s.aliceSessions, e.s.aliceIdentity);
  await signalDecrypt(SignalMessage.deserialize(probe.serialize()), e.k.aliceAddr, e.k.bobAddr, e.s.bobSessions, e.s.bobIdentity);
  console.log(`NOTE sizes for a 1 KiB plaintext: PreKeySignalMessage ${lastPreKeyMessageSize} bytes, SignalMessage ${probe.serialize().length} bytes, of which pqRatchet (SPQR) field ${SignalMessage.deserialize(probe.serialize()).pqRatchet().length} bytes`);
  await bench('encrypt_decrypt_1kib_persisted', () => encryptDecrypt(e));
}
console.log('NOTE encrypt_decrypt_1kib_persisted: one op = signalEncrypt 1 KiB (Alice\'s SessionRecord deserialised from bytes, used, serialised back) + message serialised/parsed + signalDecrypt (Bob\'s SessionRecord deserialised from bytes, used, serialised back). Established session (Bob replied once), one direction, so no DH ratchet step per message.');

// Same, but the sender's record is kept as an object (serialised on save, not
// deserialised on load), which is exactly what the Go benchmark does.
{
  const e = await established(new SerialiseOnlySessionStore());
  await bench('encrypt_decrypt_1kib_persisted_sender_in_memory', () => encryptDecrypt(e));
}
console.log('NOTE encrypt_decrypt_1kib_persisted_sender_in_memory: as above but Alice\'s record is only serialised (bytes discarded), never deserialised, as the Go benchmark did before 3 Dec 2026 (it now restores both sides, as encrypt_decrypt_1kib_persisted does); kept to compare with the earlier figures.');

// In memory: no serialisation at all, for the breakdown in docs/benchmarks.md.
{
  const e = await established(new ObjectSessionStore(), new ObjectSessionStore());
  await bench('encrypt_decrypt_1kib_in_memory', () => encryptDecrypt(e));
}
console.log('NOTE encrypt_decrypt_1kib_in_memory: as encrypt_decrypt_1kib_persisted but both stores keep SessionRecord objects (no serialise/deserialise); the store calls still cross libsignal\'s async JS/Rust bridge.');

// Ping-pong, persisted: Alice and Bob take turns, one 1 KiB message each way
// per op, so every message opens a new DH ratchet turn (and whatever SPQR
// does on it); both records are deserialised from bytes before each call
// and serialised back after it.
{
  const e = await established();
  const pingPong = async ({ k, s }) => {
    const ct = await signalEncrypt(msg1KiB, k.bobAddr, k.aliceAddr, s.aliceSessions, s.aliceIdentity);
    const pt = await signalDecrypt(SignalMessage.deserialize(ct.serialize()), k.aliceAddr, k.bobAddr, s.bobSessions, s.bobIdentity);
    const back = await signalEncrypt(msg1KiB, k.aliceAddr, k.bobAddr, s.bobSessions, s.bobIdentity);
    const pt2 = await signalDecrypt(SignalMessage.deserialize(back.serialize()), k.bobAddr, k.aliceAddr, s.aliceSessions, s.aliceIdentity);
    if (pt.length !== msg1KiB.length || pt2.length !== msg1KiB.length) throw new Error('ping-pong: wrong plaintext');
  };
  await bench('pingpong_1kib_persisted', () => pingPong(e));
}
console.log('NOTE pingpong_1kib_persisted: one op = a round trip, two messages: Alice signalEncrypt 1 KiB, Bob signalDecrypt, Bob signalEncrypt 1 KiB, Alice signalDecrypt; both SessionRecords deserialised from bytes before and serialised after every call (BytesSessionStore). Every message starts a new sending chain (DH ratchet step, SPQR step). ops_per_sec counts round trips.');

// Serialisation alone: one op = deserialise + serialise an established
// session record (Bob's), i.e. one side's persistence cost per message.
{
  const e = await established();
  const bytes = e.s.bobSessions.m.get(e.k.aliceAddr.toString());
  console.log(`NOTE established SessionRecord size: ${bytes.length} bytes`);
  await bench('session_record_roundtrip', async () => {
    SessionRecord.deserialize(bytes).serialize();
  });
}
console.log('NOTE session_record_roundtrip: one op = SessionRecord.deserialize + serialize of an established session record (synchronous, no store bridge).');
