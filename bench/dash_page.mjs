// The dashboard page with a large fleet, in Debian's headless Chromium: how long the page
// waits for each poll (request and JSON) and how long it spends drawing it (map and table),
// as the page itself records them on #map (data-poll-ms, data-render-ms). Run by
// bench_dash_poll --page; uses tests/browser's playwright-core (npm ci there).
//   node bench/dash_page.mjs URL VEHICLES [SECONDS]
import { chromium } from '../tests/browser/node_modules/playwright-core/index.mjs';

const [url, n, seconds = '15'] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const median = (v) => { const s = [...v].sort((a, b) => a - b); return s[s.length >> 1]; };
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const t0 = Date.now();
  await page.goto(url);
  await page.waitForFunction((k) => document.querySelectorAll('#markers g.veh').length === k &&
    document.querySelectorAll('#rows tr').length === k, Number(n), { timeout: 60000 });
  const firstMs = Date.now() - t0;
  const polls = [], renders = [];
  let last = null;
  const end = Date.now() + Number(seconds) * 1000;
  while (Date.now() < end) {
    const m = await page.evaluate(() => ({ ...document.getElementById('map').dataset }));
    if (m.polls !== last) { last = m.polls; polls.push(Number(m.pollMs)); renders.push(Number(m.renderMs)); }
    await page.waitForTimeout(100);
  }
  console.log(`page with ${n} vehicles: first full drawing ${firstMs} ms after load; ` +
              `${polls.length} polls in ${seconds} s, poll ${median(polls).toFixed(0)} ms, ` +
              `drawing ${median(renders).toFixed(0)} ms (medians)`);
} finally {
  await browser.close();
}
