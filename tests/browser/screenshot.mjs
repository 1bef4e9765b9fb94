// Takes the README's screenshot of a running dashboard: Debian's headless Chromium loads it,
// lets the page gather the vehicles' tracks for `settle` seconds, selects a vehicle, moves its
// replay slider to `at` (0..1 of its history) and saves a PNG.
//   node tests/browser/screenshot.mjs URL OUT.png [VID [at [settle]]]
// e.g. after `./scripts/up` has flown for a minute:
//   node tests/browser/screenshot.mjs http://127.0.0.1:PORT/ docs/images/dashboard.png VID-003 0.6
import { chromium } from 'playwright-core';

const [url, out, vid = 'VID-001', at = '0.6', settle = '20'] = process.argv.slice(2);
if (!url || !out) {
  console.error('usage: node screenshot.mjs URL OUT.png [VID [at 0..1 [settle s]]]');
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(url);
  await page.locator(`#markers g.veh[data-vid="${vid}"]`).waitFor();
  await page.waitForTimeout(Number(settle) * 1000);
  await page.locator(`#rows tr[data-vid="${vid}"]`).click();
  const slider = page.locator('#replay');
  await page.waitForFunction(() => !document.getElementById('replay').disabled);
  const max = Number(await slider.getAttribute('max'));
  await slider.fill(String(Math.round(max * Number(at))));
  await page.waitForTimeout(1500);
  await page.screenshot({ path: out });
  console.log(`saved ${out}`);
} finally {
  await browser.close();
}
