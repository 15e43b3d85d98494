// Small shared helpers: DOM building, the API client, formatting.
//
// Everything that comes from the API is untrusted text (other people wrote
// it), so the DOM is only ever built here with textContent and attributes,
// never with innerHTML.

/** h('div', {class: 'x', dataset: {id}}, child, 'text', ...) builds an element. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k === 'testid') el.dataset.testid = v;
      else if (k === 'text') el.textContent = v;
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k in el && typeof v !== 'string') el[k] = v; // properties such as disabled, checked
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces el's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export const $ = (sel, root = document) => root.querySelector(sel);

/** An error the API answered with ({"error": ...}), in plain words. */
export class ApiError extends Error {
  constructor(message, status, locked = false) {
    super(message);
    this.status = status;
    this.locked = locked;
  }
}

let lockedHook = () => {};
/** Sets what to do when any request answers 423 (the profile is locked). */
export function onLocked(fn) { lockedHook = fn; }

// The server's instance, pinned from its first answer. A program that
// takes the address after this backchannel stopped answers without it (or
// with another): the page then stops (stoppedHook) instead of showing that
// program's pages or sending it anything. After the event stream dropped
// (suspect), nothing is sent until a harmless GET has shown the same
// instance again.
let pinned = null;
let suspect = false;
let stoppedHook = () => {};
/** Sets what to do when the server is no longer this start's backchannel. */
export function onStopped(fn) { stoppedHook = fn; }
/** The event stream dropped: check the server before the next request that sends anything. */
export function suspectServer() { suspect = true; }

// Only requests the user caused count against the agent's idle time: a
// key or a click in the last minute.
let lastInput = 0;
for (const type of ['keydown', 'pointerdown']) {
  addEventListener(type, () => { lastInput = Date.now(); }, { capture: true, passive: true });
}

function checkInstance(res) {
  const inst = res.headers.get('X-Backchannel-Instance');
  if (pinned === null && inst) pinned = inst;
  if (inst !== pinned) {
    stoppedHook();
    throw new ApiError('backchannel on this computer stopped, or another program took its address: run “backchannel app” again and open the address it prints.', 0);
  }
}

/** Checks, with a GET, that the server is still this start's backchannel. */
export async function confirmServer() {
  let res;
  try {
    res = await fetch('/api/state', { credentials: 'same-origin', cache: 'no-store' });
  } catch (e) {
    throw new ApiError(`Cannot reach backchannel on this computer (${e.message}).`, 0);
  }
  checkInstance(res);
  suspect = false;
}

let warningHook = () => {};
/** Sets where a 202 answer's words go: the request was done here, but not
 * (yet) delivered, which the user must know without it being a failure. */
export function onWarning(fn) { warningHook = fn; }

/**
 * api('POST', '/api/x', body) → the parsed JSON answer, or null for 204.
 * A plain object body is sent as JSON; a Blob, File or string as it is
 * (documents, recordings, leaked text). Throws ApiError with the server's
 * own words, so that every caller can show them.
 */
export async function api(method, path, body, type) {
  if (suspect && method !== 'GET') await confirmServer();
  const init = { method, credentials: 'same-origin', headers: {}, cache: 'no-store' };
  if (Date.now() - lastInput < 60000) init.headers['X-Backchannel-Input'] = '1';
  if (body !== undefined && body !== null) {
    if (body instanceof Blob || typeof body === 'string') {
      init.body = body;
      init.headers['Content-Type'] = type || (typeof body === 'string' ? 'text/plain; charset=utf-8' : body.type) || 'application/octet-stream';
    } else {
      init.body = JSON.stringify(body);
      init.headers['Content-Type'] = 'application/json';
    }
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(`Cannot reach backchannel on this computer (${e.message}).`, 0);
  }
  checkInstance(res);
  if (res.status === 204) return null;
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { /* not JSON: the error text below uses it raw */ }
  }
  if (!res.ok) {
    const locked = res.status === 423 || Boolean(data && data.locked);
    let msg = (data && typeof data.error === 'string' && data.error) || text.trim().slice(0, 300) || `${res.status} ${res.statusText}`;
    if (res.status === 401 && !path.endsWith('/unlock') && !(data && data.passphrase_needed)) msg = 'This page is not signed in: open the address that “backchannel app” printed (it carries this start’s token).';
    const err = new ApiError(msg, res.status, locked);
    if (locked) lockedHook();
    throw err;
  }
  if (res.status === 202 && data && typeof data.error === 'string') warningHook(data.error);
  return data;
}

/** The words to show for any error (network, API or a bug). */
export function errText(e) {
  if (e instanceof ApiError) return e.message;
  return e && e.message ? `Something went wrong: ${e.message}` : String(e);
}

// Formatting. Times are shown in the browser's local zone, like the CLI.

const pad2 = (n) => String(n).padStart(2, '0');

export function parseTime(s) {
  const d = new Date(s);
  return Number.isNaN(d.getTime()) || d.getFullYear() < 1971 ? null : d;
}

export const hhmm = (d) => (d ? `${pad2(d.getHours())}:${pad2(d.getMinutes())}` : '');

export const dayKey = (d) => (d ? `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}` : '');

const dayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' });
const dateTimeFmt = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });

export function dayLabel(d) {
  const today = new Date();
  if (dayKey(d) === dayKey(today)) return 'Today';
  const y = new Date(today);
  y.setDate(y.getDate() - 1);
  if (dayKey(d) === dayKey(y)) return 'Yesterday';
  return dayFmt.format(d);
}

export function dateTime(s) {
  const d = parseTime(s);
  return d ? dateTimeFmt.format(d) : (s || '');
}

export function size(n) {
  if (!Number.isFinite(n)) return '';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10240 ? 1 : 0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export function duration(ms) {
  if (!Number.isFinite(ms) || ms < 0) return '';
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}:${pad2(s % 60)}`;
}

// Room mode and marking in words. The strings are those the Go side
// accepts (client.ModeOnRecord / ModeDeniable, canary.ParsePolicy).

export const MODES = {
  'on-record': 'Every message is signed: the transcript proves who wrote what, to anyone you show it to.',
  deniable: 'Messages are not signed (like Signal): a transcript proves nothing about who wrote what.',
};

export const MARKINGS = {
  all: 'Invisible, typographic and wording marks in each copy: a leak can be traced even when it is retyped.',
  lexical: 'Wording marks only (equivalent words differ between copies): they survive retyping.',
  typographic: 'Quote, dash and spacing styles differ between copies: the wording stays exact; retyping loses them.',
  invisible: 'Zero-width characters between words: text looks and reads the same; retyping or cleaning loses them.',
  off: 'No marks: every member receives the same text, and a leak cannot be traced to a copy.',
};

export function markingWords(m) {
  if (!m || m === 'off' || m === 'none') return 'unmarked copies';
  if (m === 'all') return 'marked copies';
  return `marked copies (${m.split('+').join(', ')})`;
}

export const roomWords = (r) => `${r.mode || 'on-record'} · ${markingWords(r.marking)}`;

/** The notice shown before a room's first message. */
export function roomIntro(r) {
  const mode = r.mode === 'deniable'
    ? 'This room is deniable: messages are not signed, so a transcript proves nothing about who wrote what.'
    : 'This room is on the record: every message is signed, so a transcript proves who wrote what.';
  const mark = !r.marking || r.marking === 'off' || r.marking === 'none'
    ? 'Copies are not marked: every member receives the same text.'
    : `Each member receives a differently marked copy (${r.marking === 'all' ? 'invisible, typographic and wording marks' : r.marking.split('+').join(', ') + ' marks'}), so a leaked copy can be traced to its recipient.`;
  return `${mode} ${mark}`;
}

/** Twelve groups of five digits from a safety number however it is spaced. */
export function safetyGroups(s) {
  const digits = String(s || '').replace(/\D/g, '');
  if (digits.length === 60) return digits.match(/.{5}/g);
  return String(s || '').trim().split(/\s+/).filter(Boolean);
}
