// Drives the backbone benchmark page in Debian's headless Chromium (playwright-core):
//  1. throughput: burn wasm CPU, onnxruntime-web (wasm EP) and burn WebGPU, alternating in
//     ROUNDS rounds in one page, median images/s each and the ratio burn CPU / onnxruntime-web;
//  2. memory: a fresh browser per burn backend encodes 400 JPEGs (640×480) and the peak resident
//     memory (VmHWM, reset before the encode) of its renderer and GPU processes is read from /proc.
// Usage: node web/bench/run.mjs CACHE_DIR SIDE BATCH ROUNDS SECONDS > results.json
// (scripts/bench-browser.sh prepares CACHE_DIR with the weights and the ONNX export.)
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { ROOT, serve } from '../serve.mjs';

const [cache, side, batch, rounds, seconds] = process.argv.slice(2);
const SIDE = Number(side ?? 32), BATCH = Number(batch ?? 32), ROUNDS = Number(rounds ?? 3);
const SECONDS = Number(seconds ?? 5);
const ARGS = ['--no-sandbox', '--enable-unsafe-webgpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const IMAGES = 400;

/** Chromium's processes below `root` (this script: one browser runs at a time), by --type. */
function chromiumProcesses(root) {
  const parent = new Map();
  const kind = new Map();
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      parent.set(pid, stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      kind.set(pid, /--type=([\w-]+)/.exec(cmdline)?.[1] ?? 'browser');
    } catch { /* exited meanwhile */ }
  }
  const below = (pid) => { for (let p = pid; p && p !== '0'; p = parent.get(p)) if (p === String(root)) return true; return false; };
  return [...kind].filter(([pid]) => below(pid)).map(([pid, type]) => ({ pid, type }));
}

const kib = (pid, field) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);

async function openPage(url, runtimes) {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ARGS });
  const page = await browser.newPage();
  page.setDefaultTimeout(600_000);
  await page.goto(`${url}web/bench/index.html?runtimes=${runtimes}&onnx=/cache/efficientnet-lite0-${SIDE}.onnx`);
  await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.status), null, { timeout: 600_000 });
  const error = await page.evaluate(() => document.body.dataset.error);
  if (error) throw new Error(`bench page: ${error}`);
  return { browser, page };
}

const { server, url } = await serve(ROOT, 0, { '/cache/': cache });
const result = { chromium: null, side: SIDE, batch: BATCH, rounds: [], memory: [] };
try {
  {
    const { browser, page } = await openPage(url, 'burn-cpu,ort-wasm,burn-webgpu');
    result.chromium = browser.version();
    result.labels = await page.evaluate(() => window.bench.runtimes);
    result.max_abs_diff_burn_cpu_vs_ort = await page.evaluate(([b, s]) => window.bench.maxAbsDiff('burn-cpu', 'ort-wasm', b, s), [2, SIDE]);
    result.max_abs_diff_burn_webgpu_vs_ort = await page.evaluate(([b, s]) => window.bench.maxAbsDiff('burn-webgpu', 'ort-wasm', b, s), [2, SIDE]);
    for (let round = 0; round < ROUNDS; round++) {
      for (const name of ['burn-cpu', 'ort-wasm', 'burn-webgpu']) {
        const run = await page.evaluate(([n, b, s, t]) => window.bench.time(n, b, s, t), [name, BATCH, SIDE, SECONDS]);
        result.rounds.push({ round, ...run });
        console.error(`round ${round} ${name}: ${run.images_per_s.toFixed(1)} images/s (${run.runs} runs)`);
      }
    }
    await browser.close();
  }
  for (const name of ['burn-cpu', 'burn-webgpu']) {
    const { browser, page } = await openPage(url, name);
    await page.evaluate((n) => window.bench.makeImages(n).then((images) => { window.images = images; }), IMAGES);
    const processes = chromiumProcesses(process.pid).filter((p) => ['renderer', 'gpu-process'].includes(p.type));
    const before = processes.map((p) => ({ ...p, rss_kib: kib(p.pid, 'VmRSS') }));
    for (const p of processes) writeFileSync(`/proc/${p.pid}/clear_refs`, '5');
    const run = await page.evaluate(([n, s]) => window.bench.encode(n, window.images, s), [name, SIDE]);
    const peaks = before.map((p) => ({ ...p, peak_kib: kib(p.pid, 'VmHWM') }));
    // The tab's renderer is the largest one (the others are Chromium's spare and utility renderers).
    const tab = peaks.filter((p) => p.type === 'renderer').sort((a, b) => b.peak_kib - a.peak_kib)[0];
    const gpu = peaks.find((p) => p.type === 'gpu-process');
    result.memory.push({
      ...run,
      tab_rss_before_mib: tab.rss_kib / 1024,
      tab_peak_mib: tab.peak_kib / 1024,
      gpu_process_peak_mib: (gpu?.peak_kib ?? 0) / 1024,
      processes: peaks,
    });
    console.error(`${name}: ${IMAGES} images in ${run.seconds.toFixed(1)} s; peaks ${peaks.map((p) => `${p.type} ${(p.peak_kib / 1024).toFixed(0)} MiB`).join(', ')}`);
    await browser.close();
  }
} finally {
  server.close();
}
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const medians = Object.fromEntries(['burn-cpu', 'ort-wasm', 'burn-webgpu'].map((n) => [n, median(result.rounds.filter((r) => r.runtime === n).map((r) => r.images_per_s))]));
result.images_per_s_median = medians;
result.ratio_burn_cpu_over_ort_wasm = medians['burn-cpu'] / medians['ort-wasm'];
result.ratio_burn_webgpu_over_ort_wasm = medians['burn-webgpu'] / medians['ort-wasm'];
console.log(JSON.stringify(result, null, 2));
