// The demo page: loads the zoo named by ?zoo= (default: the bundled synthetic zoo) on the
// backend named by ?backend= (auto | webgpu | cpu), then ranks the zoo for the chosen sample set.
// Images the user chooses or drops are encoded in the page by the image backbone (?backbone=,
// default the bundled weights) on the same backend, and ranked when the zoo takes its features.
// The page sets document.body.dataset.status (loading → ready → searching → done, encoding →
// encoded, or error) so people and tests can tell where it is.
import init, { TansBackbone, TansEngine } from '../pkg/tans_web.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const zooUrl = new URL(params.get('zoo') ?? 'web/zoo/synthetic/zoo.json', location.href).href;
const backendChoice = params.get('backend') ?? 'auto';
const backboneUrl = new URL(params.get('backbone') ?? 'web/zoo/backbone/efficientnet-lite0.bpk', location.href).href;
const BACKBONE_SIDE = 32;
const BACKBONE_DIM = 1280;
let engine;
let backbone;
let samples = [];

const setStatus = (status) => { document.body.dataset.status = status; };
const number = (id) => { const v = $(id).value.trim(); return v === '' ? undefined : Number(v); };
const fmt = (n, digits = 3) => (n === undefined || n === null ? '—' : Number(n).toFixed(digits));
const compact = (n) => new Intl.NumberFormat('en', { notation: 'compact', maximumFractionDigits: 2 }).format(n);

function showError(error) {
  const code = error?.code ? `[${error.code}] ` : '';
  $('error').textContent = `${code}${error?.message ?? error}`;
  $('error').hidden = false;
  setStatus('error');
}

function options() {
  const mflops = number('max-mflops');
  return {
    k: number('k') ?? 10,
    maxParams: number('max-params'),
    maxFlops: mflops === undefined ? undefined : Math.floor(mflops * 1e6),
    maxLatencyMs: number('max-latency'),
    rerank: $('rerank').checked,
  };
}

function plot(candidates) {
  const svg = $('plot');
  const w = 320, h = 220, pad = 34;
  const xs = candidates.map((c) => Math.log10(c.params));
  const ys = candidates.map((c) => c.predictedAccuracy ?? 0);
  const [x0, x1] = [Math.min(...xs) - 0.05, Math.max(...xs) + 0.05];
  const [y0, y1] = [Math.max(0, Math.min(...ys) - 0.05), Math.min(1, Math.max(...ys) + 0.05)];
  const sx = (x) => pad + ((x - x0) / (x1 - x0 || 1)) * (w - pad - 10);
  const sy = (y) => h - pad - ((y - y0) / (y1 - y0 || 1)) * (h - pad - 10);
  const dots = candidates.map((c, i) =>
    `<circle cx="${sx(xs[i]).toFixed(1)}" cy="${sy(ys[i]).toFixed(1)}" r="5" fill="${i === 0 ? '#2458d6' : 'none'}" stroke="#2458d6"><title>${c.id}: ${fmt(ys[i])}, ${compact(c.params)} params</title></circle>`);
  svg.innerHTML = `
    <line x1="${pad}" y1="${h - pad}" x2="${w - 10}" y2="${h - pad}" stroke="#889"/>
    <line x1="${pad}" y1="10" x2="${pad}" y2="${h - pad}" stroke="#889"/>
    <text x="${w / 2}" y="${h - 8}" font-size="11" text-anchor="middle">params (log, ${compact(10 ** x0)}–${compact(10 ** x1)})</text>
    <text x="10" y="${h / 2}" font-size="11" transform="rotate(-90 10 ${h / 2})" text-anchor="middle">predicted accuracy</text>
    <text x="${pad - 4}" y="${sy(y1) + 4}" font-size="10" text-anchor="end">${fmt(y1, 2)}</text>
    <text x="${pad - 4}" y="${sy(y0)}" font-size="10" text-anchor="end">${fmt(y0, 2)}</text>
    ${dots.join('')}`;
}

function render(output, sample, ms) {
  const rows = output.candidates.map((c) => `
    <tr data-id="${c.id}">
      <td>${c.rank}</td><td>${c.id}</td><td>${c.task}</td><td>${fmt(c.similarity)}</td>
      <td>${fmt(c.predictedAccuracy)}</td><td>${compact(c.params)}</td><td>${fmt(c.flops / 1e6, 1)}</td>
      <td>${fmt(c.latencyMs, 2)} ms</td>
      <td>${c.checkpoint ? `<a href="${new URL(c.checkpoint, zooUrl).href}" download>download</a>` : '—'}</td>
    </tr>`);
  $('ranking').tBodies[0].innerHTML = rows.join('');
  $('summary').textContent = output.candidates.length
    ? `${output.candidates.length} candidates for “${sample.name}” on ${output.backend} in ${ms.toFixed(1)} ms.`
    : `No model in the zoo satisfies these constraints.`;
  if (output.candidates.length) plot(output.candidates);
  $('plot').parentElement.hidden = !output.candidates.length;
  $('results').hidden = false;
}

async function search(event) {
  event?.preventDefault();
  $('error').hidden = true;
  setStatus('searching');
  try {
    const sample = samples[Number($('sample').value)];
    const started = performance.now();
    const output = await engine.search(
      new Float32Array(sample.features),
      sample.labels ? new Uint32Array(sample.labels) : undefined,
      options(),
    );
    render(output, sample, performance.now() - started);
    setStatus('done');
  } catch (error) {
    showError(error);
  }
}

/** Encodes the user's image files with the backbone; ranks the zoo when it takes those features. */
async function encodeImages(files) {
  if (!files.length) return;
  $('error').hidden = true;
  setStatus('encoding');
  try {
    backbone ??= await TansBackbone.load(backboneUrl, backendChoice);
    const bytes = await Promise.all(files.map(async (f) => new Uint8Array(await f.arrayBuffer())));
    const started = performance.now();
    const features = await backbone.embed(bytes, files.map((f) => f.name), BACKBONE_SIDE);
    const ms = performance.now() - started;
    window.tansImageFeatures = { names: files.map((f) => f.name), side: BACKBONE_SIDE, features: Array.from(features) };
    const ranks = engine.featureDim === BACKBONE_DIM;
    $('images-status').textContent = `${files.length} image${files.length === 1 ? '' : 's'} → ` +
      `${BACKBONE_DIM}-d backbone features on ${backbone.backend} in ${ms.toFixed(0)} ms` +
      (ranks ? '.' : ` (this zoo takes ${engine.featureDim}-d features, so it cannot rank them).`);
    setStatus('encoded');
    if (ranks) {
      const name = `${files.length} images of yours`;
      const output = await engine.search(features, undefined, options());
      render(output, { name }, performance.now() - started);
      setStatus('done');
    }
  } catch (error) {
    showError(error);
  }
}

async function main() {
  await init();
  engine = await TansEngine.load(zooUrl, backendChoice);
  $('backend').textContent = engine.backend;
  $('backend-note').textContent = `(${engine.backendNote})`;
  const manifest = engine.manifest();
  $('zoo-name').textContent = manifest.name;
  $('zoo-size').textContent = `${manifest.models.length} models`;
  $('zoo-description').textContent = manifest.description;
  const response = await fetch(new URL('samples.json', zooUrl));
  samples = response.ok ? (await response.json()).samples : [];
  $('sample').innerHTML = samples.map((s, i) => `<option value="${i}">${s.name}</option>`).join('');
  $('search').disabled = samples.length === 0;
  $('query').addEventListener('submit', search);
  $('images').addEventListener('change', () => encodeImages([...$('images').files]));
  $('dropzone').addEventListener('dragover', (event) => event.preventDefault());
  $('dropzone').addEventListener('drop', (event) => {
    event.preventDefault();
    encodeImages([...event.dataTransfer.files].filter((f) => f.type.startsWith('image/')));
  });
  setStatus('ready');
}

main().catch(showError);
