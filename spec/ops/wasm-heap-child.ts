// The child process of spec/ops/wasm-heap.spec.ts: it fills the wasm heap to about 3 GiB (memory
// that is allocated but never written, so the process stays small), then asks for more through
// the public API and through plain tfjs ops. It prints one JSON line per attempt: the error's
// class and message, how many tensors the attempt left behind, and whether every live tensor kept
// its bytes; then whether smaller work still computes the numbers it computed before the heap
// was full. Usage: node wasm-heap-child.js <wasm|cpu>.
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../../lib/index.js';
import { wasmHeap } from '../../lib/ops/wasm-heap.js';

const backend = process.argv[2] === 'cpu' ? 'cpu' : 'wasm';
await fx.ready(backend);
const report = (line: Record<string, unknown>) => process.stdout.write(JSON.stringify(line) + '\n');
// Disposes the tensors of a result: a tensor, a tree, or arrays of those.
const disposeAll = (value: unknown): void => (Array.isArray(value) ? value.forEach(disposeAll) : fx.tree.dispose(value));

// Live tensors that must never change: parameters made before the heap fills (low in the heap),
// an optimizer state, and one made once the heap is nearly full (high in the heap).
const net = fx.nn.Dense(3);
const victim = net.init(fx.random.key(1), [2, 4]);
const x = fx.random.normal(fx.random.key(2), [2, 4]);
const tx = fx.optim.adam(1e-2);
const optState = tx.init(victim.params);
const yBefore = Array.from(net.apply(victim, x).dataSync());

const filler: tf.Tensor[] = [];
if (backend === 'wasm') {
  const heap = wasmHeap()!;
  const chunk = 2 ** 26; // 256 MiB of float32
  for (let i = 0; i < 12; i++) filler.push(heap.alloc([chunk]));
}
const late = fx.random.uniform(fx.random.key(3), [1000]);
const watched = [...fx.tree.leaves(victim), ...fx.tree.leaves(optState), x, late].filter((t): t is tf.Tensor => t instanceof tf.Tensor);
const snapshot = () => watched.map((t) => Buffer.from(t.dataSync().buffer).toString('base64'));
const before = snapshot();
report({ step: 'filled', memoryBytes: wasmHeap()?.memory.buffer.byteLength ?? 0, liveBytes: tf.memory().numBytes });

function attempt(name: string, fn: () => unknown): void {
  const tensors = tf.memory().numTensors;
  const start = Date.now();
  let error: { name: string; message: string; isFlaxen: boolean } | undefined;
  try {
    disposeAll(fn());
  } catch (e) {
    const err = e as Error;
    error = { name: err.constructor.name, message: err.message, isFlaxen: err instanceof fx.FlaxenError };
  }
  const after = snapshot();
  report({ step: name, error, leaked: tf.memory().numTensors - tensors, unchanged: after.every((b, i) => b === before[i]), ms: Date.now() - start });
}

// The case of issue 11: a 1 GiB kernel once ~3 GiB are taken (on cpu: a 16 GB kernel).
if (backend === 'wasm') attempt('init', () => fx.nn.Dense(1, { useBias: false }).init(fx.random.key(0), [1, 2 ** 28]));
else attempt('init', () => fx.nn.Dense(4).init(fx.random.key(0), [1, 1e9]));

if (backend === 'wasm') {
  const almostGiB = 255_000_000; // float32 values: 1.02e9 bytes
  // tfjs ops whose output does not fit: the allocation that tfjs would have placed at offset 0.
  attempt('tf.zeros', () => tf.zeros([almostGiB]));
  attempt('tf.tensor', () => tf.tensor(new Float32Array(almostGiB)));
  attempt('fx.random.normal', () => fx.random.normal(fx.random.key(4), [almostGiB]));
  // A small layer whose output does not fit: [65536, 3800] float32 is 1.0 GB.
  const wide = fx.nn.Dense(3800);
  const wideVars = wide.init(fx.random.key(5), [1, 1]);
  const tall = tf.ones([65536, 1]);
  attempt('apply', () => wide.apply(wideVars, tall));
  attempt('valueAndGrad', () => fx.valueAndGrad((p: typeof wideVars.params) => tf.mean(wide.apply({ params: p }, tall)))(wideVars.params));
  fx.tree.dispose(wideVars);
  tall.dispose();
}

// Smaller work still runs, on the same numbers.
const yAfter = Array.from(net.apply(victim, x).dataSync());
const [loss, grads] = fx.valueAndGrad((p: typeof victim.params) => tf.mean(tf.square(net.apply({ params: p }, x))))(victim.params);
const [updates, nextState] = tx.update(grads, optState, victim.params);
const stepped = fx.optim.applyUpdates(victim.params, updates);
const finite = [loss, ...fx.tree.leaves(stepped)].every((t) => (t as tf.Tensor).dataSync().every(Number.isFinite));
disposeAll([loss, grads, updates, nextState, stepped]);
report({ step: 'after', sameOutput: yAfter.every((v, i) => Object.is(v, yBefore[i])), finite, unchanged: snapshot().every((b, i) => b === before[i]) });
for (const t of filler) t.dispose();
report({ step: 'done' });
