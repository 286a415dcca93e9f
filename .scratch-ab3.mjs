import * as tf from '@tensorflow/tfjs-core';
import * as fx from './dist/lib/index.js';
await fx.ready();
const mlp = fx.nn.Sequential([fx.nn.Dense(256), fx.nn.relu, fx.nn.Dense(10)]);
const lossFn = (params, batch, state) => tf.mean(fx.losses.softmaxCrossEntropyWithIntegerLabels(state.apply({ params }, batch.x), batch.y));
const mk = () => fx.train.TrainState.create({ apply: mlp, params: mlp.init(fx.random.key(0), [64, 784]).params, tx: fx.optim.adam(1e-3) });
const x = fx.random.uniform(fx.random.key(1), [64, 784]); const y = tf.tensor1d(Array.from({length:64},(_, i)=>i%10),'int32');
const batch = { x, y };
const variants = {
  old: (state) => { const [v, g] = fx.valueAndGrad((p, bb) => lossFn(p, bb, state))(state.params, batch); const n = state.applyGradients(g); v.dataSync(); v.dispose(); return n; },
  oldPlusSums: (state) => { const [v, g] = fx.valueAndGrad((p, bb) => lossFn(p, bb, state))(state.params, batch);
     const r = tf.tidy(() => tf.concat([tf.reshape(v, [1]), ...fx.tree.leaves(g).map(t => tf.reshape(tf.sum(t), [1]))])); r.dataSync(); r.dispose();
     const n = state.applyGradients(g); v.dispose(); return n; },
  oldReadFirst: (state) => { const [v, g] = fx.valueAndGrad((p, bb) => lossFn(p, bb, state))(state.params, batch); v.dataSync(); const n = state.applyGradients(g); v.dispose(); return n; },
  trainStep: (state) => fx.train.trainStep(state, lossFn, batch).state,
};
const states = Object.fromEntries(Object.keys(variants).map(k => [k, mk()]));
const times = Object.fromEntries(Object.keys(variants).map(k => [k, []]));
const keys = Object.keys(variants);
for (let i = 0; i < 800; i++) { const order = i % 2 ? keys : [...keys].reverse(); for (const k of order) { const t = performance.now(); states[k] = variants[k](states[k]); if (i > 40) times[k].push(performance.now() - t); } }
const q = (xs, f) => { const s = [...xs].sort((p, q) => p - q); return s[Math.floor(s.length * f)]; };
for (const k of keys) console.log(k.padEnd(14), 'p25', q(times[k], .25).toFixed(2), 'median', q(times[k], .5).toFixed(2));
