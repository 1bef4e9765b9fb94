// A real local fleet for the browser test: `aerie up` in a temporary directory, the CLI to
// ask it things, and `aerie down` at the end. Binaries come from AERIE_BUILD_DIR.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const SCALE = Number(process.env.AH_TIMEOUT_SCALE || 1) || 1;
const BUILD = process.env.AERIE_BUILD_DIR;
if (!BUILD) throw new Error('AERIE_BUILD_DIR is not set: run this test through ctest');
export const AERIE = join(BUILD, 'aerie');

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

// Runs `aerie ARGS...`; resolves to {code, out, err}.
export function aerie(args, timeoutMs = 60000) {
  return new Promise((resolve) => {
    execFile(AERIE, args, { timeout: timeoutMs * SCALE, maxBuffer: 64 << 20 },
      (error, out, err) => resolve({ code: error ? (error.code ?? 1) : 0, out, err }));
  });
}

// Polls fn until it returns a truthy value, or fails after ms (times AH_TIMEOUT_SCALE).
export async function until(what, fn, ms = 30000) {
  const deadline = Date.now() + ms * SCALE;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${last})`);
    await sleep(250);
  }
}

export class Fleet {
  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'aerie-browser-'));
  }

  async up(n) {
    const r = await aerie(['up', '--vehicles', String(n), '--dir', this.dir], 150000);
    if (r.code !== 0) throw new Error(`aerie up failed (${r.code}):\n${r.out}\n${r.err}`);
    this.json = JSON.parse(readFileSync(join(this.dir, 'fleet.json'), 'utf8'));
    this.url = this.json.dashboard.url;
    return r;
  }

  cli(args, ms) {
    return aerie([...args, '--dir', this.dir], ms);
  }

  async status() {
    const r = await this.cli(['status', '--json']);
    if (r.code !== 0) throw new Error(`aerie status: ${r.err}`);
    return JSON.parse(r.out);
  }

  // The positions `aerie replay` gives for vid from startMs on: [{t (ms), lat, lon}].
  async replayedPositions(vid, startMs) {
    const r = await this.cli(['replay', vid, '--start', new Date(startMs).toISOString(),
                              '--subject', 'state.position']);
    if (r.code !== 0) throw new Error(`aerie replay: ${r.err}`);
    return r.out.trim().split('\n').filter(Boolean).map((l) => {
      const m = JSON.parse(l);
      // RFC 3339 with nanoseconds: whole milliseconds, as the page keeps them
      const [sec, frac = ''] = m.event_time.replace('Z', '').split('.');
      const t = Date.parse(sec + 'Z') + Number((frac + '000').slice(0, 3));
      return { t, lat: m.payload.lat, lon: m.payload.lon };
    });
  }

  async down() {
    const r = await aerie(['down', '--dir', this.dir], 60000);
    rmSync(this.dir, { recursive: true, force: true });
    return r;
  }
}

// Metres east and north from a to b ({lat, lon}), on the local plane the map uses.
export function enu(a, b) {
  const k = 6371008.8 * Math.PI / 180;
  const lat0 = (a.lat + b.lat) / 2;
  return { e: (b.lon - a.lon) * Math.cos(lat0 * Math.PI / 180) * k, n: (b.lat - a.lat) * k };
}
