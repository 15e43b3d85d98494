// Key log vectors (testdata/keylog_vectors.json), checked from docs/protocol.md section 16 alone:
// a second implementation of the VRF input, the index, commitments, leaf and node hashes, the
// prefix tree (built from its definition, not from the Go package), inclusion proof verification,
// change lists (change hashes, their Merkle root, RFC 9162 change proofs and the chained head)
// and the epoch entry codec, in Node's built-in crypto. The VRF itself (ECVRF-RISTRETTO255-SHA512)
// is not reimplemented: beta is taken from the vectors and only index = beta[0:32] is checked.
//
// checkKeyLog(dir, group) runs the check groups through check.mjs's `group` helper.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ascii, cat, eq, hex, sha256, unhex, zeros } from './prims.mjs';

// ---- section 16 constants ---------------------------------------------------------------------

const COMMITMENT_LABEL = 'backchannel keylog commitment v1';
const LEAF_LABEL = 'backchannel keylog leaf v1';
const NODE_LABEL = 'backchannel keylog node v1';
const VRF_INPUT_LABEL = 'backchannel keylog account v1';
const CHANGE_LABEL = 'backchannel keylog change v1';
const CHANGES_NODE_LABEL = 'backchannel keylog changes node v1';
const CHANGES_HEAD_LABEL = 'backchannel keylog changes head v1';
const ENTRY_FORMAT = 0x02;
const ENTRY_SIZE = 125;
const CHANGE_SIZE = 64;
const MAX_DEPTH = 256;
const EMPTY = zeros(32);

const label = (s) => cat(ascii(s), Buffer.from([0]));
const u64 = (x) => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(x)); return b; };
const i64 = (x) => { const b = Buffer.alloc(8); b.writeBigInt64BE(BigInt(x)); return b; };
const u32 = (x) => { const b = Buffer.alloc(4); b.writeUInt32BE(Number(x)); return b; };

// ---- hashes ---------------------------------------------------------------------------------------

const vrfInput = (account) => cat(label(VRF_INPUT_LABEL), Buffer.from(account, 'utf8'));
const indexOf = (beta) => {
  if (beta.length !== 64) throw new Error(`beta of ${beta.length} bytes`);
  return beta.subarray(0, 32);
};
const commitment = (nonce, version, listHash) => {
  if (nonce.length !== 32 || listHash.length !== 32) throw new Error('bad commitment input');
  return sha256(cat(label(COMMITMENT_LABEL), nonce, u64(version), listHash));
};
const leafHash = (index, updates, c) => sha256(cat(label(LEAF_LABEL), index, u64(updates), c));
const nodeHash = (left, right) => sha256(cat(label(NODE_LABEL), left, right));

/** Bit i of x; bit 0 is the most significant bit of x[0]. */
const bit = (x, i) => (x[i >> 3] >> (7 - (i & 7))) & 1;

// ---- the tree, from its definition ------------------------------------------------------------------

/** The root over leaves {index, updates, commitment} at depth d: empty, one leaf, or a node of the halves. */
function subtreeRoot(leaves, d) {
  if (leaves.length === 0) return EMPTY;
  if (leaves.length === 1) return leafHash(leaves[0].index, leaves[0].updates, leaves[0].commitment);
  if (d >= MAX_DEPTH) throw new Error('two leaves share an index');
  const zero = leaves.filter((l) => bit(l.index, d) === 0), one = leaves.filter((l) => bit(l.index, d) === 1);
  return nodeHash(subtreeRoot(zero, d + 1), subtreeRoot(one, d + 1));
}

/** The inclusion proof of index: siblings from the leaf's depth up to the root, deepest first. */
function proveFromDefinition(leaves, index) {
  const sib = [];
  let set = leaves, d = 0;
  while (set.length > 1) {
    const b = bit(index, d);
    sib.push(subtreeRoot(set.filter((l) => bit(l.index, d) !== b), d + 1));
    set = set.filter((l) => bit(l.index, d) === b);
    d++;
  }
  if (set.length !== 1 || !eq(set[0].index, index)) throw new Error('index not in the tree');
  return sib.reverse();
}

/** Section 16's verifier: true when the path from the leaf leads to root. */
function verifyInclusion(root, index, updates, c, siblings) {
  const d = siblings.length;
  if (d > MAX_DEPTH) return false;
  let h = leafHash(index, updates, c);
  for (let i = d - 1; i >= 0; i--) {
    const s = siblings[d - 1 - i];
    if (s.length !== 32) return false;
    h = bit(index, i) === 0 ? nodeHash(h, s) : nodeHash(s, h);
  }
  return eq(h, root);
}

// ---- change lists ----------------------------------------------------------------------------------------

/** A list of 64-byte changes from their concatenation; non-empty, indices strictly ascending. */
function parseChanges(b) {
  if (b.length === 0 || b.length % CHANGE_SIZE !== 0) throw new Error(`change list of ${b.length} bytes`);
  const cs = [];
  for (let o = 0; o < b.length; o += CHANGE_SIZE) cs.push({ index: b.subarray(o, o + 32), leaf: b.subarray(o + 32, o + 64) });
  for (let i = 1; i < cs.length; i++) {
    if (Buffer.compare(cs[i - 1].index, cs[i].index) >= 0) throw new Error(`change ${i} out of order`);
  }
  return cs;
}
const changeHash = (c) => sha256(cat(label(CHANGE_LABEL), c.index, c.leaf));
const changesNode = (l, r) => sha256(cat(label(CHANGES_NODE_LABEL), l, r));
/** The largest power of two smaller than m (m >= 2). */
const largestPow2Below = (m) => { let j = 1; while (j * 2 < m) j *= 2; return j; };
/** MTH over hashes D (RFC 9162 2.1.1 shape, section 16 labels). */
const mth = (D) => (D.length === 1 ? D[0] : changesNode(mth(D.slice(0, largestPow2Below(D.length))),
  mth(D.slice(largestPow2Below(D.length)))));
const changesRoot = (cs) => (cs.length === 0 ? EMPTY : mth(cs.map(changeHash)));
/** RFC 9162 2.1.3.1 PATH(m, D). */
function changePath(m, D) {
  if (D.length === 1) return [];
  const k = largestPow2Below(D.length);
  return m < k ? [...changePath(m, D.slice(0, k)), mth(D.slice(k))] : [...changePath(m - k, D.slice(k)), mth(D.slice(0, k))];
}
/** RFC 9162 2.1.3.2 verification with the changes node hash. */
function verifyChange(c, i, k, path, root) {
  if (!(k > 0) || i < 0 || i >= k) return false;
  let fn = BigInt(i), sn = BigInt(k - 1), r = changeHash(c);
  for (const p of path) {
    if (sn === 0n) return false;
    if ((fn & 1n) === 1n || fn === sn) {
      r = changesNode(p, r);
      while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
    } else {
      r = changesNode(r, p);
    }
    fn >>= 1n; sn >>= 1n;
  }
  return sn === 0n && eq(r, root);
}
const nextHead = (prev, epoch, cs) => (cs.length === 0 ? prev
  : sha256(cat(label(CHANGES_HEAD_LABEL), prev, u64(epoch), u32(cs.length), changesRoot(cs))));

// ---- epoch entries -------------------------------------------------------------------------------------

const encodeEntry = (e) => cat(Buffer.from([ENTRY_FORMAT]), u64(e.epoch), i64(e.time), e.root, u64(e.leaves),
  u32(e.k), e.changes_root, e.head);
// (64-bit integers are decimal strings in the vectors: BigInt(...) reads them exactly.)

function parseEntry(b) {
  if (b.length !== ENTRY_SIZE) throw new Error(`entry of ${b.length} bytes`);
  if (b[0] !== ENTRY_FORMAT) throw new Error(`format ${b[0]}`);
  const e = {
    epoch: b.readBigUInt64BE(1), time: b.readBigInt64BE(9), root: b.subarray(17, 49), leaves: b.readBigUInt64BE(49),
    k: b.readUInt32BE(57), changes_root: b.subarray(61, 93), head: b.subarray(93, 125),
  };
  if ((e.leaves === 0n) !== eq(e.root, EMPTY)) throw new Error('leaf count and root disagree');
  if ((e.k === 0) !== eq(e.changes_root, EMPTY)) throw new Error('k and changes root disagree');
  if (BigInt(e.k) > e.leaves) throw new Error('more changes than leaves');
  if (e.k > 0 && eq(e.head, EMPTY)) throw new Error('changes with an empty head');
  return e;
}

// ---- the checks ------------------------------------------------------------------------------------------

export function checkKeyLog(dir, group) {
  const V = JSON.parse(readFileSync(join(dir, 'keylog_vectors.json'), 'utf8'));

  group('key log VRF inputs and indices', (g) => {
    for (const c of V.vrf.cases) {
      g.same(`alpha of ${c.account}`, unhex(c.alpha), vrfInput(c.account));
      g.same(`index of ${c.account}`, unhex(c.index), indexOf(unhex(c.beta)));
      g.check(`proof of ${c.account} is 80 bytes`, unhex(c.proof).length === 80);
    }
    g.check('public key is 32 bytes', unhex(V.vrf.public_key).length === 32);
    return `${V.vrf.cases.length} accounts, VRF taken from the vectors`;
  });

  group('key log commitments, leaves and nodes', (g) => {
    for (const [i, c] of V.commitments.entries()) {
      g.same(`commitment ${i}`, unhex(c.commitment), commitment(unhex(c.nonce), c.version, unhex(c.list_hash)));
    }
    for (const [i, l] of V.leaves.entries()) {
      g.same(`leaf ${i}`, unhex(l.leaf_hash), leafHash(unhex(l.index), l.updates, unhex(l.commitment)));
    }
    for (const [i, n] of V.nodes.entries()) {
      g.same(`node ${i}`, unhex(n.node_hash), nodeHash(unhex(n.left), unhex(n.right)));
    }
    g.same('empty is 32 zero bytes', EMPTY, Buffer.alloc(32));
  });

  const leaves = V.tree.leaves.map((l) => ({ index: unhex(l.index), updates: BigInt(l.updates), commitment: unhex(l.commitment) }));
  const root = unhex(V.tree.root);
  group('key log prefix tree', (g) => {
    V.tree.leaves.forEach((l, i) => g.same(`leaf hash ${i}`, unhex(l.leaf_hash),
      leafHash(leaves[i].index, leaves[i].updates, leaves[i].commitment)));
    g.same('root from the definition', root, subtreeRoot(leaves, 0));
    V.tree.proofs.forEach((p, i) => {
      const mine = proveFromDefinition(leaves, unhex(p.index));
      g.check(`proof ${i} depth ${p.depth}`, mine.length === p.depth && p.siblings.length === p.depth);
      g.same(`proof ${i} siblings`, cat(...p.siblings.map(unhex)), cat(...mine));
      g.check(`proof ${i} verifies`, verifyInclusion(root, leaves[i].index, leaves[i].updates, leaves[i].commitment,
        p.siblings.map(unhex)));
    });
    const emptySiblings = V.tree.proofs.flatMap((p) => p.siblings).filter((s) => eq(unhex(s), EMPTY)).length;
    g.check('some path runs through empty siblings', emptySiblings > 0);
    return `${leaves.length} leaves, root ${hex(root).slice(0, 12)}…, ${emptySiblings} empty siblings`;
  });

  const changeOf = (h) => { const b = unhex(h); if (b.length !== CHANGE_SIZE) throw new Error('change size'); return { index: b.subarray(0, 32), leaf: b.subarray(32) }; };
  const listOf = (hs) => (hs.length === 0 ? [] : parseChanges(cat(...hs.map(unhex))));
  group('key log change lists', (g) => {
    for (const [i, h] of V.changes.hashes.entries()) {
      g.same(`change ${i} encodes`, unhex(h.change), cat(unhex(h.index), unhex(h.leaf_hash)));
      g.same(`change hash ${i}`, unhex(h.change_hash), changeHash(changeOf(h.change)));
    }
    for (const r of V.changes.roots) {
      const cs = listOf(r.changes);
      g.check(`k = ${r.k} list`, cs.length === r.k);
      g.same(`changes root k = ${r.k}`, unhex(r.changes_root), changesRoot(cs));
    }
    g.check('roots for k = 1, 2, 3, 5, 8', V.changes.roots.map((r) => r.k).join() === '1,2,3,5,8');
    const five = listOf(V.changes.roots.find((r) => r.k === 5).changes);
    for (const p of V.changes.proofs) {
      g.same(`change ${p.position} of ${p.k} is listed`, unhex(p.change), cat(five[p.position].index, five[p.position].leaf));
      const mine = changePath(p.position, five.map(changeHash));
      g.same(`change proof ${p.position} of ${p.k}`, cat(...p.path.map(unhex)), cat(...mine));
      g.check(`change proof ${p.position} of ${p.k} verifies`, verifyChange(changeOf(p.change), p.position, p.k,
        p.path.map(unhex), unhex(p.changes_root)));
    }
    g.check('a proof for every position of k = 5', V.changes.proofs.map((p) => p.position).join() === '0,1,2,3,4');
    let head = EMPTY;
    for (const h of V.changes.heads) {
      g.same(`head before epoch ${h.epoch}`, unhex(h.prev), head);
      const cs = listOf(h.changes);
      g.check(`epoch ${h.epoch} k`, cs.length === h.k);
      g.same(`epoch ${h.epoch} changes root`, unhex(h.changes_root), changesRoot(cs));
      head = nextHead(head, h.epoch, cs);
      g.same(`head of epoch ${h.epoch}`, unhex(h.head), head);
    }
    g.check('the head chain has an empty epoch', V.changes.heads.some((h) => h.k === 0));
    return `${V.changes.hashes.length} changes, ${V.changes.roots.length} roots, ${V.changes.proofs.length} proofs, ${V.changes.heads.length} heads`;
  });

  group('key log epoch entries', (g) => {
    for (const e of V.entries) {
      const want = unhex(e.entry);
      g.same(`entry ${e.epoch} encodes`, want, encodeEntry({ ...e, root: unhex(e.root), changes_root: unhex(e.changes_root),
        head: unhex(e.head) }));
      const p = parseEntry(want);
      g.check(`entry ${e.epoch} decodes`, p.epoch === BigInt(e.epoch) && p.time === BigInt(e.time) &&
        eq(p.root, unhex(e.root)) && p.leaves === BigInt(e.leaves) && p.k === e.k &&
        eq(p.changes_root, unhex(e.changes_root)) && eq(p.head, unhex(e.head)));
    }
    // The entries of epochs 1..3 carry the head chain's heads.
    for (const h of V.changes.heads) {
      const e = V.entries.find((x) => x.epoch === h.epoch && h.epoch !== '0');
      if (e) g.same(`entry ${e.epoch} head is the chain's`, unhex(e.head), unhex(h.head));
    }
    return `${V.entries.length} entries`;
  });

  group('key log negative cases', (g) => {
    for (const n of V.negative.entries) g.throws(`entry "${n.name}"`, () => parseEntry(unhex(n.entry)));
    for (const n of V.negative.inclusion) {
      g.check(`inclusion "${n.name}" refused`, !verifyInclusion(unhex(n.root), unhex(n.index), n.updates,
        unhex(n.commitment), n.siblings.map(unhex)));
    }
    for (const n of V.negative.changes) g.throws(`change list "${n.name}"`, () => parseChanges(unhex(n.changes)));
    for (const n of V.negative.change_proofs) {
      g.check(`change proof "${n.name}" refused`, !verifyChange(changeOf(n.change), n.position, n.k,
        n.path.map(unhex), unhex(n.changes_root)));
    }
    g.check('VRF negative cases present (checked by the Go drift test)', V.negative.vrf.length > 0);
    return `${V.negative.entries.length} entries, ${V.negative.inclusion.length} inclusion proofs, ` +
      `${V.negative.changes.length} change lists, ${V.negative.change_proofs.length} change proofs`;
  });
}
