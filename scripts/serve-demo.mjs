// Serves the browser demo (docs/demo, built by `node scripts/build-browser.mjs`) on localhost.
//
//   node scripts/serve-demo.mjs [port]      then open http://127.0.0.1:8080/
//
// A plain static server from node:http: .wasm is sent as application/wasm so the browser can
// compile it while it downloads; only files under docs/demo are served.
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../docs/demo');
const port = Number(process.argv[2] ?? process.env.PORT ?? 8080);
const types = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.map': 'application/json', '.json': 'application/json', '.wasm': 'application/wasm', '.css': 'text/css',
  '.png': 'image/png', '.bin': 'application/octet-stream', '.txt': 'text/plain; charset=utf-8', '.ts': 'text/plain; charset=utf-8',
};

if (!existsSync(join(root, 'flaxen.bundle.js'))) {
  console.error('docs/demo/flaxen.bundle.js is missing: run `node scripts/build-browser.mjs` first.');
  process.exit(1);
}

const server = createServer((request, response) => {
  let pathname = '';
  try {
    pathname = decodeURIComponent(new URL(request.url ?? '/', 'http://localhost').pathname);
  } catch {
    // a malformed address: answered with 404 below
  }
  const file = normalize(join(root, pathname.endsWith('/') ? pathname + 'index.html' : pathname));
  if (!pathname || !file.startsWith(root + sep) || !existsSync(file) || !statSync(file).isFile()) {
    response.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    return;
  }
  response.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-cache' });
  createReadStream(file).pipe(response);
});
server.on('error', (error) => {
  console.error(error.code === 'EADDRINUSE' ? `port ${port} is taken: node scripts/serve-demo.mjs <another port>` : error.message);
  process.exit(1);
});
server.listen(port, '127.0.0.1', () => console.log(`flaxen demo: http://127.0.0.1:${server.address().port}/  (Ctrl-C to stop)`));
