// Serves the browser demo (docs/demo, built by `node scripts/build-browser.mjs`) on localhost.
//
//   node scripts/serve-demo.mjs [port]      then open http://127.0.0.1:8080/
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serveStatic } from './static-server.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../docs/demo');
const port = Number(process.argv[2] ?? process.env.PORT ?? 8080);

if (!existsSync(join(root, 'flaxen.bundle.js'))) {
  console.error('docs/demo/flaxen.bundle.js is missing: run `node scripts/build-browser.mjs` first.');
  process.exit(1);
}

try {
  const { url } = await serveStatic(root, port);
  console.log(`flaxen demo: ${url}  (Ctrl-C to stop)`);
} catch (error) {
  console.error(error.code === 'EADDRINUSE' ? `port ${port} is taken: node scripts/serve-demo.mjs <another port>` : error.message);
  process.exit(1);
}
