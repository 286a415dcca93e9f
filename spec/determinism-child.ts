// The child process of spec/determinism.spec.ts: on the backend and thread count given, it draws
// a model's parameters from a key, trains it for a few Adam steps on data drawn from keys, and
// runs it once outside any gradient (where a threaded backend splits products across threads).
// It prints the sha256 of the parameters' bytes after init and after training, the losses'
// bits, and a sample of the trained parameters. Usage: node determinism-child.js <wasm|cpu> <threads>.
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../lib/index.js';

const backend = process.argv[2] === 'cpu' ? 'cpu' : 'wasm';
const threads = Number(process.argv[3] ?? 1);
await fx.ready(backend, { threads });

const hash = (tree: unknown) => {
  const h = createHash('sha256');
  for (const [path, t] of fx.tree.flatten(tree)) h.update(path).update(new Uint8Array((t as tf.Tensor).dataSync().buffer));
  return h.digest('hex');
};

const net = fx.nn.Sequential([fx.nn.Dense(64), fx.nn.relu, fx.nn.Dense(10)]);
const variables = net.init(fx.random.key(11), [32, 48]);
const initHash = hash(variables);
let state = fx.train.TrainState.create({ apply: net, params: variables.params, tx: fx.optim.adam(1e-2) });
const losses: number[] = [];
for (let step = 0; step < 5; step++) {
  const x = fx.random.normal(fx.random.foldIn(fx.random.key(12), step), [32, 48]);
  const next = fx.random.generator(fx.random.foldIn(fx.random.key(13), step));
  const y = tf.tensor1d(Array.from({ length: 32 }, () => Math.floor(next() * 10)), 'int32');
  const result = fx.train.trainStep(state, (p, b: { x: tf.Tensor; y: tf.Tensor }, s) => tf.mean(fx.losses.softmaxCrossEntropyWithIntegerLabels(s.apply({ params: p }, b.x) as tf.Tensor, b.y)), { x, y });
  state = result.state;
  losses.push(result.loss);
  tf.dispose([x, y]);
}
const probe = fx.random.normal(fx.random.key(14), [512, 48]);
const out = net.apply({ params: state.params }, probe) as tf.Tensor;
process.stdout.write(
  JSON.stringify({
    backend: tf.getBackend(),
    threads: fx.backendInfo().threads ?? 1,
    initHash,
    trainedHash: hash(state.params),
    outputHash: hash({ out }),
    losses,
    sample: Array.from((fx.tree.leaves(state.params)[0] as tf.Tensor).dataSync().slice(0, 16)),
  }) + '\n',
);
