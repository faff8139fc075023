// Parley console: plain JavaScript, no build step, no external assets.
// Every API call carries the token from the login form (kept in
// sessionStorage, so closing the tab logs out).
'use strict';

const $ = (id) => document.getElementById(id);
const SVG = 'http://www.w3.org/2000/svg';
let token = sessionStorage.getItem('parley-token') || '';
let regCursor = '';
let regPages = 0;   // pages of registrations shown
let regLoadSeq = 0; // only the latest load draws
let regLoading = 0; // loads in flight
let events = null; // AbortController of the event stream

async function api(path, opts = {}) {
  const headers = Object.assign({ Authorization: 'Bearer ' + token }, opts.headers || {});
  if (opts.body) headers['Content-Type'] = 'application/json';
  const resp = await fetch(path, Object.assign({}, opts, { headers }));
  if (resp.status === 401) {
    showLogin('Wrong or missing token.');
    throw new Error('unauthorized');
  }
  if (!resp.ok) {
    let msg = resp.status + ' ' + resp.statusText;
    try { msg = (await resp.json()).error || msg; } catch (e) { /* not JSON */ }
    throw new Error(msg);
  }
  return resp;
}

async function getJSON(path) { return (await api(path)).json(); }

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v; else if (k.startsWith('on')) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function svg(tag, attrs = {}, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function showLogin(msg) {
  stopEvents();
  document.querySelectorAll('.page').forEach((p) => { p.hidden = true; });
  $('nav').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = msg || '';
}

async function login(ev) {
  ev.preventDefault();
  token = $('token').value.trim();
  try {
    await getJSON('/api/status');
  } catch (e) {
    if (e.message !== 'unauthorized') $('login-error').textContent = e.message;
    return;
  }
  sessionStorage.setItem('parley-token', token);
  $('login').hidden = true;
  $('nav').hidden = false;
  startEvents();
  if (!location.hash || location.hash === '#/login') location.hash = '#/dashboard'; else route();
}

function logout() {
  token = '';
  sessionStorage.removeItem('parley-token');
  showLogin('Logged out.');
}

// ---- live updates: server-sent events read through fetch, so that the
// stream carries the Authorization header (EventSource cannot).
function stopEvents() {
  if (events) events.abort();
  events = null;
  $('live').classList.remove('on');
}

async function startEvents() {
  stopEvents();
  const ctl = new AbortController();
  events = ctl;
  try {
    const resp = await fetch('/api/events', { headers: { Authorization: 'Bearer ' + token }, signal: ctl.signal });
    if (!resp.ok) throw new Error('events: ' + resp.status);
    $('live').classList.add('on');
    const reader = resp.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
        if (data) onStatus(JSON.parse(data));
      }
    }
  } catch (e) {
    if (ctl.signal.aborted) return;
  }
  $('live').classList.remove('on');
  if (events === ctl) setTimeout(() => { if (events === ctl && token) startEvents(); }, 2000);
}

function onStatus(st) {
  const page = currentPage();
  if (page === 'dashboard') loadDashboard();
  // A live update redraws the first page, never a list the user paged on.
  else if (page === 'registrations' && regPages <= 1 && !regLoading) loadRegistrations(true);
  else if (page === 'calls') loadCalls();
  $('live').title = 'live: ' + st.registrations + ' registrations, ' + st.calls_captured + ' calls';
}

// ---- pages
function currentPage() {
  const h = location.hash.replace(/^#\//, '');
  return h.split('/')[0] || 'dashboard';
}

function route() {
  if (!token) { showLogin(); return; }
  const page = currentPage();
  document.querySelectorAll('.page').forEach((p) => { p.hidden = p.id !== page; });
  document.querySelectorAll('#nav a').forEach((a) => a.classList.toggle('active', a.getAttribute('href') === '#/' + page));
  const arg = decodeURIComponent(location.hash.replace(/^#\/[^/]*\/?/, ''));
  const load = { dashboard: loadDashboard, registrations: () => loadRegistrations(true), calls: loadCalls, call: () => loadCall(arg), cdrs: loadCDRs, users: loadUsers }[page];
  if (load) load().catch(showError);
}

function showError(e) {
  if (e.message !== 'unauthorized') console.error(e);
}

async function loadDashboard() {
  const d = await getJSON('/api/dashboard');
  $('d-registrations').textContent = d.registrations;
  $('d-users').textContent = d.users;
  $('d-calls').textContent = d.calls_captured;
  $('d-cpm').textContent = d.calls_last_minute;
  $('d-tx').textContent = d.transactions_live;
  $('d-bans').textContent = d.bans_active;
  const tb = $('d-failures').tBodies[0];
  tb.replaceChildren(...Object.entries(d.failures).sort().map(([code, n]) => el('tr', {}, el('td', {}, code), el('td', {}, n))));
  if (!tb.children.length) tb.append(el('tr', {}, el('td', { colspan: 2, class: 'muted' }, 'no failed calls captured')));
}

async function loadRegistrations(first) {
  const seq = ++regLoadSeq;
  if (first) regCursor = '';
  const user = $('r-user').value.trim();
  const q = new URLSearchParams({ limit: '100' });
  if (user) q.set('user', user);
  if (regCursor) q.set('cursor', regCursor);
  const t0 = performance.now();
  let page;
  regLoading++;
  try { page = await getJSON('/api/registrations?' + q); } finally { regLoading--; }
  if (seq !== regLoadSeq) return; // a newer load is on its way
  regPages = first ? 1 : regPages + 1;
  const tb = $('r-table').tBodies[0];
  const rows = page.registrations.map((r) => el('tr', { 'data-user': r.user, 'data-contact': r.contact },
    el('td', {}, r.user), el('td', {}, r.contact), el('td', {}, r.source), el('td', {}, r.transport),
    el('td', {}, r.user_agent), el('td', {}, r.expires_in + ' s'),
    el('td', {}, el('button', { type: 'button', onclick: () => unregister(r) }, 'Unregister'))));
  if (first) tb.replaceChildren(...rows); else tb.append(...rows);
  $('r-total').textContent = '(' + page.total + ')';
  regCursor = page.next || '';
  $('r-more').hidden = !page.next;
  document.body.dataset.regPageMs = String(Math.round(performance.now() - t0));
}

async function unregister(r) {
  await api('/api/registrations/' + encodeURIComponent(r.user) + '?contact=' + encodeURIComponent(r.contact), { method: 'DELETE' });
  loadRegistrations(true);
}

function fmtTime(s) { return new Date(s).toLocaleTimeString(); }

async function loadCalls() {
  const q = $('c-q').value.trim();
  const d = await getJSON('/api/calls/recent?limit=200' + (q ? '&q=' + encodeURIComponent(q) : ''));
  const tb = $('c-table').tBodies[0];
  tb.replaceChildren(...d.calls.map((c) => el('tr', { class: 'clickable', 'data-callid': c.call_id, 'data-method': c.method, onclick: () => { location.hash = '#/call/' + encodeURIComponent(c.call_id); } },
    el('td', {}, fmtTime(c.first)), el('td', {}, c.method), el('td', {}, c.from), el('td', {}, c.to),
    el('td', {}, c.status || '…'), el('td', {}, c.messages), el('td', {}, el('code', {}, c.call_id)))));
}

// ---- the ladder: one column per party, one arrow per message in time
// order, labelled with method or status and the offset from the first
// message; a retransmission is dashed and marked; a click shows the whole
// message.
async function loadCall(callID) {
  $('l-callid').textContent = callID;
  $('l-message').hidden = true;
  const d = await getJSON('/api/calls/' + encodeURIComponent(callID) + '/messages');
  const colW = 260, left = 90, top = 50, rowH = 34;
  const width = left + colW * Math.max(d.parties.length - 1, 1) + 120;
  const height = top + rowH * d.messages.length + 30;
  const s = svg('svg', { width, height, viewBox: `0 0 ${width} ${height}`, id: 'ladder-svg' });
  const defs = svg('defs');
  for (const [id, color] of [['head', '#0969da'], ['head-resp', '#1a7f37'], ['head-fail', '#b42318']]) {
    const m = svg('marker', { id, viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 8, markerHeight: 8, orient: 'auto-start-reverse' });
    m.append(svg('path', { d: 'M0,0 L10,5 L0,10 z', fill: color }));
    defs.append(m);
  }
  s.append(defs);
  const x = (i) => left + i * colW;
  d.parties.forEach((p, i) => {
    s.append(svg('text', { x: x(i), y: 20, 'text-anchor': 'middle', class: 'party', 'data-party': p }, p === 'parley' ? 'Parley' : p));
    s.append(svg('line', { x1: x(i), y1: 30, x2: x(i), y2: height - 10, class: 'lifeline' }));
  });
  d.messages.forEach((m, i) => {
    const y = top + i * rowH;
    const kind = m.status ? (m.status >= 400 ? 'failure' : 'response') : 'request';
    const g = svg('g', { class: 'arrow ' + kind + (m.retransmission ? ' retrans' : ''), 'data-index': m.index, 'data-label': m.label, 'data-retransmission': m.retransmission });
    const x1 = x(m.from), x2 = x(m.to);
    const head = kind === 'failure' ? 'head-fail' : kind === 'response' ? 'head-resp' : 'head';
    g.append(svg('line', { x1, y1: y, x2, y2: y, 'marker-end': `url(#${head})` }));
    g.append(svg('line', { x1, y1: y, x2, y2: y, class: 'hit' }));
    const label = m.label + (m.retransmission ? ' (retransmission)' : '');
    g.append(svg('text', { x: (x1 + x2) / 2, y: y - 6, 'text-anchor': 'middle' }, label));
    g.append(svg('text', { x: 6, y: y + 4, class: 'time' }, '+' + m.offset_ms.toFixed(1) + ' ms'));
    g.append(svg('title', {}, `${m.src} → ${m.dst} (${m.transport}) ${m.cseq}`));
    g.addEventListener('click', () => {
      s.querySelectorAll('.arrow.selected').forEach((a) => a.classList.remove('selected'));
      g.classList.add('selected');
      const pre = $('l-message');
      pre.textContent = `${m.direction} ${m.transport} ${m.src} → ${m.dst} at ${m.at}\n\n` + m.raw;
      pre.hidden = false;
    });
    s.append(g);
  });
  $('ladder').replaceChildren(s);
  $('l-pcap').onclick = () => downloadPcap(callID);
}

async function downloadPcap(callID) {
  const resp = await api('/api/calls/' + encodeURIComponent(callID) + '/pcap');
  const blob = await resp.blob();
  const url = URL.createObjectURL(blob);
  const a = el('a', { href: url, download: 'call-' + callID.replace(/[^A-Za-z0-9._-]/g, '_') + '.pcap' });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function cdrQuery(extra) {
  const q = new URLSearchParams({ limit: '500' });
  for (const [k, id] of [['user', 'cdr-user'], ['from', 'cdr-from'], ['to', 'cdr-to']]) {
    const v = $(id).value.trim();
    if (v) q.set(k, v);
  }
  if (extra) q.set('format', extra);
  return '/api/cdrs?' + q;
}

async function loadCDRs() {
  $('cdr-error').textContent = '';
  let d;
  try { d = await getJSON(cdrQuery()); } catch (e) { $('cdr-error').textContent = e.message; return; }
  const tb = $('cdr-table').tBodies[0];
  tb.replaceChildren(...d.cdrs.slice().reverse().map((c) => el('tr', { 'data-id': c.id },
    el('td', {}, new Date(c.start).toLocaleString()), el('td', {}, c.caller), el('td', {}, c.callee), el('td', {}, c.dialled),
    el('td', {}, c.disposition), el('td', {}, c.duration_seconds.toFixed(0)),
    el('td', {}, c.cause_code ? c.cause_code + ' ' + (c.cause_reason || '') : ''))));
  if (!tb.children.length) tb.append(el('tr', {}, el('td', { colspan: 7, class: 'muted' }, 'no calls recorded (the PBX writes them)')));
}

async function downloadCDRs() {
  const resp = await api(cdrQuery('csv'));
  const url = URL.createObjectURL(await resp.blob());
  const a = el('a', { href: url, download: 'cdrs.csv' });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

async function loadUsers() {
  const d = await getJSON('/api/users');
  const tb = $('u-table').tBodies[0];
  tb.replaceChildren(...d.users.map((u) => el('tr', { 'data-user': u.name }, el('td', {}, u.name), el('td', {}, u.source),
    el('td', {}, u.source === 'api'
      ? el('span', {}, el('button', { type: 'button', onclick: () => changePassword(u.name) }, 'Change password'), ' ',
        el('button', { type: 'button', onclick: () => removeUser(u.name) }, 'Remove'))
      : 'edit the config file'))));
}

async function addUser(ev) {
  ev.preventDefault();
  $('u-error').textContent = '';
  try {
    await api('/api/users', { method: 'POST', body: JSON.stringify({ name: $('u-name').value.trim(), password: $('u-password').value }) });
    $('u-name').value = ''; $('u-password').value = '';
    loadUsers();
  } catch (e) { $('u-error').textContent = e.message; }
}

async function changePassword(name) {
  const pw = window.prompt('New password for ' + name + ' (8 characters or more)');
  if (pw === null) return;
  $('u-error').textContent = '';
  try {
    await api('/api/users/' + encodeURIComponent(name), { method: 'PUT', body: JSON.stringify({ password: pw }) });
  } catch (e) { $('u-error').textContent = e.message; }
}

async function removeUser(name) {
  await api('/api/users/' + encodeURIComponent(name), { method: 'DELETE' });
  loadUsers();
}

window.addEventListener('DOMContentLoaded', () => {
  $('login-form').addEventListener('submit', login);
  $('logout').addEventListener('click', logout);
  $('r-filter').addEventListener('submit', (ev) => { ev.preventDefault(); loadRegistrations(true).catch(showError); });
  $('r-more').addEventListener('click', () => loadRegistrations(false).catch(showError));
  $('c-filter').addEventListener('submit', (ev) => { ev.preventDefault(); loadCalls().catch(showError); });
  $('u-add').addEventListener('submit', addUser);
  $('cdr-filter').addEventListener('submit', (ev) => { ev.preventDefault(); loadCDRs().catch(showError); });
  $('cdr-csv').addEventListener('click', () => downloadCDRs().catch((e) => { $('cdr-error').textContent = e.message; }));
  window.addEventListener('hashchange', route);
  if (token) {
    getJSON('/api/status').then(() => { $('nav').hidden = false; startEvents(); route(); }).catch(() => {});
  } else {
    showLogin();
  }
});
