import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fx from '../../lib/index.js';
import { assertClose, assertThrows, checkKeptInputs, countKernel, tensorDelta, values } from '../setup.js';

test('gradients of a tree come back with the same structure, frozen, matching hand-derived values', () => {
  // f = sum(w * x) + b^2 + 3 c  ⇒  df/dw = x, df/db = 2b, df/dc = 3
  const x = tf.tensor([1, -2, 3]);
  const params = { layer: { w: tf.tensor([0.5, 0.25, -1]), b: tf.scalar(1.5) }, c: tf.tensor([[2]]) };
  const f = (p: typeof params, x: tf.Tensor) => tf.addN([tf.sum(tf.mul(p.layer.w, x)), tf.square(p.layer.b), tf.mul(3, tf.sum(p.c))]);
  const [value, grads] = fx.valueAndGrad(f)(params, x);
  assert.equal(Object.keys(grads).sort(), ['c', 'layer']);
  assert.equal(Object.keys(grads.layer).sort(), ['b', 'w']);
  assert.ok(Object.isFrozen(grads) && Object.isFrozen(grads.layer));
  assertClose(values(value), [0.5 - 0.5 - 3 + 2.25 + 6]);
  assertClose(values(grads.layer.w), [1, -2, 3]);
  assertClose(values(grads.layer.b), [3]);
  assert.equal(grads.c.shape, [1, 1]);
  assertClose(values(grads.c), [3]);
  value.dispose();
  tf.dispose([grads, params, x]);
});

// A plain-loop float64 reference of the loss of a 2-layer tanh network, for finite differences.
function referenceLoss(w1: Float64Array, b1: Float64Array, w2: Float64Array, b2: Float64Array, xs: number[][], ts: number[][], nIn: number, nHidden: number, nOut: number): number {
  let total = 0;
  xs.forEach((x, r) => {
    const h = new Float64Array(nHidden);
    for (let j = 0; j < nHidden; j++) {
      let s = b1[j]!;
      for (let i = 0; i < nIn; i++) s += x[i]! * w1[i * nHidden + j]!;
      h[j] = Math.tanh(s);
    }
    for (let k = 0; k < nOut; k++) {
      let s = b2[k]!;
      for (let j = 0; j < nHidden; j++) s += h[j]! * w2[j * nOut + k]!;
      total += (s - ts[r]![k]!) ** 2;
    }
  });
  return total / (xs.length * nOut);
}

test('gradients of a small network agree with float64 finite differences of an independent JS loss', () => {
  const [nIn, nHidden, nOut] = [3, 4, 2];
  const net = fx.nn.Sequential([fx.nn.Dense(nHidden), fx.nn.tanh, fx.nn.Dense(nOut)]);
  const { params } = net.init(fx.random.key(3), [1, nIn]);
  const xs = [[0.5, -1, 2], [1.5, 0.25, -0.75], [-0.3, 0.8, 0.1]];
  const ts = [[1, 0], [0, 1], [0.5, -0.5]];
  const x = tf.tensor(xs);
  const t = tf.tensor(ts);
  const loss = (p: typeof params) => tf.mean(tf.square(tf.sub(net.apply({ params: p }, x), t)));
  const [value, grads] = fx.valueAndGrad(loss)(params);
  const arrays = {
    w1: Float64Array.from(params.layers_0.kernel.dataSync()), b1: Float64Array.from(params.layers_0.bias.dataSync()),
    w2: Float64Array.from(params.layers_2.kernel.dataSync()), b2: Float64Array.from(params.layers_2.bias.dataSync()),
  };
  const ref = () => referenceLoss(arrays.w1, arrays.b1, arrays.w2, arrays.b2, xs, ts, nIn, nHidden, nOut);
  assertClose(values(value), [ref()], 1e-5, 1e-5, 'loss');
  const pairs: Array<[keyof typeof arrays, tf.Tensor]> = [['w1', grads.layers_0.kernel], ['b1', grads.layers_0.bias], ['w2', grads.layers_2.kernel], ['b2', grads.layers_2.bias]];
  const eps = 1e-6;
  for (const [name, g] of pairs) {
    const a = arrays[name];
    const fd: number[] = [];
    for (let i = 0; i < a.length; i++) {
      const keep = a[i]!;
      a[i] = keep + eps;
      const up = ref();
      a[i] = keep - eps;
      const down = ref();
      a[i] = keep;
      fd.push((up - down) / (2 * eps));
    }
    assertClose(values(g), fd, 1e-5, 1e-3, name);
  }
  value.dispose();
  tf.dispose([grads, params, x, t]);
});

test('only the returned value and gradients stay alive; disposing them returns to the start', () => {
  const params = { a: tf.randomUniform([8, 8], -1, 1, 'float32', 1), b: tf.ones([8]) };
  const f = (p: typeof params) => tf.sum(tf.relu(tf.add(tf.matMul(p.a, p.a), p.b)));
  const before = tf.memory().numTensors;
  const [value, grads] = fx.valueAndGrad(f)(params);
  assert.is(tf.memory().numTensors - before, 3);
  value.dispose();
  fx.tree.dispose(grads);
  assert.is(tf.memory().numTensors, before);
  const { delta } = tensorDelta(() => fx.tree.dispose(fx.grad(f)(params)));
  assert.is(delta, 0);
  fx.tree.dispose(params);
});

test('hasAux returns [[value, aux], grads] with aux tensors alive and owned by the caller', () => {
  const w = tf.tensor([[1, 2], [3, 4]]);
  const x = tf.tensor([[1, 1]]);
  const f = (p: { w: tf.Tensor }, x: tf.Tensor) => {
    const y = tf.matMul(x, p.w);
    return [tf.sum(y), { y, label: 'hi', parts: [tf.max(y)] }] as const;
  };
  const before = tf.memory().numTensors;
  const [[value, aux], grads] = fx.valueAndGrad(f, { hasAux: true })({ w }, x);
  assert.is(tf.memory().numTensors - before, 4); // value, grad w, y, max(y)
  assertClose(values(value), [10]);
  assertClose(values(aux.y), [4, 6]);
  assertClose(values(aux.parts[0]!), [6]);
  assert.is(aux.label, 'hi');
  assertClose(values(grads.w), [1, 1, 1, 1]);
  tf.dispose([value, grads, aux.y, aux.parts[0]!]);
  assert.is(tf.memory().numTensors, before);
  const [g2, aux2] = fx.grad(f, { hasAux: true })({ w }, x);
  assertClose(values(g2.w), [1, 1, 1, 1]);
  tf.dispose([g2, aux2.y, aux2.parts[0]!]);
  assert.is(tf.memory().numTensors, before);
  tf.dispose([w, x]);
});

test('aux may return an input or a parameter; the caller gets its own handle', () => {
  const w = tf.tensor([2]);
  const [[value, aux], grads] = fx.valueAndGrad((p: tf.Tensor) => [tf.sum(tf.square(p)), p] as const, { hasAux: true })(w);
  aux.dispose();
  assert.not.ok(w.isDisposed);
  assertClose(values(grads), [4]);
  tf.dispose([value, grads, w]);
});

test('the gradient tree keeps the exact structure, empty subtrees included', () => {
  const params = { a: { b: tf.tensor([1, 2]) }, empty: {}, c: tf.scalar(3) };
  const g = fx.grad((p: typeof params) => tf.add(tf.sum(p.a.b), p.c))(params);
  assert.equal(Object.keys(g).sort(), ['a', 'c', 'empty']);
  assert.equal(g.empty, {});
  assertClose(values(g.a.b), [1, 1]);
  tf.dispose([g, params]);
});

test('a loss that returns a parameter itself still hands back a tensor of its own', () => {
  const p = { s: tf.scalar(2), t: tf.scalar(3) };
  const [value, grads] = fx.valueAndGrad((q: typeof p) => q.s)(p);
  assert.is.not(value, p.s);
  value.dispose();
  assert.not.ok(p.s.isDisposed);
  assertClose(values(grads.s), [1]);
  assertClose(values(grads.t), [0]);
  const g = fx.grad((q: typeof p) => tf.add(q.s, q.t))(p);
  assert.is.not(g.s, g.t);
  g.s.dispose();
  assertClose(values(g.t), [1]);
  tf.dispose([grads, g, p]);
});

test('a single tensor as params gives a single tensor gradient', () => {
  const x = tf.tensor([1, 2, 3]);
  const g = fx.grad((x: tf.Tensor) => tf.sum(tf.square(x)))(x);
  assert.ok(g instanceof tf.Tensor);
  assertClose(values(g), [2, 4, 6]);
  tf.dispose([g, x]);
});

test('a parameter the loss does not use gets a zero gradient', () => {
  const params = { used: tf.tensor([1, 2]), unused: tf.tensor([[5, 6, 7]]) };
  const g = fx.grad((p: typeof params) => tf.sum(p.used))(params);
  assert.equal(g.unused.shape, [1, 3]);
  assertClose(values(g.unused), [0, 0, 0]);
  assertClose(values(g.used), [1, 1]);
  tf.dispose([g, params]);
});

test('works inside tf.tidy: what the tidy returns survives, the rest is released', () => {
  const p = tf.tensor([3]);
  const before = tf.memory().numTensors;
  const g = tf.tidy(() => {
    const [value, grads] = fx.valueAndGrad((q: tf.Tensor) => tf.sum(tf.mul(q, q)))(p);
    void value;
    return grads;
  });
  assert.is(tf.memory().numTensors - before, 1);
  assertClose(values(g), [6]);
  tf.dispose([g, p]);
});

test('a loss that is not a scalar tensor is a FlaxenError, and nothing leaks', () => {
  const params = { w: tf.tensor([1, 2]) };
  const before = tf.memory().numTensors;
  assertThrows(() => fx.valueAndGrad((p: typeof params) => tf.square(p.w))(params), fx.FlaxenError, 'scalar', '[2]');
  assertThrows(() => fx.valueAndGrad((() => 3) as unknown as (p: typeof params) => tf.Tensor)(params), fx.FlaxenError, 'scalar tensor', 'number 3');
  assertThrows(
    () => fx.valueAndGrad(((p: typeof params) => [tf.sum(p.w), {}]) as unknown as (p: typeof params) => tf.Tensor)(params),
    fx.FlaxenError,
    'hasAux',
  );
  assertThrows(() => fx.valueAndGrad(((p: typeof params) => tf.sum(p.w)) as never, { hasAux: true })(params), fx.FlaxenError, '[loss, aux]');
  assert.is(tf.memory().numTensors, before);
  fx.tree.dispose(params);
});

test('an error thrown by the loss itself propagates unchanged and leaks nothing', () => {
  const params = { w: tf.tensor([1, 2]) };
  const before = tf.memory().numTensors;
  assert.throws(() => fx.grad((p: typeof params) => {
    tf.exp(tf.square(p.w));
    throw new RangeError('boom');
  })(params), /boom/);
  assert.is(tf.memory().numTensors, before);
  fx.tree.dispose(params);
});

test('dense layers keep their inputs for the backward pass without copies, with the same gradients as under tf.grads, and nothing leaks', () => {
  const net = fx.nn.Sequential([fx.nn.Dense(16), fx.nn.relu, fx.nn.Dense(3)]);
  const { params } = net.init(fx.random.key(4), [5, 7]);
  const x = tf.tensor(Float32Array.from({ length: 35 }, (_, i) => Math.sin(i)), [5, 7]);
  const loss = (p: typeof params) => tf.sum(tf.square(net.apply({ params: p }, x)));
  const before = tf.memory().numTensors;
  // Saving a tensor for the backward pass copies it with an Identity kernel.
  const { copies, stockCopies } = checkKeptInputs(loss, params, (p) => net.apply({ params: p }, x));
  // the two dense layers' inputs and kernels (4 tensors) are kept without copies, and the relu,
  // fused into the first Dense (its output kept as an alias), saves no copy of its input either
  assert.is(copies, stockCopies - 5, `Identity kernels: ${copies} with fx.valueAndGrad, ${stockCopies} with tf.grads`);
  // The kept handles are made directly on the same data, not by a Reshape kernel each: as many
  // Reshape kernels run as under tf.grads, which keeps nothing.
  const reshapes = countKernel('Reshape', () => fx.valueAndGrad(loss)(params));
  const stockReshapes = countKernel('Reshape', () => tf.grads((...ts: tf.Tensor[]) => loss(fx.tree.unflatten(fx.tree.flatten(params).map(([path], i) => [path, ts[i]!])) as typeof params))(fx.tree.leaves(params)));
  assert.is(reshapes[1], stockReshapes[1], `Reshape kernels: ${reshapes[1]} with fx.valueAndGrad, ${stockReshapes[1]} with tf.grads`);
  tf.dispose([reshapes[0][0], ...fx.tree.leaves(reshapes[0][1]), ...stockReshapes[0]]);
  // Nested: an inner fx.grad inside an outer one's loss (second order); nothing leaks.
  const outer = fx.grad((p: typeof params) => {
    const inner = fx.grad(loss)(p);
    const s = tf.addN((fx.tree.leaves(inner) as tf.Tensor[]).map((t) => tf.sum(t)));
    return s;
  });
  try {
    fx.tree.dispose(outer(params));
  } catch {
    // tfjs may lack a second-order gradient here; only the absence of leaks matters
  }
  assert.is(tf.memory().numTensors, before);
  fx.tree.dispose(params);
  x.dispose();
});

test('an empty batch among the arguments is a FlaxenError naming it, on every backend, leaving nothing behind', () => {
  // Before: on wasm the backward pass trapped (RuntimeError: divide by zero) and leaked the loss
  // value; on cpu the step returned a loss of 0. A mean over no examples is 0/0: refused.
  const net = fx.nn.Dense(3);
  const { params } = net.init(fx.random.key(0), [2, 5]);
  const loss = (p: typeof params, batch: { x: tf.Tensor; y: tf.Tensor }) =>
    tf.mean(fx.losses.softmaxCrossEntropyWithIntegerLabels(net.apply({ params: p }, batch.x), batch.y));
  const batch = { x: tf.zeros([0, 5]), y: tf.zeros([0], 'int32') };
  for (let i = 0; i < 2; i++) {
    const { delta } = tensorDelta(() => assertThrows(() => fx.valueAndGrad(loss)(params, batch), fx.FlaxenError, "argument 1 after params at 'x' is an empty tensor of shape [0, 5]", 'skip empty batches'));
    assert.is(delta, 0, 'nothing leaks');
  }
  // trainStep passes the batch through valueAndGrad: the same error, and the state stays usable.
  const state = fx.train.TrainState.create({ apply: net, params, tx: fx.optim.sgd(0.1) });
  const { delta } = tensorDelta(() => assertThrows(() => fx.train.trainStep(state, (p, b: typeof batch) => loss(p, b), batch), fx.FlaxenError, "at 'x' is an empty tensor"));
  assert.is(delta, 0);
  const x = tf.ones([2, 5]);
  const y = tf.tensor([0, 2], [2], 'int32');
  const { loss: value, state: next } = fx.train.trainStep(state, (p, b: typeof batch) => loss(p, b), { x, y });
  assert.ok(Number.isFinite(value));
  fx.tree.dispose(next.params);
  fx.tree.dispose(next.optState);
  tf.dispose([x, y, batch.x, batch.y]);
});

test('a disposed tensor among the arguments is a FlaxenError naming it', () => {
  const params = { w: tf.ones([2]) };
  const x = tf.ones([2]);
  x.dispose();
  assertThrows(() => fx.grad((p: typeof params, data: { x: tf.Tensor }) => tf.sum(tf.mul(p.w, data.x)))(params, { x }), fx.FlaxenError, "argument 1 after params at 'x' was disposed");
  // Cyclic arguments are walked once, not forever.
  const cyclic: Record<string, unknown> = { x: tf.ones([2]) };
  cyclic['self'] = cyclic;
  const g = fx.grad((p: typeof params, _c: unknown) => tf.sum(p.w))(params, cyclic);
  assertClose(values(g.w), [1, 1]);
  tf.dispose([g.w, cyclic['x'] as tf.Tensor, params.w]);
});

test('a loss through an op without a gradient (TopK) is a FlaxenError and leaks nothing, call after call', () => {
  const params = { w: tf.tensor([1, 2, 3]) };
  const loss = (p: typeof params) => tf.sum(tf.topk(tf.mul(p.w, 2), 2).values);
  for (let i = 0; i < 3; i++) {
    const { delta } = tensorDelta(() => assertThrows(() => fx.valueAndGrad(loss)(params), fx.FlaxenError, 'TopK'));
    assert.is(delta, 0, `call ${i}: nothing leaks (the loss value used to)`);
  }
  params.w.dispose();
});

test('bad params are FlaxenErrors naming the path', () => {
  const f = (p: any) => tf.sum(p.a);
  const int = tf.tensor([1], [1], 'int32');
  assertThrows(() => fx.grad(f)({ a: int }), fx.FlaxenError, 'a:', 'float32', 'int32');
  assertThrows(() => fx.grad(f)({ a: [1, 2] }), fx.FlaxenError, 'a:', 'tensor');
  assertThrows(() => fx.grad(f)({}), fx.FlaxenError, 'at least one tensor');
  const t = tf.tensor([1]);
  assertThrows(() => fx.grad(f)({ a: t, b: t }), fx.FlaxenError, "'a' and 'b'");
  const gone = tf.tensor([1]);
  gone.dispose();
  assertThrows(() => fx.grad(f)({ a: gone }), fx.FlaxenError, 'a:', 'disposed');
  assertThrows(() => fx.grad(3 as never), fx.FlaxenError, 'needs a function');
  assertThrows(() => fx.grad(f, { aux: true } as never), fx.FlaxenError, "'aux'");
  tf.dispose([t, int]);
});

test('gradients work in a fresh process that imports only the built flaxen entry point', () => {
  const entry = fileURLToPath(new URL('../../lib/index.js', import.meta.url));
  const code = `
    import * as fx from ${JSON.stringify(entry)};
    import * as tf from '@tensorflow/tfjs-core';
    await fx.ready();
    const x = tf.tensor([[1, 2], [3, 4]]);
    const p = { w: tf.tensor([[1, 0, -1], [2, 1, 0]]) };
    const g = fx.grad((p) => tf.sum(tf.relu(tf.matMul(x, p.w))))(p);
    const h = fx.grad((v) => tf.sum(tf.square(v)))(tf.tensor([1, 2, 3]));
    console.log(JSON.stringify({ backend: tf.getBackend(), g: Array.from(g.w.dataSync()), h: Array.from(h.dataSync()) }));
  `;
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', cwd: fileURLToPath(new URL('../../..', import.meta.url)), timeout: 60_000, killSignal: 'SIGKILL' });
  assert.is(result.status, 0, result.stderr);
  const out = JSON.parse(result.stdout.trim());
  assert.is(out.backend, 'wasm');
  // relu(x·w) = [[5, 2, 0], [11, 4, 0]]: units 0 and 1 active, unit 2 at 0 / negative → zero.
  assert.equal(out.g, [4, 4, 0, 6, 6, 0]);
  assert.equal(out.h, [2, 4, 6]);
});

test.run();
