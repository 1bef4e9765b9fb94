// The dashboard of a real fleet (`aerie up --vehicles 5`: a 3-node nats-server hub and five
// simulated drones, each with aerie-relay, aerie-leaf and aerie-gw) in Debian's headless
// Chromium. Every assertion is on what the browser rendered, checked against what the CLI
// (`aerie status`, `aerie replay`, `aerie cmd status`) says independently:
//   - the map has one marker per vehicle, at the scale its own scale bar states;
//   - the table lists every vehicle;
//   - moving the replay slider puts the selected vehicle's marker at the position
//     `aerie replay` gives for that instant, displaced on screen by the distance the scale
//     bar implies;
//   - a command sent from the page after its confirmation is answered by the vehicle
//     (COMMAND_ACK accepted) and is in the hub's command log and the audit trail;
//   - the HTTP checks: a login when required, loopback Host names only, JSON-only POSTs.
// Set AERIE_SCREENSHOT=FILE.png to keep a screenshot of the page (the README's).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { AERIE, Fleet, SCALE, enu, sleep, until } from '../lib/fleet.mjs';

const VEHICLES = ['VID-001', 'VID-002', 'VID-003', 'VID-004', 'VID-005'];
const CHROMIUM_FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                        '--disable-background-networking', '--disable-component-update',
                        '--disable-sync'];

const fleet = new Fleet();
let browser, page;

before(async () => {
  await fleet.up(5);
  // headless, with a fresh profile in a temporary user-data-dir (playwright makes one)
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_FLAGS,
    timeout: 60000 * SCALE,
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 980 } });
  page.setDefaultTimeout(20000 * SCALE);
  page.on('pageerror', (e) => { console.error('page error:', e.message); });
});

after(async () => {
  if (browser) await browser.close();
  const r = await fleet.down();
  if (r.code !== 0) console.error(`aerie down: ${r.err}`);
});

// The centre of a vehicle's marker on the screen.
async function markerCentre(vid) {
  const b = await page.locator(`#markers g.veh[data-vid="${vid}"] circle`).boundingBox();
  return { x: b.x + b.width / 2, y: b.y + b.height / 2 };
}

// Metres per screen pixel, from the scale bar's label and length.
async function metresPerPixel() {
  const s = page.locator('#scale');
  const m = Number(await s.getAttribute('data-meters'));
  const px = Number(await s.getAttribute('data-px'));
  assert.ok(m > 0 && px > 20, `a scale bar (${m} m over ${px} px)`);
  const label = await page.locator('#scale-label').textContent();
  assert.equal(label, m >= 1000 ? `${m / 1000} km` : `${m} m`);
  return m / px;
}

function assertDisplacement(a, b, pa, pb, mpp, what) {
  const d = enu(a, b);
  const want = { x: d.e / mpp, y: -d.n / mpp }; // north up: north is -y on screen
  const got = { x: pb.x - pa.x, y: pb.y - pa.y };
  const tol = Math.max(2, 0.05 * Math.hypot(want.x, want.y));
  assert.ok(Math.abs(got.x - want.x) <= tol && Math.abs(got.y - want.y) <= tol,
            `${what}: moved by (${got.x.toFixed(1)}, ${got.y.toFixed(1)}) px, the scale bar ` +
            `says (${want.x.toFixed(1)}, ${want.y.toFixed(1)}) for ${d.e.toFixed(1)} m east, ` +
            `${d.n.toFixed(1)} m north`);
}

test('the map shows every vehicle to scale, and the table lists them', async () => {
  await page.goto(fleet.url);
  await page.locator('#map').waitFor();
  await until('5 markers on the map', async () =>
    (await page.locator('#markers g.veh[data-vid]').count()) === 5);
  const status = await fleet.status();
  assert.deepEqual(status.map((v) => v.vid), VEHICLES);
  for (const vid of VEHICLES) {
    await page.locator(`#markers g.veh[data-vid="${vid}"]`).waitFor();
    const row = page.locator(`#rows tr[data-vid="${vid}"]`);
    assert.equal(await row.locator('td').first().textContent(), vid);
    const st = await row.locator('td.state').textContent();
    assert.ok(['online', 'stale', 'draining', 'offline'].includes(st), `state ${st}`);
  }
  // Every marker is drawn inside the map, coloured by a state.
  const box = await page.locator('#map').boundingBox();
  for (const vid of VEHICLES) {
    const c = await markerCentre(vid);
    assert.ok(c.x > box.x && c.x < box.x + box.width && c.y > box.y && c.y < box.y + box.height,
              `${vid}'s marker inside the map`);
    const cls = await page.locator(`#markers g.veh[data-vid="${vid}"]`).getAttribute('class');
    assert.match(cls, /\b(online|stale|draining|offline)\b/);
  }
  // The markers are where the vehicles are: each near its `aerie status` position, and the
  // distances between them on screen are what the scale bar says.
  const fit = await page.locator('#map').getAttribute('data-fit');
  const mpp = await metresPerPixel();
  const pos = {}, scr = {};
  for (const vid of VEHICLES) {
    const g = page.locator(`#markers g.veh[data-vid="${vid}"]`);
    pos[vid] = { lat: Number(await g.getAttribute('data-lat')),
                 lon: Number(await g.getAttribute('data-lon')) };
    scr[vid] = await markerCentre(vid);
    const s = status.find((v) => v.vid === vid).position;
    const d = enu(pos[vid], s);
    assert.ok(Math.hypot(d.e, d.n) < 150, `${vid} drawn within 150 m of where status has it`);
  }
  if (await page.locator('#map').getAttribute('data-fit') === fit) {
    for (const vid of VEHICLES.slice(1))
      assertDisplacement(pos['VID-001'], pos[vid], scr['VID-001'], scr[vid], mpp,
                         `VID-001 to ${vid}`);
  }
});

test('the replay slider moves the selected marker to the replayed position', async () => {
  // Let VID-002 fly a while, so that its history has places far apart.
  await until('VID-002 to have flown 40 m', async () => {
    const r = await fetch(new URL('/api/history/VID-002?since=10m', fleet.url));
    const h = await r.json();
    if (!r.ok || h.positions.length < 10) return false;
    const [, la, lo] = h.positions[0];
    return h.positions.some(([, a, o]) => {
      const d = enu({ lat: la, lon: lo }, { lat: a, lon: o });
      return Math.hypot(d.e, d.n) > 40;
    });
  }, 60000);
  await page.locator('#markers g.veh[data-vid="VID-002"] circle').click();
  await page.locator('#detail-title', { hasText: 'VID-002' }).waitFor();
  const slider = page.locator('input[type=range]#replay');
  await until('the replay slider to be loaded', async () => !(await slider.isDisabled()));
  const t0 = Number(await slider.getAttribute('data-t0'));
  const max = Number(await slider.getAttribute('max'));
  assert.ok(max > 5000, `a history of ${max} ms`);

  // What the CLI replays for the same window; two instants 40+ m apart.
  const cli = (await fleet.replayedPositions('VID-002', t0)).filter((p) => p.t <= t0 + max);
  assert.ok(cli.length >= 10, `aerie replay gave ${cli.length} positions`);
  assert.equal(cli[0].t, t0, 'the slider starts at the first replayed position');
  const a = cli[Math.floor(cli.length / 4)];
  const b = cli.reduce((best, p) => {
    const d = enu(a, p), db = enu(a, best);
    return Math.hypot(d.e, d.n) > Math.hypot(db.e, db.n) ? p : best;
  }, a);
  assert.ok(Math.hypot(enu(a, b).e, enu(a, b).n) > 30, 'two replayed places far apart');

  const marker = page.locator('#markers g.veh[data-vid="VID-002"]');
  const fit = await page.locator('#map').getAttribute('data-fit');
  const placed = {};
  for (const p of [a, b]) {
    await slider.fill(String(p.t - t0));
    await until(`the marker at the replayed time ${new Date(p.t).toISOString()}`, async () =>
      (await marker.getAttribute('data-time')) === new Date(p.t).toISOString());
    assert.match(await marker.getAttribute('class'), /\breplay\b/);
    assert.ok(Math.abs(Number(await marker.getAttribute('data-lat')) - p.lat) < 1e-9,
              'latitude as `aerie replay` has it');
    assert.ok(Math.abs(Number(await marker.getAttribute('data-lon')) - p.lon) < 1e-9,
              'longitude as `aerie replay` has it');
    placed[p.t] = await markerCentre('VID-002');
    assert.match(await page.locator('#replay-at').textContent(), /UTC: (online|stale|draining|offline)/);
  }
  if (await page.locator('#map').getAttribute('data-fit') === fit)
    assertDisplacement(a, b, placed[a.t], placed[b.t], await metresPerPixel(),
                       'the replayed marker');

  // Play moves the slider forward; pause stops it; "back to live" ends the replay.
  await slider.fill('0');
  await page.locator('#replay-play').click();
  await until('play to advance the slider', async () => Number(await slider.inputValue()) > 0);
  await page.locator('#replay-play').click();
  const paused = Number(await slider.inputValue());
  await sleep(400);
  assert.equal(Number(await slider.inputValue()), paused, 'paused');
  await page.locator('#replay-live').click();
  assert.doesNotMatch(await marker.getAttribute('class'), /\breplay\b/);
  if (process.env.AERIE_SCREENSHOT) {
    await slider.fill(String(Math.floor(max * 0.6)));
    await sleep(300);
    await page.screenshot({ path: process.env.AERIE_SCREENSHOT });
    await page.locator('#replay-live').click();
  }
});

test('a command from the page, confirmed, is answered by the vehicle and audited', async () => {
  await until('VID-001 to be airborne', async () => {
    const v = (await fleet.status()).find((x) => x.vid === 'VID-001');
    return v.position && v.position.alt > 5 && v.online;
  }, 60000);
  await page.locator('#rows tr[data-vid="VID-001"]').click();
  await page.locator('#detail-title', { hasText: 'VID-001' }).waitFor();
  const result = page.locator('#cmd-result');

  // Cancelled: nothing is sent.
  await page.locator('button.cmd[data-cmd="land"]').click();
  await page.locator('dialog#confirm[open]').waitFor();
  await page.locator('#confirm-no').click();
  await sleep(300);
  assert.equal(await result.textContent(), '', 'a cancelled command sends nothing');

  await page.locator('button.cmd[data-cmd="rtl"]').click();
  await page.locator('dialog#confirm[open]').waitFor();
  assert.match(await page.locator('#confirm-text').textContent(), /Return to launch.*VID-001/);
  await page.locator('#confirm-yes').click();
  await until('the command\'s outcome', async () => (await result.getAttribute('data-state')) != null,
              30000);
  const text = await result.textContent();
  assert.equal(await result.getAttribute('data-state'), 'accepted', text);
  assert.match(text, /COMMAND_ACK ACCEPTED/);
  const id = await result.getAttribute('data-id');
  assert.match(id, /^VID-001-[a-z2-9]{8}$/);

  // The hub's command log and the audit trail have it, as for `aerie cmd`.
  const st = await fleet.cli(['cmd', 'status', id, '--json']);
  assert.equal(st.code, 0, st.err);
  const cmd = JSON.parse(st.out);
  assert.equal(cmd.command, 'rtl');
  assert.equal(cmd.state, 'accepted');
  assert.match(cmd.actor, /dashboard/);
  const audit = readFileSync(join(fleet.dir, 'audit.log'), 'utf8').trim().split('\n')
    .map((l) => JSON.parse(l)).filter((e) => e.action === 'cmd' && e.details.id === id);
  assert.equal(audit.length, 1, 'one audit entry for the command');
  assert.equal(audit[0].details.via, 'dashboard');
  assert.equal(audit[0].result, 'ok');
  // The pending list is read from ae_cmdlog_pending: an answered command leaves it once the
  // vehicle's final report is stored on the hub (the page polls; over a websocket uplink the
  // report may wait for a frame to fill, up to ws_frame_wait).
  await until('the pending list to be drawn', async () =>
    (await page.locator('#pending li').count()) > 0);
  await until('the answered command to leave the pending list', async () =>
    (await page.locator(`#pending li[data-id="${id}"]`).count()) === 0, 15000);
});

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
    s.on('error', reject);
  });
}

test('a login is required when asked for, only loopback Host names, JSON-only POSTs', async () => {
  // The fleet's own dashboard: loopback, no login; but a foreign Host and a form POST fail.
  // (fetch() will not send a Host of one's choosing; a browser after DNS rebinding would)
  const rebound = await new Promise((resolve, reject) => {
    const u = new URL('/api/fleet', fleet.url);
    request({ host: u.hostname, port: u.port, path: u.pathname,
              headers: { Host: `attacker.example:${u.port}` } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    }).on('error', reject).end();
  });
  assert.equal(rebound, 403);
  let r = await fetch(new URL('/api/cmd', fleet.url), {
    method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: 'vid=VID-001&command=land' });
  assert.equal(r.status, 403);
  r = await fetch(new URL('/api/cmd', fleet.url), {
    method: 'POST', headers: { 'Content-Type': 'application/json', Origin: 'http://evil.example' },
    body: '{"vid":"VID-001","command":"land"}' });
  assert.equal(r.status, 403);
  r = await fetch(new URL('/api/cmd', fleet.url), {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: '{"vid":"VID-001","command":"arm"}' });
  assert.equal(r.status, 400, 'only rtl, land and hold from the page');

  // A second dashboard that requires the operator's login.
  const port = await freePort();
  const proc = spawn(AERIE, ['dashboard', '--dir', fleet.dir, '--port', String(port),
                             '--require-auth'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { out += d; });
  try {
    await until('the second dashboard to listen', async () => /login required/.test(out), 20000);
    const url = `http://127.0.0.1:${port}/`;
    r = await fetch(url);
    assert.equal(r.status, 401);
    assert.match(r.headers.get('www-authenticate'), /^Basic realm=/);
    const { user, password } = fleet.json.operator;
    const basic = (u, p) => 'Basic ' + Buffer.from(`${u}:${p}`).toString('base64');
    r = await fetch(url, { headers: { Authorization: basic(user, password + 'x') } });
    assert.equal(r.status, 401);
    r = await fetch(url, { headers: { Authorization: basic(user, password) } });
    assert.equal(r.status, 200);
    assert.match(await r.text(), /<svg id="map"/);
    r = await fetch(`${url}api/fleet`, { headers: { Authorization: basic(user, password) } });
    assert.equal(r.status, 200);
    assert.equal((await r.json()).vehicles.length, 5);
  } finally {
    proc.kill('SIGTERM');
    await new Promise((res) => proc.on('exit', res));
  }
  assert.match(out, /stopped after \d+ requests/);
});
