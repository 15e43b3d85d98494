// The timeline: a virtualised list of rows of varying height.
//
// A room may hold 10,000 messages, so only the rows in view plus a margin
// are in the DOM. Each row's height is estimated until it has been rendered
// once and measured; the measured heights are cached by row key and prefix
// offsets are recomputed from them (a pass over 10,000 numbers costs well
// under a millisecond). Rows are absolutely positioned at their offset
// inside a spacer as tall as the whole list.
//
// Scrolling: a room opens at the bottom; while the reader is at the bottom
// new rows keep them there, otherwise the first visible row stays exactly
// where it was, even when rows are inserted above it (causal order can place
// a late message before others) or when estimated heights are corrected.

import { h, hhmm, size, duration, parseTime, dayKey, dayLabel } from './dom.js';

const BOTTOM_SLACK = 24; // px from the bottom that still count as "at the bottom"

export class Timeline {
  /**
   * @param {HTMLElement} scroller the scrolling element (data-testid timeline)
   * @param {(row) => HTMLElement} renderRow builds a row's element
   * @param {() => void} onBottom called when the reader reaches the bottom
   */
  constructor(scroller, renderRow, onBottom) {
    this.el = scroller;
    this.renderRow = renderRow;
    this.onBottom = onBottom;
    this.inner = h('div', { class: 'tl-inner' });
    this.el.append(this.inner);
    this.rows = [];
    this.index = new Map(); // key → row index
    this.heights = new Map(); // key → measured height (px)
    this.offsets = new Float64Array(1);
    this.nodes = new Map(); // key → rendered element
    this.stuck = true;
    this.width = 0;
    this.frame = 0;
    this.saved = null;
    this.el.addEventListener('scroll', () => this.onScroll(), { passive: true });
    new ResizeObserver(() => this.onResize()).observe(this.el);
    // A rendered row can change height by itself (audio controls, fonts,
    // a narrower window): it is measured again and the rows below move.
    this.rowObserver = new ResizeObserver((entries) => this.onRowResize(entries));
  }

  onRowResize(entries) {
    const anchor = this.stuck ? null : this.anchor();
    let changed = false;
    for (const e of entries) {
      const el = e.target;
      if (!el.isConnected || this.nodes.get(el._key) !== el) continue;
      const ht = el.getBoundingClientRect().height;
      if (!ht || Math.abs(ht - (this.heights.get(el._key) ?? -1)) <= 0.5) continue;
      this.heights.set(el._key, ht);
      changed = true;
    }
    if (!changed) return;
    this.layout();
    this.place();
    if (this.stuck) this.toBottom();
    else if (anchor) this.restore(anchor);
    this.render();
  }

  drop(key, el) {
    this.rowObserver.unobserve(el);
    el.remove();
    this.nodes.delete(key);
  }

  /** Replaces the rows; reset (a room just opened) scrolls to the bottom. */
  setRows(rows, reset) {
    const anchor = reset || this.stuck ? null : this.anchor();
    if (reset) {
      // Measured heights stay: rows are keyed by message id, and only a
      // change of width (onResize) makes them wrong.
      this.stuck = true;
      this.saved = null;
    }
    this.rows = rows;
    this.index = new Map(rows.map((r, i) => [r.key, i]));
    // A row whose content changed (a delivery state, say) is built afresh.
    for (const [k, el] of this.nodes) {
      const i = this.index.get(k);
      if (i === undefined || rows[i].sig !== el._sig) this.drop(k, el);
    }
    this.layout();
    if (this.stuck) this.toBottom();
    else if (anchor) this.restore(anchor);
    this.render();
  }

  /** Empties the list; forget (the profile locked) drops the heights too. */
  clear(forget = false) {
    if (forget) this.heights.clear();
    this.rows = [];
    this.index.clear();
    this.rowObserver.disconnect();
    this.nodes.clear();
    this.saved = null;
    this.stuck = true;
    this.inner.replaceChildren();
    this.layout();
  }

  atBottom() {
    const e = this.el;
    return e.scrollTop + e.clientHeight >= e.scrollHeight - BOTTOM_SLACK;
  }

  toBottom() {
    this.stuck = true;
    this.el.scrollTop = this.el.scrollHeight;
  }

  /** Scrolls to the bottom and keeps rendering until the heights settle. */
  jumpToBottom() {
    this.toBottom();
    this.render();
  }

  /** Remembers the position before the list is hidden (display: none
   * forgets scrollTop); the next resize, on showing it, restores it. */
  saveAnchor() {
    if (this.el.clientHeight && !this.saved) this.saved = { stuck: this.stuck, anchor: this.stuck ? null : this.anchor() };
  }

  onScroll() {
    if (!this.el.clientHeight) return; // hidden: not the reader scrolling
    this.stuck = this.atBottom();
    if (this.stuck) this.onBottom();
    if (!this.frame) this.frame = requestAnimationFrame(() => { this.frame = 0; this.render(); });
  }

  onResize() {
    const w = this.el.clientWidth;
    if (!w) return; // hidden (another screen is showing)
    let anchor = this.stuck ? null : this.anchor();
    if (this.saved) {
      ({ stuck: this.stuck, anchor } = this.saved);
      this.saved = null;
    }
    if (w !== this.width) {
      // Wrapping changed: every measured height is stale.
      this.width = w;
      this.heights.clear();
      this.layout();
    }
    if (this.stuck) this.toBottom();
    else if (anchor) this.restore(anchor);
    this.render();
  }

  estimate(row) {
    const perLine = Math.max(20, Math.floor((Math.min(this.width || 800, 900) * 0.7 - 32) / 7.6));
    switch (row.kind) {
      case 'day': return 40;
      case 'intro': return 56;
      case 'notice': return 36;
      default: {
        const m = row.msg;
        let lines = 0;
        const t = m.text || '';
        for (let at = 0; at <= t.length;) { // per paragraph, without splitting the text
          const nl = t.indexOf('\n', at);
          const end = nl < 0 ? t.length : nl;
          lines += Math.max(1, Math.ceil((end - at) / perLine));
          at = end + 1;
        }
        const extra = m.kind === 'voice' ? 56 : m.kind === 'doc' ? 44 : 0;
        return 48 + (m.kind === 'text' ? lines : Math.min(lines, 2)) * 21 + extra + (m.mine ? 16 : 0);
      }
    }
  }

  heightOf(i) {
    const r = this.rows[i];
    return this.heights.get(r.key) ?? this.estimate(r);
  }

  layout() {
    const n = this.rows.length;
    if (this.offsets.length !== n + 1) this.offsets = new Float64Array(n + 1);
    for (let i = 0; i < n; i++) this.offsets[i + 1] = this.offsets[i] + this.heightOf(i);
    this.inner.style.height = `${this.offsets[n]}px`;
  }

  /** The index of the row covering y (binary search of the offsets). */
  find(y) {
    let lo = 0, hi = this.rows.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.offsets[mid] <= y) lo = mid; else hi = mid - 1;
    }
    return Math.max(0, lo);
  }

  anchor() {
    if (!this.rows.length) return null;
    const i = this.find(this.el.scrollTop);
    return { key: this.rows[i].key, delta: this.el.scrollTop - this.offsets[i] };
  }

  restore(a) {
    const i = this.index.get(a.key);
    if (i !== undefined) this.el.scrollTop = this.offsets[i] + a.delta;
  }

  /** Brings the DOM in line with the scroll position, measuring new rows. */
  render() {
    if (!this.rows.length) return;
    for (let pass = 0; pass < 6; pass++) {
      const anchor = this.stuck ? null : this.anchor();
      const vh = this.el.clientHeight || 600;
      const margin = Math.max(400, vh);
      const first = this.find(this.el.scrollTop - margin);
      const last = this.find(this.el.scrollTop + vh + margin);
      for (const [k, el] of this.nodes) {
        const i = this.index.get(k);
        if ((i < first || i > last) && !playing(el)) this.drop(k, el);
      }
      for (let i = first; i <= last; i++) {
        const row = this.rows[i];
        if (this.nodes.has(row.key)) continue;
        const el = this.renderRow(row);
        el._sig = row.sig;
        el._key = row.key;
        el.classList.add('tl-row');
        this.nodes.set(row.key, el);
        this.rowObserver.observe(el);
      }
      this.place();
      // One layout for all rows not measured yet (new ones, and those whose
      // height a resize invalidated): read every height after all writes.
      let changed = false;
      for (const [k, el] of this.nodes) {
        if (this.heights.has(k)) continue;
        const ht = el.getBoundingClientRect().height;
        if (!ht) continue;
        const i = this.index.get(el._key);
        if (Math.abs(ht - this.heightOf(i)) > 0.5) changed = true;
        this.heights.set(el._key, ht);
      }
      if (!changed) break;
      this.layout();
      this.place();
      if (this.stuck) this.toBottom();
      else if (anchor) this.restore(anchor);
    }
  }

  /** Positions the rendered rows and keeps them in DOM order (reading order). */
  place() {
    const order = [...this.nodes].map(([k, el]) => [this.index.get(k), el]).sort((a, b) => a[0] - b[0]);
    let prev = null;
    for (const [i, el] of order) {
      el.style.transform = `translateY(${this.offsets[i]}px)`;
      if (prev ? prev.nextSibling !== el : this.inner.firstChild !== el) {
        if (prev) prev.after(el); else this.inner.prepend(el);
      }
      prev = el;
    }
  }
}

// A voice note that is playing keeps its row rendered even when scrolled
// away, so that scrolling never cuts off what the user is listening to.
function playing(el) {
  const a = el.querySelector('audio');
  return a !== null && !a.paused;
}

/**
 * The rows for a room: its introduction (mode and marking), then the
 * messages in the order the API gives (causal), with a separator whenever
 * the day changes.
 */
export function buildRows(intro, messages) {
  const rows = [{ key: `intro:${intro}`, kind: 'intro', text: intro, sig: intro }];
  let day = '';
  // Parsing 10,000 times is most of the cost here; messages come in bursts,
  // so the local day is looked up once per minute of sending (zones differ
  // from UTC by whole minutes: the minute decides the local day).
  let minute = '';
  let d = null;
  let k = '';
  for (const m of messages) {
    const at = m.sent_at || '';
    const mk = at.slice(0, 16) + (at.endsWith('Z') ? 'Z' : at.slice(-6)); // minute and zone
    if (mk !== minute) {
      minute = mk;
      d = parseTime(at);
      k = dayKey(d);
    }
    if (k && k !== day) {
      day = k;
      rows.push({ key: `day:${m.id}`, kind: 'day', text: dayLabel(d), sig: k });
    }
    const notice = m.kind === 'system' || m.kind === 'notice';
    const del = m.delivery ? `${m.delivery.state}/${delivered(m.delivery)}/${m.delivery.of}` : '';
    rows.push({ key: `m:${m.id}`, kind: notice ? 'notice' : 'msg', msg: m, sig: del });
  }
  return rows;
}

// The API documents "delivered" as a count; the client's own JSON has a
// list "delivered_to". Accept either.
function delivered(d) {
  if (typeof d.delivered === 'number') return d.delivered;
  if (Array.isArray(d.delivered)) return d.delivered.length;
  return Array.isArray(d.delivered_to) ? d.delivered_to.length : 0;
}

export function deliveryWords(d) {
  if (!d) return '';
  if (d.state === 'delivered') return `delivered ${delivered(d)} of ${d.of ?? '?'}`;
  return d.state || '';
}

/** Builds one row's element; roomId names the document and voice URLs. */
export function renderRow(row, roomId) {
  if (row.kind === 'day') {
    return h('div', { class: 'day', role: 'separator' }, h('span', { text: row.text }));
  }
  if (row.kind === 'intro') {
    return h('div', { class: 'notice-row' }, h('p', { class: 'notice intro', testid: 'notice', text: row.text }));
  }
  const m = row.msg;
  const at = parseTime(m.sent_at);
  const base = { testid: 'message', dataset: { id: m.id, kind: m.kind, sender: m.sender || '' } };
  if (m.delivery) base.dataset.delivery = m.delivery.state || '';
  if (row.kind === 'notice') {
    return h('div', { ...base, class: 'notice-row' },
      h('p', { class: `notice k-${m.kind}`, testid: 'notice' }, m.text || '', at ? h('time', { datetime: m.sent_at, text: ` · ${hhmm(at)}` }) : null));
  }
  const body = [];
  if (m.kind === 'doc' && m.doc) {
    const href = `/api/rooms/${encodeURIComponent(roomId)}/docs/${encodeURIComponent(m.id)}`;
    body.push(h('div', { class: 'doc' },
      h('span', { class: 'doc-name', text: m.doc.name || 'document' }),
      h('span', { class: 'doc-size', text: size(m.doc.size) }),
      h('a', { class: 'button small', href, download: m.doc.name || 'document', 'aria-label': `Download ${m.doc.name || 'the document'}`, text: 'Download' })));
    // The history's own line ("shared x.pdf (12 KB)") repeats the card.
    if (m.text && !m.text.includes(m.doc.name)) body.push(h('div', { class: 'caption', text: m.text }));
  } else if (m.kind === 'voice') {
    body.push(h('div', { class: 'voice' },
      h('audio', { controls: true, preload: 'none', src: `/api/rooms/${encodeURIComponent(roomId)}/voice/${encodeURIComponent(m.id)}`, 'aria-label': `Voice note from ${m.sender}` }),
      h('span', { class: 'voice-len', text: duration(m.duration_ms) })));
    if (m.text && !/^voice note\b/i.test(m.text)) body.push(h('div', { class: 'caption', text: m.text }));
  } else {
    body.push(h('div', { class: 'text', text: m.text || '' }));
  }
  return h('article', { ...base, class: `msg${m.mine ? ' mine' : ''}` },
    h('div', { class: 'bubble' },
      h('div', { class: 'meta' },
        h('span', { class: 'sender', text: m.mine ? 'You' : m.sender }),
        at ? h('time', { datetime: m.sent_at, title: at.toLocaleString(), text: hhmm(at) }) : null),
      body,
      m.mine && m.delivery ? h('div', { class: `delivery ${m.delivery.state}`, text: deliveryWords(m.delivery) }) : null));
}
