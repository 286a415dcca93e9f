// fx.ready('wasm', { threads }) — every run with threads asked for happens in a child process.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as fx from '../lib/index.js';

const indexUrl = pathToFileURL(fileURLToPath(new URL('../lib/index.js', import.meta.url))).href;
const gemmUrl = pathToFileURL(fileURLToPath(new URL('../lib/ops/gemm.js', import.meta.url))).href;
const CHILD_TIMEOUT_MS = 60_000;

// Operands: A is 300×256, B is 256×200 (large enough for XNNPACK to split the output between
// threads). `exact` holds small integers, so every partial sum is exact in float32 and the
// product must equal the loop's numbers exactly; `random` holds LCG values in [-0.5, 0.5).
const M = 300;
const K = 256;
const N = 200;

/** The child's script: sets up the backend as `mode` says, multiplies, prints one JSON line. */
function childScript(mode: string, threads: number): string {
  return `
import { createRequire } from 'node:module';
const require = createRequire(${JSON.stringify(fileURLToPath(indexUrl))});
const mode = ${JSON.stringify(mode)};
const buffer = require('node:buffer');
void buffer;
if (mode === 'pool-worker-fails') {
  // Every eval worker (flaxen's kernel workers are eval workers) throws as it starts.
  const wt = require('node:worker_threads');
  const Original = wt.Worker;
  wt.Worker = class extends Original {
    constructor(source, options) { super(options && options.eval ? 'throw new Error("sabotaged worker")' : source, options); }
  };
  require('node:module').syncBuiltinESMExports();
}
const fx = await import(${JSON.stringify(indexUrl)});
const tf = require('@tensorflow/tfjs-core');
if (mode === 'started-first') await fx.ready('wasm', { threads: 1 });
const name = await fx.ready('wasm', { threads: ${threads} });
await fx.ready('wasm', { threads: ${threads} }); // a second call changes nothing
const operands = (kind) => {
  let x = 12345;
  const next = kind === 'exact' ? (i) => ((i * 7) % 13) - 6 : () => (x = (x * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5;
  return [Float32Array.from({ length: ${M * K} }, (_, i) => next(i)), Float32Array.from({ length: ${K * N} }, (_, i) => next(i + 5))];
};
const before = tf.memory().numTensors;
const out = {};
for (const kind of ['exact', 'random']) {
  const [a, b] = operands(kind);
  const c = tf.tidy(() => tf.matMul(tf.tensor2d(a, [${M}, ${K}]), tf.tensor2d(b, [${K}, ${N}])).dataSync());
  out[kind] = Buffer.from(c.buffer, c.byteOffset, c.byteLength).toString('base64');
}
// A Dense layer's kernel gradient (flaxen's own product runs under the gradient tape, on one
// thread or several) and its inference (outside any tape: also the own product, split across
// flaxen's kernel workers when the backend has threads).
const { gemmCounter } = await import(${JSON.stringify(gemmUrl)});
const [a, b] = operands('random');
const layer = fx.nn.Dense(${N});
const x = tf.tensor2d(a, [${M}, ${K}]);
const params = { kernel: tf.tensor2d(b, [${K}, ${N}]), bias: tf.zeros([${N}]) };
let calls = gemmCounter.calls;
const grads = fx.grad((p) => tf.sum(tf.square(layer.apply({ params: p }, x))))(params);
const gradProducts = gemmCounter.calls - calls;
const dk = grads.kernel.dataSync();
calls = gemmCounter.calls;
const y = layer.apply({ params }, x);
const inferenceProducts = gemmCounter.calls - calls;
tf.dispose([x, params.kernel, params.bias, grads.kernel, grads.bias, y]);
out.kernelGrad = Buffer.from(dk.buffer, dk.byteOffset, dk.byteLength).toString('base64');
// The process's threads (Linux): tfjs's glue would add 8 workers; with tfjs on one thread they are stand-ins.
const fs = require('node:fs');
const tasks = fs.existsSync('/proc/self/task') ? fs.readdirSync('/proc/self/task').length : -1;
console.log(JSON.stringify({ name, info: fx.backendInfo(), tensorGrowth: tf.memory().numTensors - before, gradProducts, inferenceProducts, tasks, ...out }));
// No process.exit: the worker threads must not keep the process alive.
`;
}

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

function runChild(mode: string, threads: number): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', childScript(mode, threads)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, CHILD_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

interface ChildReport {
  name: string;
  info: { name: string; simd: boolean; ownKernels: boolean; threads?: number };
  tensorGrowth: number;
  gradProducts: number;
  inferenceProducts: number;
  tasks: number;
  exact: Float32Array;
  random: Float32Array;
  kernelGrad: Float32Array;
}

function report(r: ChildResult, what: string): ChildReport {
  assert.not.ok(r.timedOut, `${what}: the child did not exit within ${CHILD_TIMEOUT_MS} ms`);
  assert.is(r.code, 0, `${what}: exit code ${r.code}, stderr:\n${r.stderr}`);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  const parsed = JSON.parse(line) as Omit<ChildReport, 'exact' | 'random' | 'kernelGrad'> & { exact: string; random: string; kernelGrad: string };
  const floats = (b64: string) => {
    const bytes = Buffer.from(b64, 'base64');
    return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  };
  return { ...parsed, exact: floats(parsed.exact), random: floats(parsed.random), kernelGrad: floats(parsed.kernelGrad) };
}

// Plain-loop reference in float64 of the child's operands.
function reference(kind: 'exact' | 'random'): Float64Array {
  let x = 12345;
  const next =
    kind === 'exact'
      ? (i: number) => ((i * 7) % 13) - 6
      : () => Math.fround((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5);
  const a = Array.from({ length: M * K }, (_, i) => Math.fround(next(i)));
  const b = Array.from({ length: K * N }, (_, i) => Math.fround(next(i + 5)));
  const c = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let p = 0; p < K; p++) {
      const aip = a[i * K + p]!;
      for (let j = 0; j < N; j++) c[i * N + j] += aip * b[p * N + j]!;
    }
  }
  return c;
}

function assertExact(got: Float32Array, want: Float64Array, what: string): void {
  assert.is(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    if (got[i] !== want[i]) assert.unreachable(`${what}: element ${i} is ${got[i]}, the loop gives ${want[i]}`);
  }
}

function assertNear(got: Float32Array, want: Float64Array, what: string): void {
  assert.is(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i]! - want[i]!) <= 1e-4 + 1e-4 * Math.abs(want[i]!))) {
      assert.unreachable(`${what}: element ${i} is ${got[i]}, the loop gives ${want[i]}`);
    }
  }
}

const WARNING = /flaxen: WASM threads are not available \((.*)\); the wasm backend runs on 1 thread\./g;

test('threads: 2 runs on two threads, multiplies exactly like one thread, and the process exits by itself', async () => {
  const [two, one] = [await runChild('ok', 2), await runChild('ok', 1)];
  const t2 = report(two, 'threads: 2');
  const t1 = report(one, 'threads: 1');
  assert.is(t2.name, 'wasm');
  assert.equal(t2.info, { name: 'wasm', simd: true, ownKernels: true, threads: 2 });
  assert.equal(t1.info, { name: 'wasm', simd: true, ownKernels: true, threads: 1 });
  assert.is(two.stderr.match(WARNING), null, `no warning expected, got:\n${two.stderr}`);
  assert.is(t2.tensorGrowth, 0);
  const exact = reference('exact');
  assertExact(t2.exact, exact, 'threads: 2, integer operands');
  assertExact(t1.exact, exact, 'threads: 1, integer operands');
  assertNear(t2.random, reference('random'), 'threads: 2, random operands');
  // Each output element is one microkernel's sum over all of K, whichever thread computes it:
  // the two-thread product is bit-identical to the one-thread product.
  assert.is(Buffer.from(t2.random.buffer).equals(Buffer.from(t1.random.buffer)), true, 'bitwise equal to one thread');
  // flaxen's own products run with threads too (forward and kernel gradient; the data needs
  // none), split across its kernel workers, with the same bits; inference as well.
  assert.is(t1.gradProducts, 2, 'one thread: own products under the gradient');
  assert.is(t2.gradProducts, 2, 'two threads: own products under the gradient');
  assert.is(t1.inferenceProducts, 1, 'one thread: inference on the own product');
  assert.is(t2.inferenceProducts, 1, 'two threads: inference on the own product, split across the kernel workers');
  assert.is(Buffer.from(t2.kernelGrad.buffer).equals(Buffer.from(t1.kernelGrad.buffer)), true, 'kernel gradient: the same bits');
  // Two threads add flaxen's one kernel worker (a thread, or a few with its isolate's helpers),
  // not the 8 pthread workers of tfjs's glue, which stand in while tfjs runs on one thread.
  if (t1.tasks > 0) assert.ok(t2.tasks - t1.tasks <= 4, `threads: ${t1.tasks} with 1 thread, ${t2.tasks} with 2`);
});

for (const [mode, cause] of [
  ['pool-worker-fails', /the kernel workers did not start: .*sabotaged worker/],
  ['started-first', /already been started on one thread/],
] as const) {
  test(`a failure (${mode}) falls back to one thread with one warning`, async () => {
    const r = await runChild(mode, 2);
    const t = report(r, mode);
    assert.equal(t.info, { name: 'wasm', simd: true, ownKernels: true, threads: 1 });
    const warnings = [...r.stderr.matchAll(WARNING)];
    assert.is(warnings.length, 1, `exactly one warning expected, stderr:\n${r.stderr}`);
    assert.match(warnings[0]![1]!, cause);
    assert.is(t.tensorGrowth, 0);
    assertExact(t.exact, reference('exact'), `${mode}, integer operands`);
  });
}

test('bad thread options are FlaxenErrors (checked before anything starts)', async () => {
  const threadsBefore = fx.backendInfo().threads;
  for (const [args, fragment] of [
    [['wasm', { threads: 0 }], /integer ≥ 1, found number 0/],
    [['wasm', { threads: 1.5 }], /integer ≥ 1, found number 1.5/],
    [[{ backend: 'cpu', threads: 2 }], /'wasm' backend only/],
    [['wasm', 'fast'], /an options object/],
  ] as const) {
    try {
      await (fx.ready as (...a: unknown[]) => Promise<unknown>)(...args);
      assert.unreachable(`should throw for ${JSON.stringify(args)}`);
    } catch (e) {
      assert.ok(e instanceof fx.FlaxenError, String(e));
      assert.match((e as Error).message, fragment);
    }
  }
  assert.is(fx.backendInfo().threads, threadsBefore, 'the refused calls changed nothing');
});

test.run();
