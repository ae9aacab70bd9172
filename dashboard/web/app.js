// Blotter's live page: filters kept in the URL, panels filled from /api/v1/, updates pushed over
// /events (server-sent events). Every count shown carries its raw number in data-value; each
// city's total is [data-metric="incidents"][data-city="<city>"].
import uPlot from 'uplot';
import { geoMercator, geoPath } from 'd3-geo';

/* global __OUTLINES__ */
const OUTLINES = __OUTLINES__;
const CATEGORIES = ['homicide', 'sex_offense', 'assault', 'robbery', 'burglary', 'theft',
  'motor_vehicle_theft', 'arson', 'vandalism', 'fraud', 'drugs', 'weapons', 'public_order', 'other'];
const AGAINST_COLORS = { person: '#c0392b', property: '#1f6fb2', society: '#2e8540', other: '#6b7280' };
const RANGES = {
  '24h': { hours: 24, bucket: 'hour', label: '24 hours' },
  '7d': { hours: 168, bucket: 'hour', label: '7 days' },
  '30d': { hours: 720, bucket: 'day', label: '30 days' },
  '90d': { hours: 2160, bucket: 'day', label: '90 days' },
  '1y': { hours: 8760, bucket: 'week', label: '12 months' },
  all: { hours: null, bucket: 'month', label: 'all time' },
};
const WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
const REFRESH_MIN_MS = 2000; // at most one refresh of the panels every 2 s while events pour in
const HEAVY_MIN_MS = 15000; // map, records and comparison: every 15 s at most

const $ = (id) => document.getElementById(id);
const nf = new Intl.NumberFormat('en-US');
const state = { city: '', cat: '', range: '30d' };
let summary = null;
let titles = {};

// ---- small DOM helpers (text only: source data never becomes markup) ----
function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) if (k !== null && k !== undefined) e.append(k);
  return e;
}
function count(n, attrs = {}) {
  return el('span', { 'data-value': String(n), text: nf.format(n), ...attrs });
}
function pct(x) {
  return `${(x * 100).toFixed(x >= 0.1 ? 0 : 1)}%`;
}
function fill(id, ...kids) {
  const box = $(id);
  box.replaceChildren(...kids);
  return box;
}
function cityTitle(c) {
  return titles[c] || c;
}
function label(key) {
  if (key === '') return '(unknown)';
  return key.replaceAll('_', ' ');
}

// ---- state in the URL ----
function readUrl() {
  const q = new URLSearchParams(location.search);
  state.city = q.get('city') || '';
  state.cat = CATEGORIES.includes(q.get('cat')) ? q.get('cat') : '';
  state.range = RANGES[q.get('range')] ? q.get('range') : '30d';
}
function writeUrl() {
  const q = new URLSearchParams();
  if (state.city) q.set('city', state.city);
  if (state.cat) q.set('cat', state.cat);
  if (state.range !== '30d') q.set('range', state.range);
  const s = q.toString();
  history.replaceState(null, '', s ? `?${s}` : location.pathname);
  document.title = `Blotter — ${state.city ? cityTitle(state.city) : 'all cities'}`;
}

// The time range as API parameters (instants, whole minutes so that URLs repeat).
function rangeParams(everyCity = false) {
  const r = RANGES[state.range];
  const now = new Date(Math.ceil(Date.now() / 60000) * 60000);
  const p = { to: now.toISOString().replace('.000Z', 'Z') };
  if (r.hours) {
    p.from = new Date(now.getTime() - r.hours * 3600000).toISOString().replace('.000Z', 'Z');
  } else if (summary) {
    const olds = summary.cities.filter((c) => everyCity || !state.city || c.city === state.city)
      .map((c) => c.oldest_occurred_at).filter(Boolean).sort();
    p.from = olds.length ? olds[0] : '2000-01-01T00:00:00Z';
  }
  return p;
}

async function api(path, params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  const url = `/api/v1/${path}${q.toString() ? `?${q}` : ''}`;
  const res = await fetch(url, { headers: { Accept: 'application/json' } });
  if (!res.ok) {
    let why = res.statusText;
    try { why = (await res.json()).error; } catch (e) { /* keep the status text */ }
    throw new Error(`${path}: ${why}`);
  }
  return res.json();
}

// ---- panels ----
function renderCities() {
  const box = $('cities');
  const now = Date.now();
  const cards = summary.cities.map((c) => {
    const ago = c.last_write_at ? Math.max(0, Math.round((now - Date.parse(c.last_write_at)) / 1000)) : null;
    const newest = c.newest_occurred_at
      ? new Date(c.newest_occurred_at).toLocaleString('en-US', { timeZone: c.time_zone, dateStyle: 'medium', timeStyle: 'short' })
      : '—';
    const card = el('button', {
      type: 'button', class: 'card', 'aria-pressed': String(state.city === c.city),
      'data-city-card': c.city,
      onclick: () => setFilter('city', state.city === c.city ? '' : c.city),
    },
    el('span', { class: 'name', text: c.title || c.city }),
    count(c.incidents, { class: 'big', 'data-metric': 'incidents', 'data-city': c.city, 'aria-label': `${nf.format(c.incidents)} incidents` }),
    el('span', { class: 'meta' }, 'last 24 h ', count(c.last_24h, { 'data-metric': 'last_24h', 'data-city': c.city }),
      ' · 7 d ', count(c.last_7d, { 'data-metric': 'last_7d', 'data-city': c.city })),
    el('br'),
    el('span', { class: 'meta', text: `newest ${newest}${ago !== null ? ` · written ${ago < 120 ? `${ago} s` : `${Math.round(ago / 60)} min`} ago` : ''}` }));
    const old = box.querySelector(`[data-city-card="${CSS.escape(c.city)}"] [data-metric="incidents"]`);
    if (old && old.dataset.value !== String(c.incidents)) card.classList.add('flash');
    return card;
  });
  box.replaceChildren(...cards);
  $('asof').textContent = `Generated ${new Date(summary.generated_at).toLocaleTimeString('en-US')}.`;
}

let trendPlot = null;
function renderTrend(t) {
  const xs = [];
  const ys = [];
  for (const p of t.points) {
    // Labels are local wall times; shown as they are (the chart's clock is UTC).
    const iso = p.t.length === 4 ? `${p.t}-01-01` : p.t.length === 7 ? `${p.t}-01` : p.t;
    xs.push(Date.parse(iso.length === 10 ? `${iso}T00:00:00Z` : `${iso}:00Z`) / 1000);
    ys.push(p.incidents);
  }
  const box = $('trend-chart');
  const width = Math.max(300, box.clientWidth || 800);
  const opts = {
    width, height: 260,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
    legend: { show: false },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true } },
    axes: [{ stroke: '#4f5661' }, { stroke: '#4f5661', size: 60 }],
    series: [{}, { label: 'Incidents', stroke: '#0b5cad', width: 2, fill: 'rgba(11,92,173,0.12)' }],
  };
  if (trendPlot) trendPlot.destroy();
  box.replaceChildren();
  trendPlot = new uPlot(opts, [xs, ys], box);
  const r = RANGES[state.range];
  const change = t.previous_total > 0 ? (t.total - t.previous_total) / t.previous_total : null;
  const parts = [count(t.total, { 'data-metric': 'trend_total' }), ` incidents in ${r.label} (by ${t.bucket})`];
  if (change !== null && r.hours) {
    parts.push(`, ${change >= 0 ? '+' : ''}${(change * 100).toFixed(1)}% against the ${r.label} before (`,
      count(t.previous_total, { 'data-metric': 'trend_previous' }), ')');
  }
  fill('trend-change', ...parts);
  box.setAttribute('aria-label', `Incidents per ${t.bucket}, ${state.city ? cityTitle(state.city) : 'all cities'}: ${nf.format(t.total)} in total; the table below has every value`);
  const rows = t.points.map((p) => el('tr', {}, el('td', { text: p.t }), el('td', { class: 'n' }, count(p.incidents))));
  fill('trend-table', el('table', {}, el('caption', { class: 'sr-only', text: 'Incidents per period' }),
    el('thead', {}, el('tr', {}, el('th', { scope: 'col', text: t.bucket }), el('th', { scope: 'col', class: 'n', text: 'incidents' }))),
    el('tbody', {}, ...rows)));
}

function renderBars(id, data, caption, clickable) {
  const max = data.rows.reduce((m, r) => Math.max(m, r.incidents), 0) || 1;
  const rows = data.rows.map((r) => {
    const name = label(r.key);
    const key = clickable
      ? el('button', { type: 'button', text: name, title: `Show only ${name}`, onclick: () => setFilter('cat', state.cat === r.key ? '' : r.key) })
      : name;
    const bar = el('div', { class: 'bar' });
    bar.style.width = `${(100 * r.incidents) / max}%`;
    if (id === 't-against' && AGAINST_COLORS[r.key]) bar.style.background = AGAINST_COLORS[r.key];
    return el('tr', {}, el('td', { class: 'key' }, key), el('td', { class: 'barcell', 'aria-hidden': 'true' }, bar),
      el('td', { class: 'n' }, count(r.incidents)),
      el('td', { class: 'n', text: data.total ? pct(r.incidents / data.total) : '—' }));
  });
  if (!rows.length) rows.push(el('tr', {}, el('td', { colspan: '4', class: 'note', text: 'No incidents in this range.' })));
  fill(id, el('table', { class: 'bars' }, el('caption', { class: 'sr-only', text: caption }),
    el('thead', {}, el('tr', {}, el('th', { scope: 'col', text: 'name' }), el('th', { scope: 'col', 'aria-hidden': 'true' }),
      el('th', { scope: 'col', class: 'n', text: 'incidents' }), el('th', { scope: 'col', class: 'n', text: 'share' }))),
    el('tbody', {}, ...rows),
    el('tfoot', {}, el('tr', {}, el('th', { scope: 'row', text: `total (${nf.format(data.keys)} kinds)` }), el('td'),
      el('td', { class: 'n' }, count(data.total)), el('td')))));
}

function heatColor(x) {
  // White to deep blue; text stays readable because the cells carry no text.
  const a = [247, 251, 255];
  const b = [8, 48, 107];
  const c = a.map((v, i) => Math.round(v + (b[i] - v) * x));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}
function renderHeatmap(h) {
  const max = h.cells.reduce((m, c) => Math.max(m, c.incidents), 0) || 1;
  const head = el('tr', {}, el('td'), ...Array.from({ length: 24 }, (_, i) => el('th', { scope: 'col', text: String(i) })));
  const body = WEEKDAYS.map((d, w) => {
    const cells = h.cells.filter((c) => c.weekday === w + 1).map((c) => {
      const td = el('td', { 'data-value': String(c.incidents), title: `${d} ${c.hour}:00 — ${nf.format(c.incidents)} incidents` },
        el('span', { class: 'sr-only', text: `${d} ${c.hour}:00: ${nf.format(c.incidents)}` }));
      td.style.background = heatColor(Math.sqrt(c.incidents / max));
      return td;
    });
    return el('tr', {}, el('th', { scope: 'row', class: 'wd', text: d }), ...cells);
  });
  let peak = h.cells[0];
  for (const c of h.cells) if (c.incidents > peak.incidents) peak = c;
  fill('heatmap', el('table', { class: 'heat' }, el('caption', { class: 'note', text: `Busiest: ${WEEKDAYS[peak.weekday - 1]} ${peak.hour}:00 (${nf.format(peak.incidents)} of ${nf.format(h.total)})` }),
    el('thead', {}, head), el('tbody', {}, ...body)));
}

function drawMap(canvas, city, rows) {
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 300;
  const hgt = canvas.clientHeight || 240;
  canvas.width = w * ratio;
  canvas.height = hgt * ratio;
  const ctx = canvas.getContext('2d');
  ctx.scale(ratio, ratio);
  const c = summary.cities.find((x) => x.city === city);
  let extent = null;
  if (c && c.bbox) {
    const [la0, lo0, la1, lo1] = c.bbox;
    extent = { type: 'MultiPoint', coordinates: [[lo0, la0], [lo1, la1]] };
  } else if (rows.length) {
    const lats = rows.map((r) => r.latitude);
    const lons = rows.map((r) => r.longitude);
    extent = { type: 'MultiPoint', coordinates: [[Math.min(...lons), Math.min(...lats)], [Math.max(...lons), Math.max(...lats)]] };
  }
  if (!extent) return;
  const proj = geoMercator().fitExtent([[8, 8], [w - 8, hgt - 8]], extent);
  const path = geoPath(proj, ctx);
  if (OUTLINES[city]) {
    ctx.beginPath();
    path(OUTLINES[city]);
    ctx.fillStyle = '#ffffff';
    ctx.fill();
    ctx.strokeStyle = '#9aa5b1';
    ctx.lineWidth = 1;
    ctx.stroke();
  }
  for (const r of rows) {
    const [x, y] = proj([r.longitude, r.latitude]);
    ctx.beginPath();
    ctx.arc(x, y, 2.2, 0, 2 * Math.PI);
    ctx.fillStyle = AGAINST_COLORS[r.crime_against] || AGAINST_COLORS.other;
    ctx.globalAlpha = 0.7;
    ctx.fill();
  }
  ctx.globalAlpha = 1;
}

async function renderMaps(rp) {
  const cities = state.city ? [state.city] : summary.cities.map((c) => c.city);
  const per = state.city ? 1500 : 400;
  const lists = await Promise.all(cities.map((c) => api('incidents', { city: c, category: state.cat, from: rp.from, to: rp.to, limit: per })));
  const box = $('map');
  box.className = state.city ? 'maps single' : 'maps';
  const figs = cities.map((c, i) => {
    const rows = lists[i].rows.filter((r) => r.latitude !== null && r.longitude !== null);
    const canvas = el('canvas', { role: 'img', 'aria-label': `Map of the ${rows.length} most recent incidents with coordinates in ${cityTitle(c)}` });
    return { fig: el('figure', {}, el('figcaption', {}, `${cityTitle(c)} · `, count(rows.length), ' shown'), canvas), canvas, c, rows };
  });
  box.replaceChildren(...figs.map((f) => f.fig));
  for (const f of figs) drawMap(f.canvas, f.c, f.rows);
  fill('map-legend', 'Dots are incidents, by who the crime was against:',
    ...Object.entries(AGAINST_COLORS).flatMap(([k, v]) => {
      const sw = el('span', { class: 'sw', 'aria-hidden': 'true' });
      sw.style.background = v;
      return [sw, k];
    }), '. Outlines: Census county boundaries. No map tiles: it works offline.');
}

function renderCompare(cmp) {
  const cities = cmp.cities;
  const head = el('tr', {}, el('th', { scope: 'col', text: 'category' }), ...cities.map((c) => el('th', { scope: 'col', class: 'n', text: cityTitle(c.city) })));
  const body = cmp.categories.map((cat) => {
    const shares = cities.map((c) => c.categories[cat].share);
    const top = Math.max(...shares);
    return el('tr', {}, el('th', { scope: 'row', text: label(cat) }), ...cities.map((c) => {
      const v = c.categories[cat];
      return el('td', { class: `n${v.share === top && top > 0 ? ' top' : ''}`, 'data-value': String(v.incidents), title: `${nf.format(v.incidents)} incidents` }, pct(v.share));
    }));
  });
  const total = el('tr', {}, el('th', { scope: 'row', text: 'incidents' }), ...cities.map((c) => el('td', { class: 'n' }, count(c.total))));
  fill('compare', el('table', { class: 'compare' }, el('caption', { class: 'sr-only', text: 'Share of each category in each city' }),
    el('thead', {}, head), el('tbody', {}, ...body), el('tfoot', {}, total)));
}

function peak(points) {
  let best = null;
  for (const p of points) if (!best || p.incidents > best.incidents) best = p;
  return best;
}
async function renderRecords(rp) {
  const base = { city: state.city, category: state.cat };
  const all = rangeParams();
  const first = summary.cities.filter((c) => !state.city || c.city === state.city).map((c) => c.oldest_occurred_at).filter(Boolean).sort()[0];
  const [day, month, year] = await Promise.all([
    api('trend', { ...base, bucket: 'day', from: rp.from, to: rp.to }),
    api('trend', { ...base, bucket: 'month', from: first, to: all.to }),
    api('trend', { ...base, bucket: 'year', from: first, to: all.to }),
  ]);
  const rows = [['Busiest day', day.points, ` (in ${RANGES[state.range].label})`], ['Busiest month', month.points, ' (all time)'], ['Busiest year', year.points, ' (all time)']];
  fill('records', ...rows.flatMap(([name, pts, note]) => {
    const p = peak(pts);
    return [el('dt', { text: name + note }), el('dd', {}, p && p.incidents ? `${p.t} — ` : '—', p && p.incidents ? count(p.incidents) : '')];
  }));
}

function renderLatest(list) {
  const rows = list.rows.map((r) => el('tr', {},
    el('td', { text: r.occurred_local.replace('T', ' ') }), el('td', { text: cityTitle(r.city) }),
    el('td', { text: label(r.category) }), el('td', { text: r.offense || '' }),
    el('td', { text: r.area || '' }), el('td', { text: r.address || '' })));
  fill('latest', el('table', {}, el('caption', { class: 'sr-only', text: 'The latest incidents' }),
    el('thead', {}, el('tr', {}, ...['local time', 'city', 'category', 'offense', 'area', 'address'].map((t) => el('th', { scope: 'col', text: t })))),
    el('tbody', {}, ...rows)));
}

// ---- refresh ----
let lastHeavy = 0;
async function refresh(heavyToo) {
  summary = await api('summary');
  titles = Object.fromEntries(summary.cities.map((c) => [c.city, c.title || c.city]));
  syncCitySelect();
  renderCities();
  const rp = rangeParams();
  const base = { city: state.city, category: state.cat, from: rp.from, to: rp.to };
  const [trend, cat, against, offense, area, heat, latest] = await Promise.all([
    api('trend', { ...base, bucket: RANGES[state.range].bucket }),
    api('breakdown', { ...base, by: 'category', limit: 14 }),
    api('breakdown', { ...base, by: 'crime_against', limit: 4 }),
    api('breakdown', { ...base, by: 'offense', limit: 10 }),
    api('breakdown', { ...base, by: 'area', limit: 10 }),
    api('heatmap', base),
    api('incidents', { ...base, limit: 15 }),
  ]);
  renderTrend(trend);
  renderBars('t-category', cat, 'Incidents by category', true);
  renderBars('t-against', against, 'Incidents by who the crime was against', false);
  renderBars('t-offense', offense, 'The most frequent offenses', false);
  renderBars('t-area', area, 'The areas with the most incidents', false);
  renderHeatmap(heat);
  renderLatest(latest);
  const csv = new URLSearchParams(Object.entries({ city: state.city, category: state.cat, from: rp.from, to: rp.to }).filter(([, v]) => v));
  $('csv').href = `/api/v1/incidents.csv?${csv}`;
  if (heavyToo || Date.now() - lastHeavy >= HEAVY_MIN_MS) {
    lastHeavy = Date.now();
    const [cmp] = await Promise.all([api('compare', rangeParams(true)), renderMaps(rp), renderRecords(rp)]);
    renderCompare(cmp);
  }
  document.body.dataset.refreshed = String(Date.now());
}

let running = null;
let pending = false;
let lastRun = 0;
let heavyPending = false;
function scheduleRefresh(heavy) {
  heavyPending = heavyPending || heavy;
  if (running) { pending = true; return; }
  const wait = Math.max(0, lastRun + REFRESH_MIN_MS - Date.now());
  pending = false;
  running = new Promise((r) => { setTimeout(r, wait); })
    .then(() => { lastRun = Date.now(); const h = heavyPending; heavyPending = false; return refresh(h); })
    .catch((e) => showError(e))
    .finally(() => { running = null; if (pending) scheduleRefresh(false); });
}
function showError(e) {
  fill('live-text', el('span', { class: 'err', text: `Could not load: ${e.message}` }));
}

function syncCitySelect() {
  const sel = $('f-city');
  const want = ['', ...summary.cities.map((c) => c.city)];
  const have = Array.from(sel.options).map((o) => o.value);
  if (want.join() !== have.join()) {
    sel.replaceChildren(el('option', { value: '', text: 'All cities' }),
      ...summary.cities.map((c) => el('option', { value: c.city, text: c.title || c.city })));
  }
  sel.value = state.city;
}

function setFilter(key, value) {
  state[key] = value;
  $('f-city').value = state.city;
  $('f-cat').value = state.cat;
  $('f-range').value = state.range;
  writeUrl();
  scheduleRefresh(true);
}

// ---- the live feed ----
function ticker(ev) {
  const list = $('ticker');
  const at = new Date(ev.received_at).toLocaleTimeString('en-US', { hour12: false });
  for (const [city, c] of Object.entries(ev.cities)) {
    list.prepend(el('li', {}, el('time', { datetime: ev.received_at, text: at }), `${cityTitle(city)}: `,
      count(c.inserted, { 'data-metric': 'ticker_inserted' }), ' new, ', count(c.updated, { 'data-metric': 'ticker_updated' }), ' updated'));
  }
  while (list.children.length > 40) list.lastChild.remove();
}
function connect() {
  const es = new EventSource('/events');
  const live = $('live');
  es.onopen = () => { live.className = 'live on'; $('live-text').textContent = 'Live: updates as batches commit'; };
  es.onerror = () => { live.className = 'live off'; $('live-text').textContent = 'Reconnecting to the live feed…'; };
  es.addEventListener('incidents', (m) => {
    const ev = JSON.parse(m.data);
    ticker(ev);
    if (!state.city || ev.cities[state.city]) scheduleRefresh(false);
  });
  es.addEventListener('resync', () => scheduleRefresh(true));
}

function init() {
  readUrl();
  const cat = $('f-cat');
  cat.append(...CATEGORIES.map((c) => el('option', { value: c, text: label(c) })));
  $('f-city').addEventListener('change', (e) => setFilter('city', e.target.value));
  cat.addEventListener('change', (e) => setFilter('cat', e.target.value));
  $('f-range').addEventListener('change', (e) => setFilter('range', e.target.value));
  $('f-cat').value = state.cat;
  $('f-range').value = state.range;
  writeUrl();
  scheduleRefresh(true);
  connect();
  let resizeTimer = 0;
  window.addEventListener('resize', () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(() => scheduleRefresh(true), 300); });
}
init();
