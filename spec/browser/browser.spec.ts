// flaxen in a real browser: builds the browser bundle and the demo page (scripts/build-browser.mjs)
// into a temporary folder, serves it on 127.0.0.1, drives Debian's headless Chromium with playwright-core, and
// checks the page against this Node process. Needs /usr/bin/chromium: `bash scripts/ensure-chromium.sh`.
//
// FLAXEN_SCREENSHOT=docs/demo/screenshot.png writes the screenshot there (default: next to this
// compiled spec, in dist/).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../../lib/index.js';
import { assertClose } from '../setup.js';
// The page's globals (window.fx, window.flaxenDemo) are declared by the demo's script.
import type {} from '../../docs/demo/demo.js';

/** flaxen as the browser bundle exports it: the public API plus the bundled tfjs-core. */
type Flaxen = typeof import('../../docs/demo/flaxen.bundle.js');
/** The same shape, made of this process's flaxen and tfjs-core. */
const nodeFlaxen = Object.assign({}, fx, { tf }) as unknown as Flaxen;

// FLAXEN_CHROMIUM names another Chromium binary (default: Debian's).
const CHROMIUM = process.env['FLAXEN_CHROMIUM'] ?? '/usr/bin/chromium';
const repo = fileURLToPath(new URL('../../../', import.meta.url));
const screenshotPath = resolve(repo, process.env['FLAXEN_SCREENSHOT'] ?? 'dist/spec/browser/screenshot.png');
// As the probe of this machine kind runs it: no GPU, and no background connections (they are
// refused by the closed network, many at a time).
const FLAGS = ['--no-sandbox', '--headless', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Rejects when `promise` takes longer than `ms`, so a stuck browser fails the test instead of hanging it. */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------------------------
// The built demo is served by the same static server as `npm run demo` (scripts/static-server.mjs,
// loaded from the repository at run time: it is not compiled into dist/).
const { serveStatic } = (await import(new URL('scripts/static-server.mjs', `file://${repo}`).href)) as typeof import('../../scripts/static-server.mjs');

// ---------------------------------------------------------------------------------------------
// One browser session for the whole file, started by the first test that needs it.

interface Session {
  page: Page;
  /** Opens another page of the demo, whose console is not watched. */
  openPage(): Promise<Page>;
  /** Console errors, page errors, failed requests and HTTP errors, in order. */
  problems: string[];
  /** Every URL the page fetched. */
  requests: string[];
  close(): Promise<void>;
}

let session: Promise<Session> | undefined;

async function openSession(): Promise<Session> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: the browser test needs Debian's chromium package. Install it with ` +
      '`bash scripts/ensure-chromium.sh` (or `apt-get install -y chromium` as root).');
  }
  // Bundle the current sources, so the page runs the same code as this process, into a folder of
  // this run's own (other runs may be rebuilding docs/demo at the same time).
  const site = mkdtempSync(join(tmpdir(), 'flaxen-site-'));
  const profile = mkdtempSync(join(tmpdir(), 'flaxen-chromium-'));
  let server: Server | undefined;
  let context: BrowserContext | undefined;
  const close = async () => {
    await context?.close().catch(() => {});
    if (server) await new Promise((done) => server!.close(done));
    rmSync(profile, { recursive: true, force: true });
    rmSync(site, { recursive: true, force: true });
  };
  try {
    execFileSync(process.execPath, [join(repo, 'scripts/build-browser.mjs'), '--out', site], { cwd: repo, stdio: ['ignore', 'ignore', 'inherit'], timeout: 60_000 });
    let url: string;
    ({ server, url } = await serveStatic(site));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM, headless: true, args: FLAGS, timeout: 30_000, viewport: { width: 900, height: 1000 },
    });
    const page = context.pages()[0] ?? (await context.newPage());
    const problems: string[] = [];
    const requests: string[] = [];
    page.on('console', (message) => { if (message.type() === 'error') problems.push(`console error: ${message.text()}`); });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('requestfailed', (request) => problems.push(`request failed: ${request.url()} ${request.failure()?.errorText ?? ''}`));
    page.on('request', (request) => requests.push(request.url()));
    page.on('response', (response) => { if (response.status() >= 400) problems.push(`HTTP ${response.status()}: ${response.url()}`); });
    await page.goto(url + 'index.html?autorun=0', { timeout: 20_000 });
    await within(20_000, 'the demo page starting flaxen', page.evaluate(() => window.flaxenDemo.ready));
    const openPage = async () => {
      const other = await context!.newPage();
      await other.goto(url + 'index.html?autorun=0', { timeout: 20_000 });
      await within(20_000, 'a second demo page starting flaxen', other.evaluate(() => window.flaxenDemo.ready));
      return other;
    };
    return { page, openPage, problems, requests, close };
  } catch (error) {
    await close();
    throw error;
  }
}

const browser = () => (session ??= openSession());

test.after(async () => {
  if (session) await (await session.catch(() => undefined))?.close();
});

// ---------------------------------------------------------------------------------------------
// What both sides compute. `page.evaluate` sends a function's source text to the page, so these
// run unchanged in Node (with this process's flaxen) and in the browser (with the bundle's).

/** SHA-256 over every parameter of a fixed model made from key(0): paths, dtypes, shapes, bytes. */
async function parameterFingerprint(flaxen: Flaxen): Promise<{ digest: string; paths: string[]; head: number[]; count: number }> {
  const model = flaxen.nn.Sequential([flaxen.nn.Dense(16), flaxen.nn.relu, flaxen.nn.Dense(4)]);
  const variables = model.init(flaxen.random.key(0), [1, 8]);
  const entries = flaxen.tree.flatten(variables).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const chunks: Uint8Array[] = [];
  for (const [path, leaf] of entries) {
    chunks.push(new TextEncoder().encode(`${path}:${leaf.dtype}:${leaf.shape.join('x')}\n`));
    const data = leaf.dataSync();
    chunks.push(new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice());
  }
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  chunks.reduce((at, c) => (all.set(c, at), at + c.length), 0);
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', all));
  const head = Array.from(entries.find(([path]) => path.endsWith('layers_0/kernel'))![1].dataSync().slice(0, 4));
  const count = flaxen.tree.count(variables);
  flaxen.tree.dispose(variables);
  return { digest: Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join(''), paths: entries.map(([p]) => p), head, count };
}

/** The same model's output for a fixed input (values 0.1·(i mod 7) − 0.3). */
function forwardPass(flaxen: Flaxen): number[] {
  const tfjs = flaxen.tf;
  const model = flaxen.nn.Sequential([flaxen.nn.Dense(16), flaxen.nn.relu, flaxen.nn.Dense(4)]);
  const variables = model.init(flaxen.random.key(0), [1, 8]);
  const x = tfjs.tensor2d(Array.from({ length: 24 }, (_, i) => 0.1 * (i % 7) - 0.3), [3, 8]);
  const y = model.apply(variables, x) as tf.Tensor;
  const out = Array.from(y.dataSync());
  flaxen.tree.dispose([variables, x, y]);
  return out;
}

// ---------------------------------------------------------------------------------------------

test(`Chromium is installed at ${CHROMIUM} (bash scripts/ensure-chromium.sh installs it)`, () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: run \`bash scripts/ensure-chromium.sh\` (or \`apt-get install -y chromium\` as root)`);
});

test('the demo page loads flaxen with no console error, page error or failed request', async () => {
  const { page, problems } = await browser();
  assert.equal(problems, []);
  assert.is(await page.title(), 'flaxen in the browser');
});

test('the backend in the page is wasm with SIMD and threads, from the threaded SIMD build of the .wasm file', async () => {
  const { page, requests } = await browser();
  // The static server sends COOP/COEP, so the page is cross-origin isolated and fx.ready() takes
  // one thread per core (at most 8); ownKernels: compiled asynchronously by fx.ready, as the
  // page's main thread requires.
  const { isolated, cores } = await page.evaluate(() => ({ isolated: crossOriginIsolated, cores: navigator.hardwareConcurrency }));
  assert.ok(isolated, 'the demo page is cross-origin isolated');
  const threads = Math.min(8, cores);
  assert.equal(await page.evaluate(() => window.fx.backendInfo()), threads > 1 ? { name: 'wasm', simd: true, ownKernels: true, threads } : { name: 'wasm', simd: true, ownKernels: true });
  const wasm = requests.filter((url) => url.endsWith('.wasm')).map((url) => url.slice(url.lastIndexOf('/') + 1));
  assert.equal(wasm, [threads > 1 ? 'tfjs-backend-wasm-threaded-simd.wasm' : 'tfjs-backend-wasm-simd.wasm']);
  assert.match(await page.locator('#backend').innerText(), 'wasm with SIMD');
});

test('before init, the page shows the model with unknown sizes (-1) and its table from shapes', async () => {
  const { page } = await browser();
  const before = await page.locator('#before').innerText();
  assert.match(before, '(layers_0): Dense(-1 -> 128)');
  assert.match(before, '(layers_2): Dense(-1 -> 10)');
  // fx.tabulate, from shapes alone.
  assert.match(await page.locator('#tabulate').innerText(), 'Total parameters: 101,770');
});

test('the parameters for key(0) hash to the same value in the browser as in Node', async () => {
  const { page } = await browser();
  const inNode = await parameterFingerprint(nodeFlaxen);
  // `fx` here is the page's bundle; the function's source is what runs there.
  const inBrowser = await page.evaluate(parameterFingerprint, await page.evaluateHandle(() => window.fx));
  assert.equal(inNode.paths, ['params/layers_0/bias', 'params/layers_0/kernel', 'params/layers_2/bias', 'params/layers_2/kernel']);
  assert.is(inNode.count, 8 * 16 + 16 + 16 * 4 + 4);
  assert.equal(inBrowser.head, inNode.head, 'the first kernel values');
  assert.is(inBrowser.digest, inNode.digest);
});

test('a forward pass in the page gives the same outputs as in Node', async () => {
  const { page } = await browser();
  const inNode = forwardPass(nodeFlaxen);
  const inBrowser = await page.evaluate(forwardPass, await page.evaluateHandle(() => window.fx));
  assert.is(inNode.length, 12);
  assertClose(inBrowser, inNode, 1e-6, 1e-6, 'outputs');
});

test('a checkpoint written in Node restores in the page, and the page writes the very same bytes', async () => {
  const { page } = await browser();
  const model = fx.nn.Sequential([fx.nn.Dense(16), fx.nn.relu, fx.nn.Dense(4)]);
  const variables = model.init(fx.random.key(0), [1, 8]);
  const nodeBytes = fx.checkpoint.toBytes(variables, { step: '7' });
  const nodeValues = Object.fromEntries(fx.tree.flatten(variables).map(([path, t]) => [path, Array.from(t.dataSync())]));
  fx.tree.dispose(variables);
  const inPage = await page.evaluate(([flaxen, bytes]) => {
    const net = flaxen.nn.Sequential([flaxen.nn.Dense(16), flaxen.nn.relu, flaxen.nn.Dense(4)]);
    // Restored against the shapes alone (initShapes allocates nothing), so every value comes from the file.
    const restored = flaxen.checkpoint.fromBytes(new Uint8Array(bytes), net.initShapes(flaxen.random.key(0), [1, 8]));
    const values = Object.fromEntries(flaxen.tree.flatten(restored).map(([path, t]) => [path, Array.from(t.dataSync())]));
    const own = net.init(flaxen.random.key(0), [1, 8]);
    const written = Array.from(flaxen.checkpoint.toBytes(own, { step: '7' }));
    flaxen.tree.dispose([restored, own]);
    return { values, written, tensors: flaxen.tf.memory().numTensors };
  }, [await page.evaluateHandle(() => window.fx), Array.from(nodeBytes)] as const);
  assert.equal(Object.keys(inPage.values).sort(), Object.keys(nodeValues).sort());
  for (const [path, expected] of Object.entries(nodeValues)) assert.equal(inPage.values[path], expected, path);
  assert.is(inPage.written.length, nodeBytes.length);
  assert.ok(inPage.written.every((byte, i) => byte === nodeBytes[i]), 'the page wrote the same checkpoint bytes as Node');
});

/** Runs each attempt in a fresh demo page and says how it failed: `FlaxenError: message`, or the class that was thrown. */
async function failuresInPage(names: string[]): Promise<Record<string, string>> {
  // In a page of its own: the browser logs the failed imports of node: modules as console errors.
  const page = await (await browser()).openPage();
  try {
    return await page.evaluate(async (which) => {
      const { fx: flaxen } = window;
      const variables = flaxen.nn.Dense(2).init(flaxen.random.key(0), [1, 3]);
      const attempts: Record<string, () => Promise<unknown>> = {
        'checkpoint.save': () => flaxen.checkpoint.save('model.safetensors', variables),
        'checkpoint.load': () => flaxen.checkpoint.load('model.safetensors'),
        'data.mnist.load': () => flaxen.data.mnist.load(),
      };
      const out: Record<string, string> = {};
      for (const name of which) {
        try {
          await attempts[name]!();
          out[name] = 'no error';
        } catch (error) {
          out[name] = `${error instanceof flaxen.FlaxenError ? 'FlaxenError' : (error as Error).constructor.name}: ${(error as Error).message}`;
        }
      }
      flaxen.tree.dispose(variables);
      return out;
    }, names);
  } finally {
    await page.close();
  }
}

test('checkpoint files are Node-only: save and load fail in the page with a FlaxenError pointing to toBytes/fromBytes', async () => {
  const outcomes = await failuresInPage(['checkpoint.save', 'checkpoint.load']);
  for (const [name, outcome] of Object.entries(outcomes)) {
    assert.match(outcome, /^FlaxenError: /, `${name}: ${outcome}`);
    assert.match(outcome, 'toBytes', `${name}: ${outcome}`);
  }
});

test('fx.data.mnist.load is Node-only: it fails in the page with a FlaxenError', async () => {
  const { 'data.mnist.load': outcome } = await failuresInPage(['data.mnist.load']);
  assert.match(outcome!, /^FlaxenError: /, outcome);
});

test('training in the page lowers the loss, classifies held-out digits and leaks no tensor', async () => {
  const { page } = await browser();
  const tensorsBefore = await page.evaluate(() => window.fx.tf.memory().numTensors);
  const result = await within(45_000, 'two epochs of training in the page', page.evaluate(() => window.flaxenDemo.run({ seed: 0, epochs: 2 })));
  const tensorsAfter = await page.evaluate(() => window.fx.tf.memory().numTensors);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  assert.is(result.steps, 2 * Math.floor(2000 / 64));
  assert.is(result.losses.length, result.steps);
  assert.ok(result.losses.every(Number.isFinite), 'every loss is a finite number');
  // An untrained 10-way classifier sits near ln 10 ≈ 2.3; two epochs bring the loss well below.
  assert.ok(result.losses[0]! > 1.5, `first loss ${result.losses[0]}`);
  assert.ok(mean(result.losses.slice(-10)) < 0.5 * mean(result.losses.slice(0, 5)), `losses ${result.losses.map((l) => l.toFixed(2)).join(' ')}`);
  assert.ok(result.testAccuracy > 0.8, `test accuracy ${result.testAccuracy}`);
  assert.is(tensorsAfter, tensorsBefore, 'live tensors in the page after the run');
  assert.match(await page.locator('#after').innerText(), '(layers_0): Dense(784 -> 128)');
  assert.match(await page.locator('#shapes').innerText(), 'kernel  [784, 128]');
  assert.match(await page.locator('#accuracy').innerText(), `${(result.testAccuracy * 100).toFixed(1)}% of 500`);
  assert.is(await page.locator('#samples figure').count(), 30, 'the first test digits with their predicted labels');
  await page.screenshot({ path: screenshotPath, fullPage: true });
});

test('nothing went wrong in the page during the whole session', async () => {
  const { problems } = await browser();
  assert.equal(problems, []);
});

test.run();
