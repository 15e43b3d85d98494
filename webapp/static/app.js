// backchannel's desktop app: the page.
//
// The Go process holds every secret and does all the cryptography; this
// page only shows what it is given, records from the microphone and plays.
// State lives in memory only (no browser storage of any kind), and all of
// it is dropped when the profile locks. docs/app.md is the contract.

import { h, fill, $, api, errText, onLocked, onWarning, onStopped, suspectServer, confirmServer, roomWords, roomIntro } from './dom.js';
import { Timeline, buildRows, renderRow } from './timeline.js';
import { initBanners, banner, unbanner, unbannerAll, unbannerWhere, clearBanners, errorBanner, gist, isShown } from './banners.js';
import { initScreens, openVerification, showDevices, stopLinkPolling, fillRoomSelect } from './screens.js';

const enc = encodeURIComponent;

const S = {
  unlocked: false,
  st: null, // GET /api/state
  rooms: [],
  roomId: null,
  room: null,
  messages: [],
  view: 'rooms',
  listOpen: true, // narrow layout: the room list is the screen shown
  notices: [],
  streamState: false, // the event stream has told the connection's state
  drafts: new Map(), // room id → unsent text (memory only)
  recent: new Map(), // room id → {room, messages} of the last rooms opened (memory only)
  readUpTo: new Map(), // room id → last message id marked read
};

let timeline = null;

/** Shows an error where nothing more specific can: a banner. A 423 is not
 * shown here: the unlock screen is its answer. */
function report(e) {
  if (e && e.locked) return;
  errorBanner(errText(e));
}

// ---------------------------------------------------------------- unlock and lock

async function boot() {
  initBanners($('#banners'));
  onLocked(showUnlock);
  onStopped(stopped);
  onWarning((w) => warn(w, true));
  timeline = new Timeline($('#timeline'), (row) => renderRow(row, S.roomId), onTimelineBottom);
  initScreens({
    rooms: () => S.rooms, roomId: () => S.roomId, me: () => S.st?.user,
    refresh, openRoom, warn: (w) => warn(w, true),
  });
  wire();
  $('#loading').hidden = true;
  try {
    const st = await api('GET', '/api/state');
    if (st.locked) showUnlock(st); else await showApp();
  } catch (e) {
    showUnlock();
    showUnlockError(errText(e));
  }
  startEvents();
}

function showUnlockError(msg) {
  const el = $('#unlock-error');
  el.textContent = msg || '';
  el.hidden = !msg;
}

/** The server is gone or not this start's backchannel: forget everything,
 * stop listening, and say what to do. */
function stopped() {
  if (S.stopped) return;
  S.stopped = true;
  if (es) {
    es.close();
    es = null;
  }
  showUnlock({ locked: true, can_unlock: false });
  $('#unlock-form').hidden = true;
  const p = h('p', { class: 'form-error', role: 'alert', testid: 'stopped',
    text: 'backchannel on this computer stopped, or another program took its address. Run “backchannel app” again and open the address it prints; this page shows nothing more.' });
  $('#unlock-screen').replaceChildren(p);
}

/** Shows the unlock screen and forgets everything the page held. */
async function showUnlock(st) {
  const wasShown = !$('#unlock-screen').hidden;
  S.unlocked = false;
  cancelRecording();
  stopLinkPolling();
  for (const d of document.querySelectorAll('dialog[open]')) d.close();
  // Drop every plaintext the page held: rooms, messages, drafts, pasted
  // leaks, results. Only the open room's id survives, to reopen it.
  S.rooms = [];
  S.room = null;
  S.messages = [];
  S.notices = [];
  S.drafts.clear();
  S.recent.clear();
  timeline.clear(true);
  $('#room-list').replaceChildren();
  $('#room-header').replaceChildren();
  delete $('#room-header').dataset.sig;
  for (const id of ['#message-input', '#verify-input', '#trace-input', '#room-search']) $(id).value = '';
  for (const id of ['#verify-result', '#trace-result', '#device-list', '#link-panel']) $(id).replaceChildren();
  clearBanners();
  $('#app').hidden = true;
  $('#unlock-screen').hidden = false;
  if (!wasShown) {
    showUnlockError('');
    $('#unlock-passphrase').focus();
  }
  try {
    st = st || await api('GET', '/api/state');
    $('#unlock-who').textContent = st.user ? `Profile of ${st.user}` : 'Your profile is locked.';
    const hint = $('#unlock-hint');
    hint.hidden = st.can_unlock !== false;
    hint.textContent = 'This page cannot unlock the profile: it was unlocked elsewhere. Run “backchannel app” again.';
  } catch (e) {
    showUnlockError(errText(e));
  }
}

async function unlock(ev) {
  ev.preventDefault();
  const input = $('#unlock-passphrase');
  const btn = $('#unlock-submit');
  if (!input.value) {
    showUnlockError('Type the profile’s passphrase.');
    return;
  }
  btn.disabled = true;
  btn.textContent = 'Unlocking…';
  showUnlockError('');
  try {
    await api('POST', '/api/unlock', { passphrase: input.value });
    input.value = ''; // the passphrase leaves the page as soon as it is used
    await showApp();
  } catch (e) {
    showUnlockError(e.status === 401 && /passphrase/i.test(e.message) ? 'Wrong passphrase. Try again.' : errText(e));
    input.select();
  } finally {
    btn.disabled = false;
    btn.textContent = 'Unlock';
  }
}

async function lock() {
  try {
    await api('POST', '/api/lock');
    showUnlock();
  } catch (e) {
    report(e);
  }
}

async function showApp() {
  if (S.unlocked) return;
  S.unlocked = true;
  $('#unlock-screen').hidden = true;
  $('#app').hidden = false;
  try {
    S.st = await api('GET', '/api/state');
    if (S.st.locked) return showUnlock(S.st);
    $('#whoami').textContent = `${S.st.user}${S.st.device ? ` · device ${S.st.device}` : ''}`;
    // The event stream's state is newer than this answer when it came
    // first (the stream says "connected" as soon as the profile opens).
    if (!S.streamState) connectionState(S.st.connection);
  } catch (e) {
    report(e);
  }
  setView('rooms');
  await refresh();
  if (S.roomId && S.rooms.some((r) => r.id === S.roomId)) openRoom(S.roomId, true);
  else { S.roomId = null; renderRoom(); }
}

// ---------------------------------------------------------------- refreshing

let refreshing = null;
let again = false;

/** Refetches the rooms, the open room and the notices; calls made while one
 * runs are folded into one more run after it. */
function refresh() {
  if (refreshing) {
    again = true;
    return refreshing;
  }
  refreshing = (async () => {
    do {
      again = false;
      if (!S.unlocked) return;
      await Promise.all([loadRooms(), loadNotices(), S.roomId ? loadRoom(false) : null]);
      markRead();
      await checkPeople();
    } while (again);
  })().finally(() => { refreshing = null; });
  return refreshing;
}

let debounce = 0;
/** Updates arrive in bursts (a sync delivers many): wait for the burst. */
function scheduleRefresh() {
  clearTimeout(debounce);
  debounce = setTimeout(refresh, 100);
}

async function loadRooms() {
  try {
    S.rooms = await api('GET', '/api/rooms') || [];
  } catch (e) {
    report(e);
    return;
  }
  renderRoomList();
  fillRoomSelect($('#verify-room'), S.rooms, false);
  fillRoomSelect($('#trace-room'), S.rooms, true);
  const unread = S.rooms.reduce((n, r) => n + (r.archived ? 0 : r.unread || 0), 0);
  document.title = unread ? `(${unread}) backchannel` : 'backchannel';
}

async function loadNotices() {
  try {
    S.notices = await api('GET', '/api/notices') || [];
  } catch (e) {
    report(e);
  }
}

// ---------------------------------------------------------------- the room list

function renderRoomList() {
  const ul = $('#room-list');
  const q = $('#room-search').value.trim().toLowerCase();
  const focused = document.activeElement?.dataset?.roomId;
  const shown = S.rooms.filter((r) => !q || (r.name || '').toLowerCase().includes(q));
  // Archived rooms go last: they come back by themselves when someone writes.
  const ordered = [...shown.filter((r) => !r.archived), ...shown.filter((r) => r.archived)];
  const tabStop = ordered.some((r) => r.id === S.roomId) ? S.roomId : ordered[0]?.id;
  fill(ul, ordered.map((r) => h('li', {},
    h('button', {
      type: 'button',
      class: `room-item${r.archived ? ' archived' : ''}${r.removed ? ' removed' : ''}`,
      testid: 'room-item',
      dataset: { roomId: r.id, unread: String(r.unread || 0) },
      'aria-current': r.id === S.roomId ? 'true' : null,
      tabindex: r.id === tabStop ? '0' : '-1',
      onclick: () => openRoom(r.id),
    },
    h('span', { class: 'avatar', 'aria-hidden': 'true', text: (r.name || '?').slice(0, 1).toUpperCase() }),
    h('span', { class: 'room-text' },
      h('span', { class: 'room-name', text: r.name }),
      h('span', { class: 'room-sub' }, roomWords(r),
        r.removed ? h('span', { class: 'tag alarm', text: 'removed' }) : null,
        r.archived ? h('span', { class: 'tag', text: 'archived' }) : null)),
    r.unread ? h('span', { class: 'badge' }, String(r.unread), h('span', { class: 'visually-hidden', text: ' unread' })) : null))));
  if (!ordered.length) {
    ul.append(h('li', { class: 'empty muted', text: q ? 'No room matches.' : 'No rooms yet: create one with “New room”.' }));
  }
  if (focused) ul.querySelector(`[data-room-id="${CSS.escape(focused)}"]`)?.focus();
}

/** Arrow keys move through the room list (one Tab stop for the list). */
function roomListKeys(e) {
  const items = [...$('#room-list').querySelectorAll('.room-item')];
  const i = items.indexOf(document.activeElement);
  if (i < 0) return;
  const to = { ArrowDown: i + 1, ArrowUp: i - 1, Home: 0, End: items.length - 1 }[e.key];
  if (to === undefined) return;
  e.preventDefault();
  const next = items[Math.max(0, Math.min(items.length - 1, to))];
  for (const it of items) it.tabIndex = it === next ? 0 : -1;
  next.focus();
}

// ---------------------------------------------------------------- the open room

let roomSeq = 0;

async function openRoom(id, force) {
  if (id !== S.roomId || force) {
    if (S.roomId) S.drafts.set(S.roomId, $('#message-input').value);
    S.roomId = id;
    // A room opened lately shows at once from memory while it is fetched.
    const seen = S.recent.get(id);
    S.room = seen?.room || S.rooms.find((r) => r.id === id) || null;
    S.messages = seen?.messages || [];
    $('#message-input').value = S.drafts.get(id) || '';
    autosize();
    composerNote('');
    timeline.clear();
    unbannerAll('roomwarn:');
    renderRoom();
    if (seen) timeline.setRows(seen.rows, true);
    setView('rooms');
    S.listOpen = false;
    applyView();
    renderRoomList();
    await loadRoom(true);
    checkPeople();
    markRead();
    if (!$('#message-input').disabled) $('#message-input').focus();
  } else {
    setView('rooms');
    S.listOpen = false;
    applyView();
  }
}

async function loadRoom(reset) {
  const id = S.roomId;
  const seq = ++roomSeq;
  let res;
  try {
    res = await api('GET', `/api/rooms/${enc(id)}`);
  } catch (e) {
    if (seq === roomSeq) report(e);
    return;
  }
  // A room opened since this request started wins.
  if (seq !== roomSeq || id !== S.roomId) return;
  const before = S.messages.length;
  const seenBefore = reset && before > 0; // shown from memory: keep the reader's place
  S.room = res.room;
  S.messages = res.messages || [];
  const rows = buildRows(roomIntro(S.room), S.messages);
  S.recent.delete(id);
  S.recent.set(id, { room: S.room, messages: S.messages, rows });
  if (S.recent.size > 4) S.recent.delete(S.recent.keys().next().value);
  roomWarnings(res.warnings || []);
  renderRoom();
  timeline.setRows(rows, reset && !seenBefore);
  if (!reset && !timeline.stuck && S.messages.length > before) $('#jump').hidden = false;
}

/** The header, the composer's state and the removed banner for the open room. */
function renderRoom() {
  const r = S.room;
  const me = S.st?.user;
  $('#no-room').hidden = Boolean(S.roomId);
  $('#room-header').hidden = !r;
  $('#timeline-wrap').hidden = !S.roomId;
  $('#composer').hidden = !S.roomId;
  if (!r) {
    unbanner('removed');
    return;
  }
  // Refetches happen on every update: rebuild the header only when it
  // changed, so that a focused member chip keeps its focus.
  const sig = JSON.stringify([r.id, r.name, r.mode, r.marking, r.members, r.removed, me]);
  if ($('#room-header').dataset.sig !== sig) renderHeader(r, me, sig);
  const input = $('#message-input');
  const off = Boolean(r.removed);
  for (const el of [input, $('#send'), $('#record'), $('#attach')]) el.disabled = off;
  input.placeholder = off ? 'You were removed from this room' : `Message ${r.name}`;
  if (off) banner('removed', 'removed', 'You were removed from this room: you can read what was said, but no longer write to it.', { sticky: true });
  else unbanner('removed');
}

function renderHeader(r, me, sig) {
  const hdr = $('#room-header');
  hdr.dataset.sig = sig;
  fill(hdr,
    h('button', { type: 'button', class: 'back', 'aria-label': 'Back to the rooms', text: '←', onclick: backToList }),
    h('div', { class: 'room-title' },
      h('h2', { id: 'room-name', text: r.name }),
      h('p', { class: 'room-mode', text: roomWords(r) })),
    h('ul', { class: 'members', 'aria-label': 'Members' }, (r.members || []).map((m) => h('li', {},
      m.name === me
        ? h('span', { class: 'member me', testid: 'member', dataset: { name: m.name, verified: String(Boolean(m.verified)) }, text: `${m.name} (you)` })
        : h('button', {
          type: 'button', class: `member${m.verified ? ' verified' : ''}`, testid: 'member',
          dataset: { name: m.name, verified: String(Boolean(m.verified)) },
          'aria-label': `${m.name}, ${m.verified ? 'verified' : 'not verified'}: show the safety number`,
          onclick: () => openVerification(m.name),
        }, m.name, m.verified ? h('span', { class: 'check', 'aria-hidden': 'true', text: ' ✓' }) : null)))));
}

function backToList() {
  S.listOpen = true;
  setView('rooms');
  $('#room-list').querySelector('[tabindex="0"]')?.focus();
}

function onTimelineBottom() {
  $('#jump').hidden = true;
  markRead();
}

/** Tells the Go side what the user has seen: the open room, read to the
 * bottom, while the page is visible. */
async function markRead() {
  const id = S.roomId;
  const last = S.messages.at(-1)?.id;
  const listed = S.rooms.find((r) => r.id === id);
  if (!id || !last || !listed?.unread || !timeline.stuck || document.visibilityState !== 'visible' || S.view !== 'rooms') return;
  if (S.readUpTo.get(id) === last) return;
  S.readUpTo.set(id, last);
  try {
    await api('POST', `/api/rooms/${enc(id)}/read`, { up_to: last });
    listed.unread = 0;
    renderRoomList();
  } catch (e) {
    S.readUpTo.delete(id);
    report(e);
  }
}

/** Adds a message this page just sent, without waiting for the refetch. */
function addOwn(roomId, res) {
  for (const w of res.warnings || []) warn(w, true);
  if (roomId !== S.roomId || !res.message || S.messages.some((m) => m.id === res.message.id)) return;
  S.messages = [...S.messages, res.message];
  const rows = buildRows(roomIntro(S.room), S.messages);
  S.recent.set(roomId, { room: S.room, messages: S.messages, rows });
  timeline.stuck = true; // your own message: show it
  timeline.setRows(rows, false);
  scheduleRefresh();
}

// ---------------------------------------------------------------- the composer

function composerNote(text, error) {
  const el = $('#composer-status');
  el.textContent = text;
  el.hidden = !text;
  el.classList.toggle('error', Boolean(error));
  el.setAttribute('role', error ? 'alert' : 'status');
}

function autosize() {
  const ta = $('#message-input');
  ta.style.height = 'auto';
  ta.style.height = `${Math.min(ta.scrollHeight, 200)}px`;
}

let sending = false;

async function send() {
  const ta = $('#message-input');
  const text = ta.value;
  const id = S.roomId;
  if (!id || sending || !text.trim() || ta.disabled) return;
  sending = true;
  composerNote('');
  try {
    const res = await api('POST', `/api/rooms/${enc(id)}/messages`, { text });
    // Only clear what was sent (more may have been typed meanwhile).
    if (S.roomId === id && ta.value === text) {
      ta.value = '';
      autosize();
    }
    S.drafts.delete(id);
    addOwn(id, res);
  } catch (e) {
    if (!e.locked) composerNote(`Not sent: ${errText(e)}`, true);
  } finally {
    sending = false;
  }
}

async function share(files) {
  const id = S.roomId;
  if (!id || S.room?.removed) return;
  for (const f of files) {
    composerNote(`Sharing “${f.name}” (${Math.ceil(f.size / 1024)} KB)…`);
    try {
      addOwn(id, await api('POST', `/api/rooms/${enc(id)}/docs?name=${enc(f.name)}`, f, 'application/octet-stream'));
      composerNote('');
    } catch (e) {
      if (!e.locked) composerNote(`“${f.name}” was not shared: ${errText(e)}`, true);
    }
  }
}

// Voice notes: MediaRecorder's Opus in WebM (or Ogg); the Go side decodes,
// marks and re-encodes every member's copy.
let rec = null;
let micIcon = []; // the record button's icon, put back after recording

async function toggleRecording() {
  if (rec) {
    rec.send = true;
    rec.recorder.stop();
    return;
  }
  if (!navigator.mediaDevices?.getUserMedia || typeof MediaRecorder === 'undefined') {
    composerNote('This browser cannot record sound on this page.', true);
    return;
  }
  const roomId = S.roomId;
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (e) {
    composerNote(e.name === 'NotAllowedError' ? 'The microphone was not allowed: allow it for this page to record a voice note.'
      : e.name === 'NotFoundError' ? 'No microphone was found.' : `The microphone could not be opened: ${e.message}`, true);
    return;
  }
  const type = ['audio/webm;codecs=opus', 'audio/ogg;codecs=opus', 'audio/webm', 'audio/ogg'].find((t) => MediaRecorder.isTypeSupported(t));
  const recorder = new MediaRecorder(stream, type ? { mimeType: type } : undefined);
  const r = { recorder, stream, chunks: [], start: Date.now(), roomId, send: false, timer: 0 };
  rec = r;
  recorder.addEventListener('dataavailable', (e) => { if (e.data.size) r.chunks.push(e.data); });
  recorder.addEventListener('stop', () => finishRecording(r));
  recorder.start(1000);
  const btn = $('#record');
  btn.classList.add('recording');
  btn.setAttribute('aria-pressed', 'true');
  btn.setAttribute('aria-label', 'Stop recording and send the voice note');
  const tick = () => {
    const s = Math.floor((Date.now() - r.start) / 1000);
    const t = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
    btn.textContent = `■ ${t}`;
    composerNote(`Recording ${t}: press ■ to send it, Escape to discard it.`);
  };
  tick();
  r.timer = setInterval(tick, 500);
}

function resetRecordButton() {
  const btn = $('#record');
  btn.classList.remove('recording');
  btn.setAttribute('aria-pressed', 'false');
  btn.setAttribute('aria-label', 'Record a voice note');
  fill(btn, ...micIcon.map((n) => n.cloneNode(true)));
}

async function finishRecording(r) {
  clearInterval(r.timer);
  for (const t of r.stream.getTracks()) t.stop();
  if (rec === r) rec = null;
  resetRecordButton();
  if (!r.send) {
    composerNote('');
    return;
  }
  const blob = new Blob(r.chunks, { type: r.recorder.mimeType || 'audio/webm' });
  if (!blob.size) {
    composerNote('Nothing was recorded.', true);
    return;
  }
  composerNote('Sending the voice note…');
  try {
    addOwn(r.roomId, await api('POST', `/api/rooms/${enc(r.roomId)}/voice`, blob, blob.type));
    composerNote('');
  } catch (e) {
    if (!e.locked) composerNote(`The voice note was not sent: ${errText(e)}`, true);
  }
}

function cancelRecording() {
  if (!rec) return;
  rec.send = false;
  if (rec.recorder.state !== 'inactive') rec.recorder.stop();
}

/** Files dropped on the timeline or the composer are shared. */
function dropTarget(el) {
  const hint = $('#drop-hint');
  const hasFiles = (e) => e.dataTransfer && [...e.dataTransfer.types].includes('Files');
  el.addEventListener('dragover', (e) => {
    if (!hasFiles(e) || !S.roomId || S.room?.removed) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'copy';
    hint.hidden = false;
  });
  el.addEventListener('dragleave', (e) => { if (!el.contains(e.relatedTarget)) hint.hidden = true; });
  el.addEventListener('drop', (e) => {
    hint.hidden = true;
    if (!hasFiles(e)) return;
    e.preventDefault();
    share([...e.dataTransfer.files]);
  });
}

// ---------------------------------------------------------------- warnings

// A warning that names a room ("talks: nothing from carol …") is compared
// without the name, so that it meets the same warning the room itself gives.
function unprefixed(text) {
  for (const r of S.rooms) if (text.startsWith(`${r.name}: `)) return text.slice(r.name.length + 2);
  return text;
}

/** A warning from a send or an update: a banner, unless the open room
 * already shows it; again: show it even if it was dismissed (the user just
 * acted and must know). */
function warn(text, again = false) {
  const g = gist(unprefixed(text));
  if (S.roomId && isShown(`roomwarn:${S.roomId}:${g}`)) return;
  banner(`warning:${g}`, 'warning', text, { force: again });
}

/** What the latest sync said: it replaces what the previous one said (a
 * warning a sync no longer repeats was resolved, by an accept say). */
function syncWarnings(list) {
  const keep = new Set();
  for (const w of list) {
    const g = gist(unprefixed(w));
    if (S.roomId && isShown(`roomwarn:${S.roomId}:${g}`)) continue;
    keep.add(`sync:${g}`);
    banner(`sync:${g}`, 'warning', w);
  }
  unbannerAll('sync:', keep);
}

/** The open room's warnings (its state now): shown in the room, above its
 * timeline, replacing the previous ones. */
function roomWarnings(list) {
  const keep = new Set();
  for (const w of list) {
    const key = `roomwarn:${S.roomId}:${gist(unprefixed(w))}`;
    keep.add(key);
    // Said here now: a banner saying the same (with or without the room's
    // name in front) goes.
    const g = gist(unprefixed(w));
    unbannerWhere((k) => /^(warning|sync):/.test(k) && (k.endsWith(`:${g}`) || k.endsWith(`: ${g}`)));
    banner(key, 'warning', w, { box: $('#room-warnings') });
  }
  unbannerAll('roomwarn:', keep);
}

// ---------------------------------------------------------------- banners about people

const OPEN_NOTICE = new Set(['key-changed', 'device-added', 'device-removed']);

/** Key changes and new devices: of the open room's members, and of anyone
 * a notice names (the notice log is a history: the last notice per person
 * says whether something is still open, the contact says what). */
async function checkPeople() {
  const me = S.st?.user;
  const last = new Map();
  for (const n of S.notices) if (n.user) last.set(n.user, n);
  const users = new Set((S.room?.members || []).map((m) => m.name));
  for (const [u, n] of last) if (OPEN_NOTICE.has(n.kind)) users.add(u);
  users.delete(me);
  const results = await Promise.all([...users].map((u) => api('GET', `/api/contacts/${enc(u)}`)
    .then((c) => [u, c, null], (e) => [u, null, e])));
  if (!S.unlocked) return;
  const keep = new Set();
  for (const [u, c, e] of results) {
    const key = `person:${u}`;
    const n = last.get(u);
    if (e) {
      if (e.locked) return;
      keep.add(key);
      banner(key, 'warning', `The keys of ${u} could not be checked: ${errText(e)}`);
      continue;
    }
    const pending = c.pending_devices || [];
    if (c.key_changed || pending.length) {
      const says = [];
      if (c.key_changed) says.push(`${u}'s safety number has changed: they may have reinstalled backchannel, or someone may be intercepting. Compare safety numbers before you accept.`);
      if (pending.length) says.push(`${u} has ${pending.length === 1 ? 'a new device' : 'new devices'} (${pending.join(', ')}): nothing is sent to ${pending.length === 1 ? 'it' : 'them'} until you accept.`);
      keep.add(key);
      banner(key, c.key_changed ? 'key-change' : 'device', says.join(' '), {
        alarm: Boolean(c.key_changed || n?.alarm),
        actions: [
          { label: 'Compare safety numbers', run: () => openVerification(u) },
          { label: 'Accept', testid: 'banner-accept', primary: true, run: () => accept(u) },
        ],
      });
    } else if (n && n.kind === 'device-removed') {
      keep.add(key);
      banner(key, 'device', n.text, { alarm: Boolean(n.alarm) });
    }
  }
  unbannerAll('person:', keep);
}

async function accept(user) {
  try {
    const res = await api('POST', `/api/contacts/${enc(user)}/accept`);
    unbanner(`person:${user}`);
    const said = (res?.accepted || []).join(' ');
    banner(`accepted:${user}`, 'info', said || `Accepted the change for ${user}.`);
    setTimeout(() => unbanner(`accepted:${user}`), 15000); // a confirmation, not a condition
    await refresh();
  } catch (e) {
    report(e);
  }
}

// ---------------------------------------------------------------- live updates

let es = null;

function startEvents() {
  if (es || S.stopped) return;
  es = new EventSource('/api/events');
  es.addEventListener('open', async () => {
    // A reconnected stream may come from another program on this address:
    // the same instance must answer before anything is believed or sent.
    try {
      await confirmServer();
    } catch {
      return;
    }
    unbanner('agent');
    // Whatever happened while the stream was down is fetched now.
    if (S.unlocked) scheduleRefresh();
  });
  es.addEventListener('error', () => {
    suspectServer();
    if (es.readyState === EventSource.CLOSED) {
      // Refused outright (the session ended?): try again in a while.
      es = null;
      setTimeout(startEvents, 5000);
    }
    banner('agent', 'connection', 'Lost contact with backchannel on this computer; trying again…', { sticky: true, alarm: true });
  });
  es.addEventListener('state', (e) => { S.streamState = true; connectionState(parse(e.data)); });
  es.addEventListener('update', (e) => {
    const d = parse(e.data);
    syncWarnings(d.warnings || []);
    if (S.unlocked) scheduleRefresh();
  });
  es.addEventListener('locked', () => { S.streamState = false; showUnlock(); });
  es.addEventListener('unlocked', () => { if (!S.unlocked) showApp(); });
}

function parse(s) {
  try { return JSON.parse(s) || {}; } catch { return {}; }
}

const CONNECTION_WORDS = {
  connecting: 'Connecting to the server…',
  reconnecting: 'Reconnecting to the server… What you send is queued and goes out when it is back.',
  refused: 'The server refused the connection.',
};

function connectionState(c) {
  if (!c || !c.state || c.state === 'connected') {
    unbanner('connection');
    return;
  }
  const words = CONNECTION_WORDS[c.state] || `Connection: ${c.state}.`;
  banner('connection', 'connection', c.reason ? `${words} (${c.reason})` : words, { sticky: true, alarm: c.state === 'refused' });
}

// ---------------------------------------------------------------- screens and layout

function setView(v) {
  if (S.view === 'rooms' && v !== 'rooms') timeline.saveAnchor();
  S.view = v;
  for (const name of ['rooms', 'verify', 'trace', 'devices']) $(`#view-${name}`).hidden = name !== v;
  for (const b of document.querySelectorAll('.nav [data-view]')) {
    if (b.dataset.view === v) b.setAttribute('aria-current', 'page'); else b.removeAttribute('aria-current');
  }
  if (v === 'devices') showDevices();
  applyView();
}

function applyView() {
  const listOpen = S.view === 'rooms' && (S.listOpen || !S.roomId);
  if (listOpen && narrow()) timeline.saveAnchor();
  $('#app').classList.toggle('list-open', listOpen);
}

const narrowQuery = window.matchMedia('(max-width: 720px)');
const narrow = () => narrowQuery.matches;

function wire() {
  $('#unlock-form').addEventListener('submit', unlock);
  $('#lock').addEventListener('click', lock);
  for (const b of document.querySelectorAll('.nav [data-view]')) {
    b.addEventListener('click', () => {
      if (b.dataset.view === 'rooms') S.listOpen = narrow() || !S.roomId;
      setView(b.dataset.view);
    });
  }
  $('#room-list').addEventListener('keydown', roomListKeys);
  const search = $('#room-search');
  search.addEventListener('input', renderRoomList);
  search.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowDown') { e.preventDefault(); $('#room-list .room-item')?.focus(); }
    if (e.key === 'Enter') $('#room-list .room-item')?.click();
    if (e.key === 'Escape' && search.value) { search.value = ''; renderRoomList(); }
  });
  const ta = $('#message-input');
  // Enter sends, Shift+Enter is a new line. Some input paths (DevTools'
  // synthetic keys, some IMEs) deliver Enter's character apart from its
  // keydown, so the line break it would insert is refused until keyup too.
  let swallowEnter = false;
  ta.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && !e.altKey) {
      e.preventDefault();
      swallowEnter = true;
      send();
    }
  });
  ta.addEventListener('beforeinput', (e) => {
    if (swallowEnter && (e.inputType === 'insertLineBreak' || e.inputType === 'insertParagraph')) e.preventDefault();
  });
  ta.addEventListener('keyup', (e) => { if (e.key === 'Enter') swallowEnter = false; });
  ta.addEventListener('input', autosize);
  $('#composer').addEventListener('submit', (e) => { e.preventDefault(); send(); });
  $('#attach').addEventListener('change', (e) => {
    const files = [...e.target.files];
    e.target.value = ''; // the same file can be chosen again
    share(files);
  });
  micIcon = [...$('#record').childNodes].map((n) => n.cloneNode(true));
  $('#record').addEventListener('click', toggleRecording);
  $('#jump').addEventListener('click', () => timeline.jumpToBottom());
  dropTarget($('#timeline-wrap'));
  dropTarget($('#composer'));
  document.addEventListener('keydown', (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'k' && S.unlocked) {
      e.preventDefault();
      S.listOpen = true;
      setView('rooms');
      search.focus();
      search.select();
    } else if (e.key === 'Escape' && rec) {
      cancelRecording();
    }
  });
  document.addEventListener('visibilitychange', () => markRead());
  narrowQuery.addEventListener('change', applyView);
}

boot();
