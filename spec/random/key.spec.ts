import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as fx from '../../lib/index.js';
import { assertThrows } from '../setup.js';

const id = (k: fx.random.Key) => `${k.hi}:${k.lo}`;

test('the same seed gives the same key, different seeds different keys', () => {
  assert.is(id(fx.random.key(0)), id(fx.random.key(0)));
  const seen = new Set<string>();
  for (let s = -50; s < 1000; s++) seen.add(id(fx.random.key(s)));
  assert.is(seen.size, 1050);
  assert.is.not(id(fx.random.key(2 ** 32)), id(fx.random.key(0)));
});

test('keys are frozen values', () => {
  const k = fx.random.key(3);
  assert.ok(Object.isFrozen(k));
  assert.throws(() => {
    (k as unknown as { hi: number }).hi = 1;
  });
});

test('split children are distinct from each other and from the parent, and deterministic', () => {
  const parent = fx.random.key(7);
  const children = fx.random.split(parent, 100);
  const ids = new Set(children.map(id));
  assert.is(ids.size, 100);
  assert.not.ok(ids.has(id(parent)));
  assert.equal(fx.random.split(parent, 100).map(id), children.map(id));
  // A prefix of a larger split is the smaller split, as in JAX's threefry split by index.
  assert.equal(fx.random.split(parent, 2).map(id), children.slice(0, 2).map(id));
});

test('foldIn separates strings by length: ("ab","c") differs from ("a","bc")', () => {
  const k = fx.random.key(0);
  const a = fx.random.foldIn(fx.random.foldIn(k, 'ab'), 'c');
  const b = fx.random.foldIn(fx.random.foldIn(k, 'a'), 'bc');
  assert.is.not(id(a), id(b));
  assert.is.not(id(fx.random.foldIn(k, 'abc')), id(a));
  assert.is.not(id(fx.random.foldIn(k, 1)), id(fx.random.foldIn(k, '1')));
  assert.is.not(id(fx.random.foldIn(k, 0)), id(fx.random.split(k, 1)[0]!));
  assert.is(id(fx.random.foldIn(k, 'x')), id(fx.random.foldIn(k, 'x')));
});

test('foldIn over many paths never collides', () => {
  const k = fx.random.key(1);
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) for (const name of ['kernel', 'bias', 'scale']) seen.add(id(fx.random.foldIn(fx.random.foldIn(k, `layers_${i}`), name)));
  assert.is(seen.size, 600);
});

test('keys are the same in a fresh process', () => {
  const here = fx.random.foldIn(fx.random.split(fx.random.key(123), 3)[2]!, 'layers_0');
  const lib = new URL('../../lib/index.js', import.meta.url);
  const script = `import * as fx from ${JSON.stringify(fileURLToPath(lib))}; const k = fx.random.foldIn(fx.random.split(fx.random.key(123), 3)[2], 'layers_0'); console.log(k.hi + ':' + k.lo);`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.is(run.status, 0, run.stderr);
  assert.is(run.stdout.trim(), id(here));
});

test('bad seeds and non-keys raise FlaxenError', () => {
  assertThrows(() => fx.random.key(1.5), fx.FlaxenError, 'safe integer', '1.5');
  assertThrows(() => fx.random.key('1' as unknown as number), fx.FlaxenError, 'safe integer');
  assertThrows(() => fx.random.split({ hi: 1, lo: 2 } as unknown as fx.random.Key), fx.FlaxenError, 'random key');
  assertThrows(() => fx.random.split(fx.random.key(0), 0), fx.FlaxenError, 'integer n from 1 to 1048576');
  assertThrows(() => fx.random.foldIn(fx.random.key(0), 0.5), fx.FlaxenError, 'integer or a string');
  assertThrows(() => fx.random.foldIn(fx.random.key(0), {} as unknown as string), fx.FlaxenError, 'integer or a string');
});

test('split is bounded: 1e8 keys is a FlaxenError at once (it aborted V8 out of memory), 2^20 keys work', () => {
  const start = Date.now();
  assertThrows(() => fx.random.split(fx.random.key(0), 1e8), fx.FlaxenError, 'split(key, n)', 'from 1 to 1048576', 'number 100000000', 'foldIn(key, i)');
  assertThrows(() => fx.random.split(fx.random.key(0), 2 ** 20 + 1), fx.FlaxenError, 'from 1 to 1048576');
  assert.ok(Date.now() - start < 100, 'refused before any work');
  const many = fx.random.split(fx.random.key(0), 2 ** 20);
  assert.is(many.length, 2 ** 20);
  assert.not.equal([many[0]!.hi, many[0]!.lo], [many[2 ** 20 - 1]!.hi, many[2 ** 20 - 1]!.lo]);
});

test.run();
