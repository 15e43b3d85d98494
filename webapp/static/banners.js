// Banners: what the user must see whatever screen is open — the
// connection, key changes and new devices, removal from a room, warnings
// and errors. Each banner has a key, so that the same condition updates one
// banner instead of stacking copies; a banner the user dismissed stays away
// until what it says changes.

import { h, fill } from './dom.js';

const shown = new Map(); // key → {el, text}
const dismissed = new Map(); // key → gist dismissed

let box = null;
export function initBanners(el) { box = el; }

// Warnings often carry a count that changes on every refetch ("nothing from
// carol since 06:12 (33 minutes; …)"): compared without their numbers, the
// same warning stays one banner and stays dismissed.
export const gist = (text) => text.replace(/\d+/g, '#');

/**
 * Shows (or updates) a banner.
 * kind: connection, key-change, device, removed, warning, error, info
 * opts.alarm: red rather than amber; opts.actions: [{label, testid, run}];
 * opts.sticky: no dismiss button (the condition must clear by itself);
 * opts.box: another container (a room's own warnings); opts.force: show
 * even if dismissed.
 */
export function banner(key, kind, text, opts = {}) {
  if (dismissed.get(key) === gist(text) && !opts.force) return;
  dismissed.delete(key);
  let b = shown.get(key);
  if (!b) {
    b = { el: h('div', { class: 'banner', testid: 'banner' }), text: '' };
    shown.set(key, b);
    const into = opts.box || box;
    // Alarms first, then in arrival order.
    if (opts.alarm) into.prepend(b.el); else into.append(b.el);
  }
  // Unchanged: leave it be, so that a focused button keeps its focus.
  const sig = [kind, Boolean(opts.alarm), text, ...(opts.actions || []).map((a) => a.label)].join('|');
  if (b.sig === sig) return;
  b.sig = sig;
  b.text = text;
  b.el.className = `banner ${kind}${opts.alarm ? ' alarm' : ''}`;
  b.el.dataset.kind = kind;
  b.el.dataset.key = key;
  b.el.setAttribute('role', opts.alarm || kind === 'error' ? 'alert' : 'status');
  const actions = (opts.actions || []).map((a) => h('button', {
    type: 'button', class: a.primary ? 'small primary' : 'small', testid: a.testid,
    onclick: async (ev) => {
      const btn = ev.currentTarget;
      btn.disabled = true; // one click, one request
      try { await a.run(); } finally { btn.disabled = false; }
    },
  }, a.label));
  fill(b.el,
    h('span', { class: 'banner-icon', 'aria-hidden': 'true', text: kind === 'connection' ? '↻' : kind === 'info' ? '✓' : '⚠' }),
    h('span', { class: 'banner-text', text }),
    actions.length ? h('span', { class: 'banner-actions' }, actions) : null,
    opts.sticky ? null : h('button', {
      type: 'button', class: 'banner-close', 'aria-label': 'Dismiss', text: '×',
      onclick: () => { dismissed.set(key, gist(text)); unbanner(key); },
    }));
}

export const isShown = (key) => shown.has(key);

/** Removes the banners whose key satisfies fn. */
export function unbannerWhere(fn) {
  for (const k of [...shown.keys()]) if (fn(k)) unbanner(k);
}

export function unbanner(key) {
  const b = shown.get(key);
  if (b) {
    b.el.remove();
    shown.delete(key);
  }
}

/** Removes every banner whose key starts with prefix and is not in keep. */
export function unbannerAll(prefix, keep = new Set()) {
  for (const k of [...shown.keys()]) if (k.startsWith(prefix) && !keep.has(k)) unbanner(k);
}

export function clearBanners() {
  for (const k of [...shown.keys()]) unbanner(k);
  dismissed.clear();
}

let errSeq = 0;
/** An error not tied to a form: shown until dismissed. */
export function errorBanner(text) {
  // Identical errors share one banner; distinct ones stack.
  for (const [k, b] of shown) if (k.startsWith('error:') && b.text === text) return;
  banner(`error:${++errSeq}`, 'error', text);
}
