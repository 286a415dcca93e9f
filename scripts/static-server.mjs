// A static file server on 127.0.0.1 for the browser demo: used by scripts/serve-demo.mjs and by
// spec/browser/browser.spec.ts. Only files under `root` are served; .wasm is sent as
// application/wasm so the browser can compile it while it downloads. Every answer carries the
// cross-origin isolation headers (COOP/COEP): without them a page has no SharedArrayBuffer, and
// the wasm backend and flaxen's kernels cannot use threads.
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.map': 'application/json', '.json': 'application/json', '.wasm': 'application/wasm', '.css': 'text/css',
  '.png': 'image/png', '.bin': 'application/octet-stream', '.txt': 'text/plain; charset=utf-8', '.ts': 'text/plain; charset=utf-8',
};

/** Cross-origin isolation: the page may share memory with its workers (WebAssembly threads). */
const ISOLATION = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };

/**
 * Starts serving `root` on 127.0.0.1:`port` (0: a free port). Resolves to the server and its URL;
 * rejects when the port cannot be had.
 */
export function serveStatic(root, port = 0) {
  const server = createServer((request, response) => {
    let pathname = '';
    try {
      pathname = decodeURIComponent(new URL(request.url ?? '/', 'http://localhost').pathname);
    } catch {
      // a malformed address: answered with 404 below
    }
    const file = normalize(join(root, pathname.endsWith('/') ? pathname + 'index.html' : pathname));
    if (!pathname || !file.startsWith(root + sep) || !existsSync(file) || !statSync(file).isFile()) {
      response.writeHead(404, { 'content-type': 'text/plain', ...ISOLATION }).end('not found');
      return;
    }
    response.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-cache', ...ISOLATION });
    createReadStream(file).pipe(response);
  });
  return new Promise((done, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', () => done({ server, url: `http://127.0.0.1:${server.address().port}/` }));
  });
}
