// The dashboard page: one poll for the whole fleet (GET /api/fleet, the collectors of
// `aerie status`), drawn as the map and the table; the selected vehicle's details, replay
// and commands.
import { FleetMap } from './map.js';
import { Replay, fmtTime } from './replay.js';
import { Commands } from './commands.js';

const TRACK_POINTS = 60;
const $ = (id) => document.getElementById(id);

const state = {
  vehicles: [],
  byVid: new Map(),
  tracks: new Map(), // vid -> [[lat, lon], ...]
  trackTimes: new Map(), // vid -> position_time last appended
  staleMs: 30000,
  selected: null,
  rows: new Map(), // vid -> tr
};

const map = new FleetMap($('map'), select);
const replay = new Replay(map, () => state.staleMs);
const commands = new Commands(() => state.selected);

function ago(t) {
  if (!t) return 'never';
  const s = (Date.now() - Date.parse(t)) / 1000;
  if (s < 60) return `${Math.max(0, Math.round(s))}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  return `${Math.round(s / 3600)}h ago`;
}

function posText(p) {
  if (!p) return '-';
  return `${p.lat.toFixed(6)}, ${p.lon.toFixed(6)}` + (p.alt != null ? ` · ${p.alt.toFixed(1)} m` : '');
}

function addTrackPoint(v) {
  if (!v.position || !v.position_time || state.trackTimes.get(v.vid) === v.position_time) return;
  state.trackTimes.set(v.vid, v.position_time);
  const t = state.tracks.get(v.vid) || [];
  t.push([v.position.lat, v.position.lon]);
  if (t.length > TRACK_POINTS) t.splice(0, t.length - TRACK_POINTS);
  state.tracks.set(v.vid, t);
}

function cells(v) {
  return [v.vid, v.state, ago(v.last_seen), v.backlog_msgs ?? '-',
          v.battery_pct != null ? `${Math.round(v.battery_pct)}%` : '-',
          (v.mode || '-') + (v.armed ? ' *' : ''), posText(v.position)];
}

function renderTable() {
  const tbody = $('rows');
  const seen = new Set();
  state.vehicles.forEach((v, i) => {
    seen.add(v.vid);
    let tr = state.rows.get(v.vid);
    if (!tr) {
      tr = document.createElement('tr');
      tr.dataset.vid = v.vid;
      for (let i = 0; i < 7; i++) tr.appendChild(document.createElement('td'));
      tr.cells[1].className = 'state';
      tr.addEventListener('click', () => select(v.vid));
      state.rows.set(v.vid, tr);
    }
    const c = cells(v);
    for (let i = 0; i < 7; i++) if (tr.cells[i].textContent !== String(c[i])) tr.cells[i].textContent = c[i];
    tr.cells[1].className = 'state ' + v.state;
    tr.classList.toggle('selected', v.vid === state.selected);
    // the poll's order (by vid); rows already in place are not moved
    if (tbody.children[i] !== tr) tbody.insertBefore(tr, tbody.children[i] || null);
  });
  for (const [vid, tr] of state.rows) if (!seen.has(vid)) { tr.remove(); state.rows.delete(vid); }
}

function renderDetail() {
  const v = state.byVid.get(state.selected);
  if (!v) return;
  const dl = $('detail-now');
  const rows = [['state', v.state], ['last seen', ago(v.last_seen)],
                ['battery', v.battery_pct != null ? `${Math.round(v.battery_pct)}%` : '-'],
                ['mode', (v.mode || '-') + (v.armed ? ' (armed)' : '')],
                ['autopilot', v.autopilot || '-'], ['position', posText(v.position)],
                ['position time', v.position_time ? fmtTime(Date.parse(v.position_time)) : '-'],
                ['backlog', v.backlog_msgs ?? '-']];
  dl.replaceChildren(...rows.flatMap(([k, val]) => {
    const dt = document.createElement('dt'), dd = document.createElement('dd');
    dt.textContent = k; dd.textContent = val;
    return [dt, dd];
  }));
}

function select(vid) {
  if (vid === state.selected) return;
  state.selected = vid;
  $('detail-title').textContent = vid;
  $('detail-body').hidden = false;
  $('cmd-result').textContent = '';
  map.select(vid);
  renderTable();
  renderDetail();
  replay.load(vid, '10m').catch((e) => { $('replay-at').textContent = e.message; });
  commands.refreshPending(vid);
}

let first = true;
let lastPoll = 0;
async function poll() {
  const t0 = performance.now();
  try {
    const r = await fetch(first ? '/api/fleet?tracks=1' : '/api/fleet');
    const f = await r.json();
    if (!r.ok) throw new Error(f.error || `HTTP ${r.status}`);
    $('error').textContent = r.headers.get('Aerie-Note') || '';
    if (first && f.tracks) for (const [vid, t] of Object.entries(f.tracks)) state.tracks.set(vid, t);
    first = false;
    state.staleMs = (f.stale_s || 30) * 1000;
    state.vehicles = f.vehicles;
    state.byVid = new Map(f.vehicles.map((v) => [v.vid, v]));
    for (const v of f.vehicles) addTrackPoint(v);
    const counts = {};
    for (const v of f.vehicles) counts[v.state] = (counts[v.state] || 0) + 1;
    $('summary').textContent = `${f.env}: ${f.vehicles.length} vehicles, ` +
      ['online', 'draining', 'stale', 'offline'].filter((s) => counts[s]).map((s) => `${counts[s]} ${s}`).join(', ') +
      ` · updated ${new Date().toLocaleTimeString()}`;
    const r0 = performance.now();
    map.update(f.vehicles, state.tracks);
    renderTable();
    renderDetail();
    // what a poll cost the page, for bench/dash_page.mjs and anyone curious
    $('map').dataset.renderMs = (performance.now() - r0).toFixed(1);
    $('map').dataset.pollMs = (r0 - t0).toFixed(1);
    $('map').dataset.polls = String(Number($('map').dataset.polls || 0) + 1);
  } catch (e) {
    $('error').textContent = `poll failed: ${e.message}`;
  }
  lastPoll = performance.now() - t0;
  // At least once a second, and never more than a third of the time spent polling.
  setTimeout(poll, Math.max(1000, 3 * lastPoll));
}

setInterval(() => { if (state.selected) commands.refreshPending(state.selected); }, 5000);
poll();
