/**
 * The jax-js column of the anchors table: the models of bench/anchors/pytorch.py in jax-js
 * (`@jax-js/jax`, a devDependency), on its wasm device, each step one `jit`-compiled function
 * (forward, `valueAndGrad`, Adam). Usage: node dist/bench/anchors/jax.js; prints one JSON line,
 * or `{"skipped": ...}` when jax-js is not installed.
 *
 * jax-js runs its wasm kernels on Web Workers when the global `Worker` exists; Node has none, so
 * this is one thread. LeNet-5's convolutions take seconds per step here, so that figure uses
 * fewer rounds (see `LENET_ROUNDS`).
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { labels, record, timed } from './timing.js';

type Jax = typeof import('@jax-js/jax');
type JaxArray = import('@jax-js/jax').Array;
type Params = Record<string, JaxArray>;

let jax: Jax;
try {
  jax = await import('@jax-js/jax');
} catch (e) {
  console.log(JSON.stringify({ skipped: `jax-js is not installed (npm install @jax-js/jax): ${(e as Error).message.split('\n')[0]}` }));
  process.exit(0);
}
const { numpy: np, nn, lax } = jax;
await jax.init('wasm');
jax.defaultDevice('wasm');

const LENET_ROUNDS = 5;

/** Uniform in [-scale, scale) from a fixed linear congruential stream: no key needed. */
function uniform(shape: number[], scale: number, seed: number): JaxArray {
  const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
  let s = seed;
  for (let i = 0; i < values.length; i++) {
    s = (s * 16807) % 2147483647;
    values[i] = (s / 2147483647 - 0.5) * 2 * scale;
  }
  return np.array(values).reshape(shape);
}

/** A parameter tree of fresh references (jax-js functions take ownership of their arguments). */
const refs = (p: Params): Params => Object.fromEntries(Object.entries(p).map(([k, a]) => [k, a.ref]));

function dense(x: JaxArray, w: JaxArray, b: JaxArray): JaxArray {
  return np.matmul(x, w).add(b);
}

function mlpParams(): Params {
  return { w1: uniform([784, 256], 1 / 28, 1), b1: np.zeros([256]), w2: uniform([256, 10], 1 / 16, 2), b2: np.zeros([10]) };
}

function mlp(p: Params, x: JaxArray): JaxArray {
  return dense(nn.relu(dense(x, p['w1']!, p['b1']!)), p['w2']!, p['b2']!);
}

/** 2×2 max-pool, stride 2, NCHW (even sizes only, as LeNet-5's are). */
function pool(x: JaxArray): JaxArray {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  return np.max(x.reshape([n, c, h / 2, 2, w / 2, 2]), [3, 5]);
}

function lenetParams(): Params {
  return {
    c1: uniform([6, 1, 5, 5], 1 / 5, 3), cb1: np.zeros([1, 6, 1, 1]),
    c2: uniform([16, 6, 5, 5], 1 / 12, 4), cb2: np.zeros([1, 16, 1, 1]),
    w1: uniform([400, 120], 1 / 20, 5), b1: np.zeros([120]),
    w2: uniform([120, 84], 1 / 11, 6), b2: np.zeros([84]),
    w3: uniform([84, 10], 1 / 9, 7), b3: np.zeros([10]),
  };
}

/** LeNet-5 as in pytorch.py: conv 6 5×5 SAME, relu, pool, conv 16 5×5 VALID, relu, pool, 120, 84, 10. */
function lenet(p: Params, x: JaxArray): JaxArray {
  let h = pool(nn.relu(lax.conv(x, p['c1']!, [1, 1], 'SAME').add(p['cb1']!)));
  h = pool(nn.relu(lax.conv(h, p['c2']!, [1, 1], 'VALID').add(p['cb2']!)));
  h = nn.relu(dense(h.reshape([h.shape[0]!, 400]), p['w1']!, p['b1']!));
  h = nn.relu(dense(h, p['w2']!, p['b2']!));
  return dense(h, p['w3']!, p['b3']!);
}

function crossEntropy(logits: JaxArray, y: JaxArray): JaxArray {
  const batch = y.shape[0]!;
  return nn.logSoftmax(logits, -1).mul(nn.oneHot(y, 10)).sum().mul(-1 / batch);
}

/**
 * One Adam step (lr 1e-3, β 0.9, 0.999, ε 1e-8, as torch.optim.Adam) as one jit-compiled
 * function of (params, m, v, x, y, 1/(1-β1^t), 1/(1-β2^t)).
 */
function adamTrainer(forward: (p: Params, x: JaxArray) => JaxArray, params: Params, x: JaxArray, y: JaxArray): () => void {
  const valueAndGrad = jax.valueAndGrad((p: Params, xb: JaxArray, yb: JaxArray) => crossEntropy(forward(p, xb), yb));
  const step = jax.jit((p: Params, m: Params, v: Params, xb: JaxArray, yb: JaxArray, c1: JaxArray, c2: JaxArray) => {
    const [loss, g] = valueAndGrad(refs(p), xb, yb);
    const next: Params = {}, m2: Params = {}, v2: Params = {};
    for (const k of Object.keys(p)) {
      const gk = (g as Params)[k]!;
      m2[k] = m[k]!.mul(0.9).add(gk.ref.mul(0.1));
      v2[k] = v[k]!.mul(0.999).add(gk.ref.mul(gk).mul(0.001));
      const update = m2[k]!.ref.mul(c1.ref).div(np.sqrt(v2[k]!.ref.mul(c2.ref)).add(1e-8)).mul(1e-3);
      next[k] = p[k]!.sub(update);
    }
    c1.dispose();
    c2.dispose();
    return [next, m2, v2, loss] as [Params, Params, Params, JaxArray];
  });
  const zeros = () => Object.fromEntries(Object.entries(params).map(([k, a]) => [k, np.zerosLike(a.ref)]));
  let state: [Params, Params, Params] = [params, zeros(), zeros()];
  let t = 0;
  return () => {
    t++;
    const [p, m, v, loss] = step(...state, x.ref, y.ref, np.array(1 / (1 - 0.9 ** t)), np.array(1 / (1 - 0.999 ** t)));
    state = [p, m, v];
    loss.dataSync();
  };
}

const intLabels = (batch: number) => np.array(labels(batch), { dtype: np.int32 });
const version = (JSON.parse(readFileSync(new URL('../package.json', import.meta.resolve('@jax-js/jax')), 'utf8')) as { version: string }).version;
const out: Record<string, number | string> = { engine: `jax-js ${version} (wasm, jit)`, threads: 1 };
for (const batch of [64, 256]) record(out, `mlpStep${batch}`, timed(adamTrainer(mlp, mlpParams(), uniform([batch, 784], 1, 11), intLabels(batch)), batch === 64 ? 12 : 6));
record(out, 'lenetStep64', timed(adamTrainer(lenet, lenetParams(), uniform([64, 1, 28, 28], 1, 12), intLabels(64)), 1, LENET_ROUNDS, 2));
const params = mlpParams();
const x = uniform([256, 784], 1, 13);
const infer = jax.jit((p: Params, xb: JaxArray) => mlp(p, xb));
record(out, 'mlpInfer256', timed(() => infer(refs(params), x.ref).dataSync(), 10));
console.log(JSON.stringify(out));
