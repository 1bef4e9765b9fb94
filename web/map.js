// The fleet map: an SVG drawing of the fleet's area, north up, scaled to fit, with no tiles.
//
// Positions are projected onto a local plane around the centre of the view (equirectangular:
// metres east = dlon * cos(lat0) * k, metres north = dlat * k), which is exact enough for
// the few kilometres a fleet's area spans. Markers, tracks and the scale bar all use that one
// projection, so the scale bar's metres per pixel hold for every distance on the map.
//
// The view is refitted only when a point leaves it (or the fleet shrinks to a small part of
// it), never on every poll, so that markers do not jump about; #map's data-fit counts the
// refits. Markers are kept per vehicle and only their attributes change: 1,000 vehicles cost
// 1,000 attribute updates per poll, not a rebuilt drawing.

const SVG = 'http://www.w3.org/2000/svg';
const M_PER_DEG = 6371008.8 * Math.PI / 180;
const MIN_SPAN_M = 200; // never zoom closer than this across the smaller side
const PAD_PX = 36;
const LABEL_LIMIT = 60; // above this many vehicles, no name labels

function el(name, attrs, parent) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

// A "nice" length (1, 2 or 5 times a power of ten) not above m.
function niceLength(m) {
  const p = Math.pow(10, Math.floor(Math.log10(m)));
  for (const f of [5, 2, 1]) if (f * p <= m) return f * p;
  return p;
}

export class FleetMap {
  constructor(svg, onSelect) {
    this.svg = svg;
    this.onSelect = onSelect;
    this.layers = {
      tracks: svg.querySelector('#tracks'),
      history: svg.querySelector('#history'),
      markers: svg.querySelector('#markers'),
    };
    this.items = new Map(); // vid -> {g, circle, label, track, v}
    this.view = null; // {lat0, lon0, cos0, s (px per m), w, h}
    this.fits = 0;
    this.selected = null;
    this.replay = null; // {vid, lat, lon, state, time}
    this.historyPts = [];
    this.historyLine = el('polyline', {}, this.layers.history);
    svg.addEventListener('click', (ev) => {
      const g = ev.target.closest('.veh');
      if (g) this.onSelect(g.dataset.vid);
    });
    new ResizeObserver(() => { this.view = null; this.redraw(); }).observe(svg);
  }

  // Screen coordinates of a position in the current view.
  project(lat, lon) {
    const v = this.view;
    const x = v.w / 2 + (lon - v.lon0) * v.cos0 * M_PER_DEG * v.s;
    const y = v.h / 2 - (lat - v.lat0) * M_PER_DEG * v.s;
    return [x, y];
  }

  // Every position the view must show: markers, tracks and the selected vehicle's history.
  points() {
    const pts = [];
    for (const it of this.items.values()) {
      if (it.v.position) pts.push([it.v.position.lat, it.v.position.lon]);
      for (const p of it.trackPts || []) pts.push(p);
    }
    for (const p of this.historyPts) pts.push(p);
    return pts;
  }

  fit(pts) {
    const w = this.svg.clientWidth || 800, h = this.svg.clientHeight || 460;
    let la0 = Infinity, la1 = -Infinity, lo0 = Infinity, lo1 = -Infinity;
    for (const [la, lo] of pts) {
      la0 = Math.min(la0, la); la1 = Math.max(la1, la);
      lo0 = Math.min(lo0, lo); lo1 = Math.max(lo1, lo);
    }
    const lat0 = (la0 + la1) / 2, lon0 = (lo0 + lo1) / 2;
    const cos0 = Math.cos(lat0 * Math.PI / 180);
    const wx = Math.max((lo1 - lo0) * cos0 * M_PER_DEG, 1);
    const wy = Math.max((la1 - la0) * M_PER_DEG, 1);
    // 20% spare around the fleet, so that small moves need no refit
    let s = Math.min((w - 2 * PAD_PX) / (wx * 1.2), (h - 2 * PAD_PX) / (wy * 1.2));
    s = Math.min(s, Math.min(w, h) / MIN_SPAN_M);
    this.view = { lat0, lon0, cos0, s, w, h };
    this.fits++;
    this.svg.dataset.fit = String(this.fits);
  }

  // Refits when a point is outside the view (less its padding) or all of them fill less
  // than a quarter of it.
  needsFit(pts) {
    if (!this.view) return true;
    const { w, h } = this.view;
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (const [la, lo] of pts) {
      const [x, y] = this.project(la, lo);
      if (x < PAD_PX / 2 || x > w - PAD_PX / 2 || y < PAD_PX / 2 || y > h - PAD_PX / 2) return true;
      x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
    }
    const small = (x1 - x0) < w / 4 && (y1 - y0) < h / 4;
    const zoomable = this.view.s < Math.min(w, h) / MIN_SPAN_M * 0.99;
    return small && zoomable;
  }

  // vehicles: the poll's objects; tracks: vid -> [[lat, lon], ...] (recent, oldest first).
  update(vehicles, tracks) {
    const seen = new Set();
    for (const v of vehicles) {
      seen.add(v.vid);
      let it = this.items.get(v.vid);
      if (!it) {
        const g = el('g', { class: 'veh', 'data-vid': v.vid }, this.layers.markers);
        const circle = el('circle', { r: vehicles.length > 200 ? 4 : 6 }, g);
        const title = el('title', {}, g);
        title.textContent = v.vid;
        const track = el('polyline', { 'data-vid': v.vid }, this.layers.tracks);
        it = { g, circle, track, label: null };
        this.items.set(v.vid, it);
      }
      it.v = v;
      it.trackPts = tracks.get(v.vid) || [];
    }
    for (const [vid, it] of this.items) {
      if (!seen.has(vid)) {
        it.g.remove(); it.track.remove();
        this.items.delete(vid);
      }
    }
    const labels = this.items.size <= LABEL_LIMIT;
    for (const [vid, it] of this.items) {
      if (labels && !it.label) {
        it.label = el('text', { x: 9, y: 4 }, it.g);
        it.label.textContent = vid;
      } else if (!labels && it.label) {
        it.label.remove(); it.label = null;
      }
    }
    this.redraw();
  }

  setHistory(pts) {
    this.historyPts = pts;
    this.redraw();
  }

  select(vid) {
    this.selected = vid;
    for (const [v, it] of this.items) it.g.classList.toggle('selected', v === vid);
    const it = this.items.get(vid);
    if (it) this.layers.markers.appendChild(it.g); // on top
  }

  // Shows vid at a replayed position instead of its live one; null returns to live.
  setReplay(r) {
    this.replay = r;
    this.redraw();
  }

  redraw() {
    const pts = this.points();
    if (pts.length === 0) return;
    if (this.needsFit(pts)) this.fit(pts);
    for (const [vid, it] of this.items) {
      const r = this.replay && this.replay.vid === vid ? this.replay : null;
      const p = r || it.v.position;
      const state = r ? r.state : it.v.state;
      it.g.setAttribute('class', 'veh ' + state + (vid === this.selected ? ' selected' : '') +
                        (r ? ' replay' : ''));
      if (p) {
        const [x, y] = this.project(p.lat, p.lon);
        it.g.setAttribute('transform', `translate(${x.toFixed(1)},${y.toFixed(1)})`);
        it.g.dataset.lat = String(p.lat);
        it.g.dataset.lon = String(p.lon);
        it.g.style.display = '';
      } else {
        it.g.style.display = 'none';
      }
      if (r) it.g.dataset.time = r.time; else delete it.g.dataset.time;
      it.track.setAttribute('points', it.trackPts.map(([la, lo]) =>
        this.project(la, lo).map((c) => c.toFixed(1)).join(',')).join(' '));
    }
    this.historyLine.setAttribute('points', this.historyPts.map(([la, lo]) =>
      this.project(la, lo).map((c) => c.toFixed(1)).join(',')).join(' '));
    this.drawOverlay();
  }

  drawOverlay() {
    const { w, h, s } = this.view;
    this.svg.querySelector('#north').setAttribute('transform', `translate(${w - 24},28)`);
    const meters = niceLength(160 / s), px = meters * s;
    const x = 16, y = h - 18;
    this.svg.querySelector('#scale-bar').setAttribute('d',
      `M${x},${y - 5} v5 h${px.toFixed(1)} v-5`);
    const label = this.svg.querySelector('#scale-label');
    label.setAttribute('x', (x + px / 2).toFixed(1));
    label.setAttribute('y', String(y - 8));
    label.textContent = meters >= 1000 ? `${meters / 1000} km` : `${meters} m`;
    const scale = this.svg.querySelector('#scale');
    scale.dataset.meters = String(meters);
    scale.dataset.px = px.toFixed(3);
  }
}
