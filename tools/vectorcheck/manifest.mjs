// The copy manifest of a room message (docs/protocol.md section 13, "Rooms, marked copies and the
// transcript" and "One meaning for every member"), checked against
// transcript/testdata/manifest_vectors.json: every copy commitment, the commitment to the canonical
// text, and the manifest bytes are rebuilt from the inputs, and a strict parser (written from the
// section's grammar) must reject the negative cases built here.

import { readFileSync } from 'node:fs';
import { ascii, cat, hex, sha256, unhex } from './prims.mjs';

const COPY_LABEL = 'backchannel copy commitment v1';
const CANONICAL_LABEL = 'backchannel canonical text v1';
const HEADER = 'backchannel copies v2\n';
const CANONICAL_PREFIX = 'canonical: ';
const utf8 = (s) => Buffer.from(s, 'utf8');

const copyCommitment = (salt, copy) => sha256(cat(ascii(COPY_LABEL), [0], salt, utf8(copy)));
const canonicalCommitment = (text) => sha256(cat(ascii(CANONICAL_LABEL), [0], utf8(text)));

function encode(canonical, commits) {
  const names = Object.keys(commits).sort((a, b) => Buffer.compare(ascii(a), ascii(b)));
  let s = HEADER + CANONICAL_PREFIX + hex(canonical) + '\n';
  for (const n of names) s += `${n} ${hex(commits[n])}\n`;
  return s;
}

/** Parses a version 2 manifest strictly; throws on anything Encode would not produce. */
export function parseManifest(s) {
  if (!s.startsWith(HEADER)) throw new Error('header');
  const lines = s.slice(HEADER.length).split('\n');
  if (lines.pop() !== '') throw new Error('last line has no newline');
  const hash = (h) => { if (!/^[0-9a-f]{64}$/.test(h)) throw new Error(`hash ${h}`); return unhex(h); };
  const first = lines.shift() ?? '';
  if (!first.startsWith(CANONICAL_PREFIX)) throw new Error('no canonical line');
  const out = { canonical: hash(first.slice(CANONICAL_PREFIX.length)), copies: {} };
  let last = '';
  for (const line of lines) {
    const m = /^([a-z0-9_-]{1,32}) (.*)$/.exec(line);
    if (!m) throw new Error(`member line ${JSON.stringify(line)}`);
    if (last !== '' && Buffer.compare(ascii(m[1]), ascii(last)) <= 0) throw new Error('members not sorted');
    out.copies[m[1]] = hash(m[2]);
    last = m[1];
  }
  if (!last) throw new Error('no members');
  return out;
}

export function checkManifests(group) {
  const path = new URL('../../transcript/testdata/manifest_vectors.json', import.meta.url);
  const V = JSON.parse(readFileSync(path, 'utf8'));
  for (const v of V) {
    group(`copy manifest "${v.name}"`, (g) => {
      const canonical = canonicalCommitment(v.canonical_text);
      g.same('canonical commitment', unhex(v.canonical_commitment), canonical);
      const commits = {};
      for (const [member, copy] of Object.entries(v.copies)) {
        commits[member] = copyCommitment(unhex(v.salts[member]), copy);
        g.same(`${member}'s copy commitment`, unhex(v.copy_commitments[member]), commits[member]);
      }
      g.same('manifest bytes', utf8(v.manifest), utf8(encode(canonical, commits)));
      const p = parseManifest(v.manifest);
      g.check('parsed canonical commitment', hex(p.canonical) === v.canonical_commitment);
      g.check('parsed members', Object.keys(p.copies).join(',') === Object.keys(commits).sort().join(','));
      const first = Object.keys(commits)[0];
      const line = `${first} ${hex(commits[first])}\n`;
      const body = v.manifest.slice(HEADER.length);
      for (const [what, bad] of [
        ['version 1 header', 'backchannel copies v1\n' + body],
        ['no canonical line', HEADER + body.split('\n').slice(1).join('\n')],
        ['a member listed twice', v.manifest + line],
        ['upper-case hex', v.manifest.toUpperCase().replace(HEADER.toUpperCase(), HEADER)],
        ['no final newline', v.manifest.slice(0, -1)],
      ]) g.throws(`refuses ${what}`, () => parseManifest(bad));
    });
  }
}
