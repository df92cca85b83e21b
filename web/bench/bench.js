// The benchmark page's side: loads the backbone in burn (CPU and WebGPU) and in onnxruntime-web,
// and exposes `window.bench` for run.mjs to drive. Every runtime gets the same normalised inputs.
import init, { TansBackbone } from '../../pkg/tans_web.js';
import * as ort from './node_modules/onnxruntime-web/dist/ort.wasm.min.mjs';

const log = (line) => { document.getElementById('log').textContent += `${line}\n`; };
const params = new URLSearchParams(location.search);
const WEIGHTS = params.get('weights') ?? '/cache/efficientnet-lite0.bpk';
const ONNX = params.get('onnx') ?? '/cache/efficientnet-lite0-32.onnx';

/** Deterministic inputs in the normalised range (the same formula as the Rust probe inputs). */
function inputs(batch, side) {
  const values = new Float32Array(batch * 3 * side * side);
  let i = 0;
  for (let n = 0; n < batch; n++) for (let c = 0; c < 3; c++) for (let h = 0; h < side; h++) {
    for (let w = 0; w < side; w++) {
      values[i++] = Math.sin(0.05 * (h + 1) * (c + 1) + 0.07 * (w + 1) * (n + 1)) * 1.5;
    }
  }
  return values;
}

const runtimes = {};

async function loadBurn(backend) {
  const bytes = new Uint8Array(await (await fetch(WEIGHTS)).arrayBuffer());
  const backbone = await TansBackbone.fromBytes(bytes, backend);
  if (backbone.backend !== backend) throw new Error(`asked for ${backend}, got ${backbone.backend}: ${backbone.backendNote}`);
  return {
    label: `burn ${backbone.backend} (${backbone.backendNote})`,
    run: (values, batch, side) => backbone.embedNormalized(values, batch, side),
    backbone,
  };
}

async function loadOrt() {
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.wasmPaths = new URL('./node_modules/onnxruntime-web/dist/', import.meta.url).href;
  const session = await ort.InferenceSession.create(ONNX, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  return {
    label: `onnxruntime-web ${ort.env.versions?.web ?? ''} wasm EP, 1 thread`,
    run: async (values, batch, side) => {
      const out = await session.run({ input: new ort.Tensor('float32', values, [batch, 3, side, side]) });
      return out.features.data;
    },
  };
}

/** Median seconds per batch of `name`, over at least `seconds` and `minRuns` runs (after a warm-up). */
async function time(name, batch, side, seconds, minRuns = 3) {
  const runtime = runtimes[name];
  const values = inputs(batch, side);
  await runtime.run(values, batch, side);
  const runs = [];
  const start = performance.now();
  while ((performance.now() - start) / 1000 < seconds || runs.length < minRuns) {
    const t = performance.now();
    await runtime.run(values, batch, side);
    runs.push((performance.now() - t) / 1000);
  }
  runs.sort((a, b) => a - b);
  const median = runs[Math.floor(runs.length / 2)];
  return { runtime: name, label: runtime.label, batch, side, runs: runs.length, median_batch_s: median, images_per_s: batch / median };
}

/** Largest |difference| between two runtimes' features on the same inputs. */
async function maxAbsDiff(a, b, batch, side) {
  const values = inputs(batch, side);
  const x = await runtimes[a].run(values, batch, side);
  const y = await runtimes[b].run(values, batch, side);
  let max = 0;
  for (let i = 0; i < x.length; i++) max = Math.max(max, Math.abs(x[i] - y[i]));
  return max;
}

/** `count` encoded JPEG photos-to-be (640×480 drawings), made in the page. */
async function makeImages(count) {
  const canvas = new OffscreenCanvas(640, 480);
  const ctx = canvas.getContext('2d');
  const images = [];
  for (let i = 0; i < count; i++) {
    const gradient = ctx.createLinearGradient(0, 0, 640, 480);
    gradient.addColorStop(0, `hsl(${(i * 37) % 360} 70% 50%)`);
    gradient.addColorStop(1, `hsl(${(i * 91) % 360} 60% 30%)`);
    ctx.fillStyle = gradient;
    ctx.fillRect(0, 0, 640, 480);
    ctx.fillStyle = `hsl(${(i * 13) % 360} 80% 70%)`;
    ctx.beginPath();
    ctx.arc(100 + (i * 7) % 440, 100 + (i * 11) % 280, 40 + (i % 60), 0, 2 * Math.PI);
    ctx.fill();
    const blob = await canvas.convertToBlob({ type: 'image/jpeg', quality: 0.9 });
    images.push(new Uint8Array(await blob.arrayBuffer()));
  }
  return images;
}

/** Encodes `images` with burn's `name` backend in chunks of `chunk`, as the page does. */
async function encode(name, images, side, chunk = 50) {
  const { backbone } = runtimes[name];
  let rows = 0;
  const start = performance.now();
  for (let i = 0; i < images.length; i += chunk) {
    const features = await backbone.embed(images.slice(i, i + chunk), null, side);
    rows += features.length / 1280;
  }
  return { runtime: name, images: images.length, rows, seconds: (performance.now() - start) / 1000 };
}

window.bench = { time, maxAbsDiff, makeImages, encode };

try {
  await init();
  const only = (params.get('runtimes') ?? 'burn-cpu,ort-wasm,burn-webgpu').split(',');
  const loaders = { 'burn-cpu': () => loadBurn('cpu'), 'burn-webgpu': () => loadBurn('webgpu'), 'ort-wasm': loadOrt };
  for (const name of only) {
    runtimes[name] = await loaders[name]();
    log(`${name}: ${runtimes[name].label}`);
  }
  window.bench.runtimes = Object.fromEntries(Object.entries(runtimes).map(([k, v]) => [k, v.label]));
  document.body.dataset.status = 'ready';
} catch (e) {
  log(`error: ${e?.message ?? e}`);
  document.body.dataset.error = String(e?.message ?? e);
  document.body.dataset.status = 'error';
}
