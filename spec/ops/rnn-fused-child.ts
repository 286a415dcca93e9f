// The child process of spec/ops/rnn-fused-procs.spec.ts: on the wasm backend with the thread
// count given, it trains an RNN of OptimizedLSTMCell for a step (outputs, final carries, every
// gradient, with seqLengths and an initial carry) and applies it outside any gradient, from
// fixed data, and prints one JSON line: the sha256 of each result's bytes, the thread count in
// use and how often the fused kernels ran. Usage: node rnn-fused-child.js <threads>.
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../../lib/index.js';
import { wrapOwnKernels } from '../../lib/ops/kernel-hook.js';

const threads = Number(process.argv[2] ?? 1);
await fx.ready('wasm', { threads });
const calls: Record<string, number> = {};
wrapOwnKernels((name, fn) => (...args) => {
  if (name.startsWith('lstm_')) calls[name] = (calls[name] ?? 0) + 1;
  return fn(...args);
});

const hashOf = (tree: unknown): string => {
  const h = createHash('sha256');
  for (const [path, t] of fx.tree.flatten(tree as Record<string, unknown>)) h.update(path).update(new Uint8Array((t as tf.Tensor).dataSync().buffer));
  return h.digest('hex');
};

const [B, T, I, H] = [6, 11, 5, 13];
const rnn = fx.nn.RNN(fx.nn.OptimizedLSTMCell(H), { returnCarry: true, seqLengths: [11, 3, 0, 7, 11, 1] });
const params = rnn.init(fx.random.key(1), [B, T, I]).params;
const x = fx.random.normal(fx.random.key(2), [B, T, I]);
const carry = [fx.random.normal(fx.random.key(3), [B, H]), fx.random.normal(fx.random.key(4), [B, H])] as const;
const r = fx.random.normal(fx.random.key(5), [B, T, H]);
const loss = (p: { params: typeof params; c0: tf.Tensor; h0: tf.Tensor; x: tf.Tensor }) => {
  const [[c, h], ys] = (rnn.apply as any)({ params: p.params }, p.x, [p.c0, p.h0]) as [[tf.Tensor, tf.Tensor], tf.Tensor];
  return [tf.addN([tf.sum(tf.mul(ys, r)), tf.sum(c), tf.sum(tf.square(h))]), { ys, c, h }] as const;
};
const [[value, aux], grads] = fx.valueAndGrad(loss, { hasAux: true })({ params, c0: carry[0], h0: carry[1], x }) as any;
const training = { ...calls };
const [[c, h], ys] = (rnn.apply as any)({ params }, x, carry) as [[tf.Tensor, tf.Tensor], tf.Tensor];
const hashes = { loss: hashOf({ value }), outputs: hashOf(aux), grads: hashOf(grads), inference: hashOf({ c, h, ys }) };
console.log(JSON.stringify({ threads: fx.backendInfo().threads ?? 1, hashes, training, total: calls }));
