// Static file server for the demo and the page tests: serves the repository root on 127.0.0.1
// with the MIME types a browser needs (application/wasm for streaming compilation).
// CLI: node web/serve.mjs [port]   (default 8080; 0 picks a free port)
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

export const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));

/**
 * Starts the server; resolves to { server, url }. `mounts` maps URL prefixes ('/cache/') to
 * folders served in their place (the benchmark serves weights that live outside the repository).
 */
export function serve(root = ROOT, port = 8080, mounts = {}) {
  const server = createServer(async (req, res) => {
    try {
      let path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
      let base = root;
      for (const [prefix, dir] of Object.entries(mounts)) {
        if (path.startsWith(prefix)) { base = resolve(dir); path = path.slice(prefix.length - 1); break; }
      }
      let file = normalize(join(base, path));
      if (!file.startsWith(base)) throw Object.assign(new Error('outside root'), { code: 'ENOENT' });
      if ((await stat(file)).isDirectory()) file = join(file, 'index.html');
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
      res.end(body);
    } catch (e) {
      res.writeHead(e.code === 'ENOENT' || e.code === 'ENOTDIR' ? 404 : 500, { 'content-type': 'text/plain' });
      res.end(`${req.url}: ${e.code ?? e.message}`);
    }
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', () => ok({ server, url: `http://127.0.0.1:${server.address().port}/` }));
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { url } = await serve(ROOT, Number(process.argv[2] ?? 8080));
  console.log(`TANS demo at ${url}  (Ctrl-C to stop)`);
}
