// The screens besides the rooms: a member's safety number, the devices
// and device linking, verify, trace, and the new-room form.
//
// app is what the screens need from app.js: {rooms(), roomId(), me(),
// refresh(), openRoom(id), warn(text)}.

import { h, fill, $, api, errText, dateTime, safetyGroups, MODES, MARKINGS } from './dom.js';

const enc = encodeURIComponent;
let app = null;

export function initScreens(a) {
  app = a;
  $('#vd-close').addEventListener('click', () => $('#verify-dialog').close());
  initDevices();
  initVerify();
  initTrace();
  initNewRoom();
}

/** Shows msg in an inline error line (role=alert), or hides it. */
function inlineError(el, msg) {
  el.textContent = msg || '';
  el.hidden = !msg;
  if (msg) el.scrollIntoView({ block: 'nearest' }); // in a long form it may be out of view
}

function busy(btn, on, label) {
  btn.disabled = on;
  if (label) {
    btn.dataset.label ??= btn.textContent;
    btn.textContent = on ? label : btn.dataset.label;
  }
}

// ---------------------------------------------------------------- safety number

/** Opens the safety-number dialog for a room member. */
export async function openVerification(user) {
  const dlg = $('#verify-dialog');
  const body = $('#vd-body');
  fill(body, h('h2', { id: 'vd-title', text: `Verify ${user}` }), h('p', { class: 'muted', text: 'Loading…' }));
  if (!dlg.open) dlg.showModal();
  let c;
  try {
    c = await api('GET', `/api/contacts/${enc(user)}`);
  } catch (e) {
    fill(body, h('h2', { id: 'vd-title', text: `Verify ${user}` }), h('p', { class: 'form-error', role: 'alert', text: errText(e) }));
    return;
  }
  const err = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const groups = safetyGroups(c.safety_number);
  // Spaces between the groups keep the text copyable as "12345 67890 …".
  const number = h('div', { class: 'safety', testid: 'safety-number' },
    groups.flatMap((g, i) => (i ? [' ', h('span', { text: g })] : [h('span', { text: g })])));
  const confirm = h('button', {
    type: 'button', class: 'primary', testid: 'verify-confirm', text: 'All 12 groups match',
    onclick: async () => {
      busy(confirm, true);
      try {
        await api('POST', `/api/contacts/${enc(user)}/verify`);
        await openVerification(user);
        app.refresh();
      } catch (e) {
        inlineError(err, errText(e));
        busy(confirm, false);
      }
    },
  });
  const changed = c.key_changed || (c.pending_devices || []).length > 0;
  fill(body,
    h('h2', { id: 'vd-title', text: `Verify ${c.name || user}` }),
    h('p', { class: c.verified ? 'verified-line' : 'muted' }, c.verified
      ? `✓ You have verified ${user}: the safety numbers matched.`
      : `Not verified. Compare these 12 groups with ${user} in person or over a call you trust: their device shows the same numbers.`),
    c.key_changed ? h('p', { class: 'alarm-line', text: `${user}'s safety number has changed since you last saw it. Compare it again before you trust this conversation.` }) : null,
    groups.length ? number : h('p', { class: 'muted', text: 'No safety number is known for this contact.' }),
    groups.length ? h('img', { class: 'qr', src: `/api/contacts/${enc(user)}/qr.png`, alt: `QR code of your safety number with ${user}`, width: 192, height: 192 }) : null,
    c.previous_safety_number ? h('p', { class: 'previous' }, h('span', { class: 'muted', text: 'Previous safety number: ' }), h('span', { class: 'mono', text: c.previous_safety_number })) : null,
    (c.devices || []).length ? h('div', {},
      h('h3', { text: `${user}'s devices` }),
      h('ul', { class: 'plain' }, c.devices.map((d) => h('li', {},
        `${d.name || `device ${d.id}`} · added ${dateTime(d.added_at)}`, d.accepted ? '' : ' · not accepted yet')))) : null,
    err,
    h('div', { class: 'dialog-actions' }, groups.length ? confirm : null,
      changed ? h('button', {
        type: 'button', text: 'Accept the change',
        onclick: async () => {
          try {
            await api('POST', `/api/contacts/${enc(user)}/accept`);
            await openVerification(user);
            app.refresh();
          } catch (e) { inlineError(err, errText(e)); }
        },
      }) : null));
}

// ---------------------------------------------------------------- devices

let linkTimer = 0;
let linkShown = '';

function initDevices() {
  $('#link-device').addEventListener('click', startLink);
}

export async function showDevices() {
  await loadDevices();
  // A link started earlier (and still going) is shown again.
  try {
    const snap = await api('GET', '/api/devices/link');
    if (snap.state === 'waiting' || snap.state === 'confirm') {
      renderLink(snap);
      pollLink();
    }
  } catch (e) {
    inlineError($('#devices-error'), errText(e));
  }
}

async function loadDevices() {
  const list = $('#device-list');
  try {
    const ds = await api('GET', '/api/devices');
    inlineError($('#devices-error'), '');
    fill(list, ds.map((d) => h('li', { class: 'device', testid: 'device', dataset: { id: String(d.id), this: String(Boolean(d.this_device)) } },
      h('div', { class: 'device-main' },
        h('strong', { text: d.name || `device ${d.id}` }),
        d.this_device ? h('span', { class: 'tag', text: 'this device' }) : null,
        d.accepted === false ? h('span', { class: 'tag warn', text: 'not accepted yet' }) : null,
        h('div', { class: 'muted small', text: `device ${d.id} · added ${dateTime(d.added_at)}` })),
      d.this_device ? null : h('button', {
        type: 'button', class: 'danger small', 'aria-label': `Remove ${d.name || `device ${d.id}`}`, text: 'Remove',
        onclick: () => removeDevice(d),
      }))));
    if (!ds.length) fill(list, h('li', { class: 'muted', text: 'No devices are listed.' }));
  } catch (e) {
    inlineError($('#devices-error'), errText(e));
  }
}

async function removeDevice(d) {
  const name = d.name || `device ${d.id}`;
  if (!window.confirm(`Remove “${name}” from your account? It will receive nothing new, and your contacts will see that it was removed.`)) return;
  try {
    await api('DELETE', `/api/devices/${enc(d.id)}`, { passphrase: takePassphrase() });
    await loadDevices();
  } catch (e) {
    inlineError($('#devices-error'), errText(e));
  }
}

// The passphrase is asked again before a device is linked or removed (the
// window's session alone must not add a device); the field is emptied at
// once, so the page keeps it no longer than the request.
function takePassphrase() {
  const el = $('#devices-passphrase');
  const v = el.value;
  el.value = '';
  return v;
}

async function startLink() {
  const btn = $('#link-device');
  busy(btn, true, 'Preparing a code…');
  linkShown = '';
  try {
    renderLink(await api('POST', '/api/devices/link', { passphrase: takePassphrase() }));
    pollLink();
  } catch (e) {
    renderLink({ state: 'failed', error: errText(e) });
  } finally {
    busy(btn, false, 'Preparing a code…');
  }
}

function pollLink() {
  clearInterval(linkTimer);
  linkTimer = setInterval(async () => {
    try {
      const snap = await api('GET', '/api/devices/link');
      renderLink(snap);
      if (!['waiting', 'confirm', 'starting'].includes(snap.state)) {
        clearInterval(linkTimer);
        if (snap.state === 'done') loadDevices();
      }
    } catch (e) {
      clearInterval(linkTimer);
      renderLink({ state: 'failed', error: errText(e) });
    }
  }, 1000);
}

export function stopLinkPolling() { clearInterval(linkTimer); }

function renderLink(snap) {
  const panel = $('#link-panel');
  // Polling must not rebuild the panel (and reload the QR, or steal focus
  // from the answer buttons) while nothing changed.
  const sig = `${snap.state}|${snap.code}|${snap.sas}|${snap.error}`;
  if (sig === linkShown) return;
  linkShown = sig;
  panel.hidden = snap.state === 'none';
  switch (snap.state) {
    case 'waiting':
    case 'starting':
      fill(panel,
        h('h3', { text: 'Link a new device' }),
        h('p', { text: 'On the new device, scan this code or run:' }),
        h('pre', { class: 'code', text: `backchannel --home DIR init --link ${snap.code || '…'}` }),
        snap.code ? h('img', { class: 'qr', src: `/api/devices/link/qr.png?c=${enc(snap.code.slice(0, 8))}`, alt: 'QR code of the link code', width: 192, height: 192 }) : null,
        h('p', { class: 'muted', text: 'Waiting for the new device (up to 10 minutes)…' }));
      break;
    case 'confirm': {
      const answer = (match) => async () => {
        for (const b of panel.querySelectorAll('button')) b.disabled = true;
        try {
          await api('POST', '/api/devices/link/confirm', { match });
        } catch (e) {
          panel.append(h('p', { class: 'form-error', role: 'alert', text: errText(e) }));
        }
      };
      const yes = h('button', { type: 'button', class: 'primary', text: 'Yes, they match', onclick: answer(true) });
      fill(panel,
        h('h3', { text: 'Compare the codes' }),
        h('p', { class: 'sas', testid: 'link-sas', text: snap.sas }),
        h('p', { text: 'Does this code match the one on the new device? Link it only if every character is the same.' }),
        h('div', { class: 'dialog-actions' },
          h('button', { type: 'button', class: 'danger', text: 'No, they differ', onclick: answer(false) }), yes));
      yes.focus();
      break;
    }
    case 'done':
      fill(panel, h('h3', { text: 'Device linked' }),
        h('p', { class: 'verified-line', text: `✓ “${snap.device?.name || 'The new device'}” is now one of your devices. Your contacts will see that you linked it.` }));
      break;
    case 'failed':
      fill(panel, h('h3', { text: 'The device was not linked' }), h('p', { class: 'form-error', role: 'alert', text: snap.error || 'The link failed.' }));
      break;
    default:
      panel.replaceChildren();
  }
}

// ---------------------------------------------------------------- verify and trace

/** Fills a room <select> with the rooms, keeping the choice if it still exists. */
export function fillRoomSelect(sel, rooms, allOption) {
  const keep = sel.value || app.roomId() || '';
  fill(sel, allOption ? h('option', { value: '', text: 'All rooms' }) : null,
    rooms.map((r) => h('option', { value: r.id, text: r.name })));
  if ([...sel.options].some((o) => o.value === keep)) sel.value = keep;
}

/** A dropped text file goes into the textarea. */
function acceptTextDrop(area, onFile) {
  area.addEventListener('dragover', (e) => { if (e.dataTransfer.types.includes('Files')) e.preventDefault(); });
  area.addEventListener('drop', async (e) => {
    const f = e.dataTransfer.files[0];
    if (!f) return; // plain dropped text: the browser inserts it
    e.preventDefault();
    if (onFile && !(f.type.startsWith('text/') || /\.(txt|md|text|log)$/i.test(f.name))) { onFile(f); return; }
    area.value = await f.text();
  });
}

const VERDICT_WORDS = {
  authentic: 'Authentic',
  altered: 'Altered',
  fabricated: 'Fabricated',
  misattributed: 'Misattributed',
  misdated: 'Misdated',
};

function initVerify() {
  const form = $('#verify-form');
  acceptTextDrop($('#verify-input'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const room = $('#verify-room').value;
    const text = $('#verify-input').value;
    const err = $('#verify-error');
    if (!room) return inlineError(err, 'Choose the room the text claims to come from.');
    if (!text.trim()) return inlineError(err, 'Paste the text to verify (or drop a text file on the box).');
    inlineError(err, '');
    const btn = $('#verify-submit');
    busy(btn, true, 'Verifying…');
    try {
      renderVerify(await api('POST', `/api/verify?room=${enc(room)}`, text));
    } catch (ex) {
      inlineError(err, errText(ex));
    } finally {
      busy(btn, false, 'Verifying…');
    }
  });
}

/** A wdiff-style diff ([-removed-] {+added+}) with the changes marked up. */
function diffView(diff) {
  const out = h('div', { class: 'diff' });
  const re = /\[-([\s\S]*?)-\]|\{\+([\s\S]*?)\+\}/g;
  let at = 0;
  for (const m of diff.matchAll(re)) {
    out.append(diff.slice(at, m.index));
    out.append(m[1] !== undefined
      ? h('del', { title: 'in the message, not in the text', text: `[-${m[1]}-]` })
      : h('ins', { title: 'in the text, not in the message', text: `{+${m[2]}+}` }));
    at = m.index + m[0].length;
  }
  out.append(diff.slice(at));
  return out;
}

function renderVerify(rep) {
  const box = $('#verify-result');
  const s = rep.summary || {};
  const counts = ['authentic', 'altered', 'fabricated', 'misattributed', 'misdated']
    .map((k) => `${s[k] ?? 0} ${k}`).join(', ');
  fill(box,
    h('h3', { text: 'Result' }),
    h('p', { class: 'summary' }, `${s.lines ?? (rep.lines || []).length} lines: ${counts}`,
      s.messages !== undefined ? ` (${s.matched_messages ?? 0} of ${s.messages} messages matched)` : '',
      s.reordered ? `; ${s.reordered} reordered` : '', s.omitted ? `; ${s.omitted} gaps of omitted messages` : '',
      s.skipped_lines ? `; ${s.skipped_lines} lines of the program's own output skipped` : '', '.'),
    s.note ? h('p', { class: 'muted', text: s.note }) : null,
    h('ol', { class: 'verdicts' }, (rep.lines || []).map((l) => h('li', { class: `verdict ${l.verdict}`, dataset: { verdict: l.verdict, line: String(l.line) } },
      h('div', { class: 'verdict-head' },
        h('span', { class: 'line-no', text: `line ${l.line}` }),
        h('span', { class: 'verdict-word', text: VERDICT_WORDS[l.verdict] || l.verdict }),
        h('span', { class: 'source muted' }, l.sender || l.sent_at
          ? `${l.sender || 'unknown sender'}${l.sent_at ? `, ${dateTime(l.sent_at)}` : ''}${l.message_id ? ` · message ${l.message_id.slice(0, 8)}` : ''}`
          : l.verdict === 'fabricated' ? 'no message in the transcript contains these words' : '')),
      h('div', { class: 'line-text', text: l.text }),
      l.diff ? diffView(l.diff) : null,
      l.noise ? h('div', { class: 'muted small', text: `Copying noise, not counted: ${l.noise}` }) : null))),
    (rep.findings || []).length ? h('div', {},
      h('h3', { text: 'Findings' }),
      h('ul', { class: 'findings' }, rep.findings.map((f) => h('li', { class: `finding ${f.kind}`, dataset: { kind: f.kind } },
        h('strong', { text: f.kind === 'omitted' ? 'Omitted: ' : f.kind === 'reordered' ? 'Reordered: ' : `${f.kind}: ` }),
        f.text || '', (f.lines || []).length ? ` (lines ${f.lines.join(', ')})` : '')))) : null);
}

let traceFile = null;

function initTrace() {
  const input = $('#trace-file');
  const clear = $('#trace-file-clear');
  const setFile = (f) => {
    traceFile = f;
    clear.hidden = !f;
    $('#trace-input').disabled = Boolean(f);
    $('#trace-input').placeholder = f ? `The file “${f.name}” will be traced.` : '';
    if (!f) input.value = '';
  };
  input.addEventListener('change', () => setFile(input.files[0] || null));
  clear.addEventListener('click', () => setFile(null));
  acceptTextDrop($('#trace-input'), setFile);
  $('#trace-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const err = $('#trace-error');
    const text = $('#trace-input').value;
    const body = traceFile || text;
    if (!traceFile && !text.trim()) return inlineError(err, 'Paste the leaked text, or choose a file.');
    inlineError(err, '');
    const btn = $('#trace-submit');
    busy(btn, true, 'Tracing…');
    try {
      const room = $('#trace-room').value;
      renderTrace(await api('POST', `/api/trace${room ? `?room=${enc(room)}` : ''}`, body, traceFile ? (traceFile.type || 'application/octet-stream') : undefined));
    } catch (ex) {
      inlineError(err, errText(ex));
    } finally {
      busy(btn, false, 'Tracing…');
    }
  });
}

function renderTrace(v) {
  const named = v.named || [];
  const headline = v.verdict === 'identified' && named.length
    ? `Identified: the leak is ${named.join(' and ')}'s copy.`
    : v.verdict === 'inconclusive' ? 'Inconclusive: nobody is named.' : `Verdict: ${v.verdict}`;
  fill($('#trace-result'),
    h('div', { class: `trace-verdict ${v.verdict}`, testid: 'trace-result', dataset: { verdict: v.verdict, kind: v.kind || '' } },
      h('h3', { text: headline }),
      named.length ? h('ul', { class: 'named', 'aria-label': 'Named members' }, named.map((n) => h('li', { class: 'tag', dataset: { name: n }, text: n }))) : null,
      h('ul', { class: 'plain summary-lines' }, (v.summary || []).map((s) => h('li', { text: s }))),
      typeof v.bound === 'number' ? h('p', { class: 'muted' },
        `Bound: the probability that an innocent member is named is at most ε = ${v.bound.toExponential(0)}.`) : null));
}

// ---------------------------------------------------------------- new room

function initNewRoom() {
  const dlg = $('#new-room-dialog');
  const form = $('#new-room-form');
  // Radio buttons, none chosen: the creator must decide what the room
  // keeps and how copies are marked (the server refuses a missing choice).
  const radios = (name, options) => Object.entries(options).map(([value, words]) => {
    const id = `new-room-${name}-${value}`;
    return h('div', { class: 'choice' },
      h('input', { type: 'radio', name, id, value, required: true }),
      h('label', { for: id }, h('strong', { text: value }), h('span', { class: 'muted', text: ` — ${words}` })));
  });
  $('#new-room-mode').append(...radios('mode', MODES));
  $('#new-room-marking').append(...radios('marking', MARKINGS));
  $('#new-room-open').addEventListener('click', () => {
    form.reset();
    inlineError($('#new-room-error'), '');
    dlg.showModal();
    $('#new-room-name').focus();
  });
  $('#new-room-cancel').addEventListener('click', () => dlg.close());
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const err = $('#new-room-error');
    const name = $('#new-room-name').value.trim();
    const members = $('#new-room-members').value.split(',').map((s) => s.trim()).filter(Boolean);
    const mode = form.elements.mode.value;
    const marking = form.elements.marking.value;
    if (!name) return inlineError(err, 'Give the room a name.');
    if (!mode) return inlineError(err, 'Choose the room’s mode: on-record or deniable.');
    if (!marking) return inlineError(err, 'Choose how copies are marked.');
    inlineError(err, '');
    const btn = $('#new-room-submit');
    busy(btn, true, 'Creating…');
    try {
      const res = await api('POST', '/api/rooms', { name, members, mode, marking });
      dlg.close();
      for (const w of res.warnings || []) app.warn(w);
      await app.refresh();
      app.openRoom(res.room.id);
    } catch (ex) {
      inlineError(err, errText(ex));
    } finally {
      busy(btn, false, 'Creating…');
    }
  });
}
