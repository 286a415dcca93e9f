import * as tf from '@tensorflow/tfjs-core';
import * as fx from './dist/lib/index.js';
await fx.ready();
const mlp = fx.nn.Sequential([fx.nn.Dense(256), fx.nn.relu, fx.nn.Dense(10)]);
const lossFn = (params, batch, state) => tf.mean(fx.losses.softmaxCrossEntropyWithIntegerLabels(state.apply({ params }, batch.x), batch.y));
const mk = () => fx.train.TrainState.create({ apply: mlp, params: mlp.init(fx.random.key(0), [64, 784]).params, tx: fx.optim.adam(1e-3) });
let a = mk(), b = mk();
const x = fx.random.uniform(fx.random.key(1), [64, 784]); const y = tf.tensor1d(Array.from({length:64},(_, i)=>i%10),'int32');
const batch = { x, y };
const oldStep = (state) => { const [v, g] = fx.valueAndGrad((p, bb) => lossFn(p, bb, state))(state.params, batch); const n = state.applyGradients(g); v.dataSync(); v.dispose(); return n; };
const ta = [], tb = [];
for (let i = 0; i < 30; i++) { a = fx.train.trainStep(a, lossFn, batch).state; b = oldStep(b); }
for (let i = 0; i < 1000; i++) {
  if (i % 2) { let t = performance.now(); a = fx.train.trainStep(a, lossFn, batch).state; ta.push(performance.now() - t);
  t = performance.now(); b = oldStep(b); tb.push(performance.now() - t); }
  else { let t = performance.now(); b = oldStep(b); tb.push(performance.now() - t); t = performance.now(); a = fx.train.trainStep(a, lossFn, batch).state; ta.push(performance.now() - t); }
}
const med = (xs) => { const s = [...xs].sort((p, q) => p - q); return s[s.length >> 1]; };
const q = (xs, f) => { const s = [...xs].sort((p, q) => p - q); return s[Math.floor(s.length * f)]; };
console.log(`with check median ${med(ta).toFixed(3)} ms (p25 ${q(ta,0.25).toFixed(3)}), without ${med(tb).toFixed(3)} ms (p25 ${q(tb,0.25).toFixed(3)}), ratio ${(med(ta)/med(tb)).toFixed(3)}`);
