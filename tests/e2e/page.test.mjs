// Page tests: serve the repository on 127.0.0.1, open index.html in Debian's headless Chromium
// (playwright-core, never a downloaded browser) once with WebGPU enabled and once without it
// (the CPU fallback), run every native reference search through the UI and require the same
// ranking; then choose the sample photos as the user's images and require the backbone features
// the page computes to match the native ones within 1e-3. Needs `cargo xtask build` first (pkg/
// and web/zoo/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { ROOT, serve } from '../../web/serve.mjs';

const reference = JSON.parse(readFileSync(join(ROOT, 'web/zoo/reference.json'), 'utf8'));
const backboneReference = JSON.parse(readFileSync(join(ROOT, 'web/zoo/backbone/reference.json'), 'utf8'));
const FEATURE_TOLERANCE = 1e-3;
const shots = join(ROOT, 'test-results');
mkdirSync(shots, { recursive: true });
const QUIET = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const TIMEOUT = 180_000;

const modes = [
  { name: 'webgpu', args: ['--enable-unsafe-webgpu'], backend: 'webgpu' },
  { name: 'cpu-fallback', args: [], backend: 'cpu' },
];

for (const mode of modes) {
  test(`page ranks the synthetic zoo like native code (${mode.name})`, { timeout: TIMEOUT * 2 }, async () => {
    const { server, url } = await serve(ROOT, 0);
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: [...QUIET, ...mode.args] });
    try {
      const page = await browser.newPage();
      const requests = [];
      const pageErrors = [];
      page.on('request', (r) => requests.push(r.url()));
      page.on('pageerror', (e) => pageErrors.push(e.message));
      await page.goto(`${url}index.html`);
      const status = () => page.evaluate(() => document.body.dataset.status);
      await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.status), null, { timeout: TIMEOUT });
      assert.equal(await status(), 'ready', `page failed to start: ${await page.textContent('#error')}`);
      assert.equal(await page.textContent('#backend'), mode.backend, await page.textContent('#backend-note'));

      assert.ok(reference.searches.length >= 4, 'too few reference searches');
      for (const expected of reference.searches) {
        await page.selectOption('#sample', { label: expected.sample });
        await page.fill('#k', String(expected.request.k));
        await page.fill('#max-params', expected.request.constraints.max_params?.toString() ?? '');
        await page.setChecked('#rerank', expected.request.rerank);
        await page.evaluate(() => { document.body.dataset.status = 'submitting'; });
        await page.click('#search');
        await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.status), null, { timeout: TIMEOUT });
        assert.equal(await status(), 'done', `search failed: ${await page.textContent('#error')}`);
        const ranking = await page.$$eval('#ranking tbody tr', (rows) => rows.map((r) => r.dataset.id));
        assert.deepEqual(ranking, expected.ranking, `${mode.name}: ranking for ${expected.sample}`);
      }
      await page.screenshot({ path: join(shots, `page-${mode.name}.png`), fullPage: true });
      const photos = backboneReference.images.map((i) => join(ROOT, 'web/zoo/backbone/samples', i.name));
      await page.setInputFiles('#images', photos);
      await page.waitForFunction(() => ['encoded', 'done', 'error'].includes(document.body.dataset.status), null, { timeout: TIMEOUT });
      assert.equal(await status(), 'encoded', `encoding failed: ${await page.textContent('#error')}`);
      assert.match(await page.textContent('#images-status'), new RegExp(`on ${mode.backend} in`));
      const encoded = await page.evaluate(() => window.tansImageFeatures);
      assert.deepEqual(encoded.names, backboneReference.images.map((i) => i.name));
      const expected = backboneReference.images.flatMap((i) => i.features);
      assert.equal(encoded.features.length, expected.length);
      const worst = Math.max(...expected.map((e, i) => Math.abs(e - encoded.features[i])));
      assert.ok(worst <= FEATURE_TOLERANCE, `${mode.name}: page features differ from native by ${worst}`);

      await page.setInputFiles('#images', [{ name: 'broken.png', mimeType: 'image/png', buffer: Buffer.from('not a png') }]);
      await page.waitForFunction(() => document.body.dataset.status === 'error', null, { timeout: TIMEOUT });
      assert.match(await page.textContent('#error'), /broken\.png/, 'a corrupt image is named');

      const foreign = requests.filter((r) => !r.startsWith(url));
      assert.deepEqual(foreign, [], 'the page must fetch nothing but its own static files');
      assert.deepEqual(pageErrors, []);
    } finally {
      await browser.close();
      server.close();
    }
  });
}
