// Replay of the selected vehicle: a time slider over the hub's history of that vehicle by
// event time (GET /api/history/VID, which walks the same replay code as `aerie replay`).
// Moving the slider puts the vehicle's marker where the history says it was at that instant,
// coloured by its state then; play advances the slider at the chosen speed.

const MAV_RESULT = ['ACCEPTED', 'TEMPORARILY_REJECTED', 'DENIED', 'UNSUPPORTED', 'FAILED',
                    'IN_PROGRESS', 'CANCELLED'];
export { MAV_RESULT };

// The index of the last entry whose time (entry[0]) is <= t, or -1.
function lastAtOrBefore(arr, t) {
  let lo = 0, hi = arr.length - 1, ans = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (arr[mid][0] <= t) { ans = mid; lo = mid + 1; } else hi = mid - 1;
  }
  return ans;
}

export function fmtTime(ms) {
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
}

export class Replay {
  constructor(map, getStaleMs) {
    this.map = map;
    this.getStaleMs = getStaleMs;
    this.slider = document.getElementById('replay');
    this.playBtn = document.getElementById('replay-play');
    this.liveBtn = document.getElementById('replay-live');
    this.speed = document.getElementById('replay-speed');
    this.atText = document.getElementById('replay-at');
    this.rangeText = document.getElementById('replay-range');
    this.vid = null;
    this.hist = null;
    this.timer = null;
    this.slider.addEventListener('input', () => this.show(this.t0 + Number(this.slider.value)));
    this.playBtn.addEventListener('click', () => (this.timer ? this.pause() : this.play()));
    this.liveBtn.addEventListener('click', () => this.live());
  }

  // Loads the history of vid (the last `since`), and puts the slider at its end.
  async load(vid, since) {
    this.pause();
    this.vid = vid;
    this.hist = null;
    this.map.setReplay(null);
    this.map.setHistory([]);
    this.slider.disabled = true;
    this.playBtn.disabled = true;
    this.liveBtn.disabled = true;
    this.atText.textContent = 'loading history…';
    const r = await fetch(`/api/history/${encodeURIComponent(vid)}?since=${since}`);
    const h = await r.json();
    if (vid !== this.vid) return;
    if (!r.ok) { this.atText.textContent = h.error || `history: HTTP ${r.status}`; return; }
    this.hist = h;
    const pos = h.positions;
    if (pos.length === 0) { this.atText.textContent = 'no positions stored in this window'; return; }
    this.t0 = pos[0][0];
    this.t1 = pos[pos.length - 1][0];
    this.slider.min = '0';
    this.slider.max = String(this.t1 - this.t0);
    this.slider.dataset.t0 = String(this.t0); // the event time (ms) of the slider's 0
    this.slider.value = this.slider.max;
    this.slider.disabled = false;
    this.playBtn.disabled = false;
    this.rangeText.textContent =
      `${pos.length} positions, ${((this.t1 - this.t0) / 1000).toFixed(0)} s` +
      (h.truncated ? ' (truncated)' : '');
    this.map.setHistory(pos.map((p) => [p[1], p[2]]));
    this.atText.textContent = 'live — move the slider to replay';
  }

  // The vehicle's recorded state at event time t (ms).
  at(t) {
    const h = this.hist;
    const p = h.positions[lastAtOrBefore(h.positions, t)];
    const hb = h.heartbeats[lastAtOrBefore(h.heartbeats, t)];
    const ln = h.links[lastAtOrBefore(h.links, t)];
    const stale = this.getStaleMs();
    let state = 'online';
    if (ln ? !ln[1] || t - ln[0] > stale : t - p[0] > stale) state = 'offline';
    else if (ln && ln[3]) state = 'draining';
    else if (t - p[0] > stale) state = 'stale';
    return {
      time: new Date(p[0]).toISOString(), t: p[0], lat: p[1], lon: p[2], alt: p[3], state,
      mode: hb ? hb[1] : null, armed: hb ? hb[2] : null, backlog: ln ? ln[2] : null,
    };
  }

  show(t) {
    if (!this.hist) return;
    const s = this.at(t);
    this.map.setReplay({ vid: this.vid, lat: s.lat, lon: s.lon, state: s.state, time: s.time });
    this.liveBtn.disabled = false;
    this.atText.textContent = `${fmtTime(t)} UTC: ${s.state}, ${s.mode || '-'}` +
      `${s.armed ? ' (armed)' : ''}, ${s.lat.toFixed(6)}, ${s.lon.toFixed(6)}` +
      (s.alt != null ? `, alt ${s.alt.toFixed(1)} m` : '');
  }

  play() {
    if (!this.hist) return;
    if (Number(this.slider.value) >= Number(this.slider.max)) this.slider.value = '0';
    let last = performance.now();
    this.playBtn.textContent = 'Pause';
    this.timer = setInterval(() => {
      const now = performance.now();
      const v = Math.min(Number(this.slider.max),
                         Number(this.slider.value) + (now - last) * Number(this.speed.value));
      last = now;
      this.slider.value = String(Math.round(v));
      this.show(this.t0 + Math.round(v));
      if (v >= Number(this.slider.max)) this.pause();
    }, 100);
  }

  pause() {
    clearInterval(this.timer);
    this.timer = null;
    this.playBtn.textContent = 'Play';
  }

  live() {
    this.pause();
    this.map.setReplay(null);
    if (this.hist) this.slider.value = this.slider.max;
    this.liveBtn.disabled = true;
    this.atText.textContent = 'live — move the slider to replay';
  }
}
