import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import fs from 'fs';
await tf.setBackend('wasm'); await tf.ready();
const be = tf.backend();
const memory = be.wasm.asm?.memory ?? be.wasm.wasmMemory;
const inst = new WebAssembly.Instance(new WebAssembly.Module(fs.readFileSync('/tmp/gemm/gemm.wasm')), { env: { memory } });
const { gemm, pack_n, pack_t } = inst.exports;
const off = (t) => be.dataIdMap.get(t.dataId).memoryOffset;
const alloc = (shape) => tf.engine().makeTensorFromDataId(be.write(null, shape, 'float32'), shape, 'float32', be);
const MC = Number(process.env.MC ?? 64);
function mm(a, b, { ta = false, tb = false, bias, relu = false } = {}) {
  const [M, K] = ta ? [a.shape[1], a.shape[0]] : a.shape;
  const N = tb ? b.shape[0] : b.shape[1];
  const panels = Math.ceil(N / 8);
  const bp = alloc([panels * (8 + 8 * K)]);
  const c = alloc([M, N]);
  (tb ? pack_t : pack_n)(off(b), K, N, bias ? off(bias) : 0, off(bp));
  gemm(off(a), ta ? 1 : K, ta ? M : 1, off(bp), off(c), M, N, K, relu ? 1 : 0, MC);
  bp.dispose();
  return c;
}
function time(name, f, flops, reps = 100) {
  for (let i = 0; i < 5; i++) tf.dispose(f());
  const ts = [];
  for (let r = 0; r < 7; r++) { const t0 = performance.now(); for (let i = 0; i < reps; i++) tf.dispose(f()); ts.push((performance.now() - t0) / reps); }
  ts.sort((a, b) => a - b); console.log(name.padEnd(46), ts[3].toFixed(3), 'ms', (flops / ts[3] / 1e6).toFixed(1), 'GFLOPS');
}
const n = Number(process.argv[2] ?? 64);
const x = tf.randomNormal([n, 784]); const W = tf.randomNormal([784, 256]); const b = tf.randomNormal([256]); const dy = tf.randomNormal([n, 256]);
const F = 2 * n * 784 * 256;
// correctness
const exact = (p, q) => { const a = p.dataSync(), bb = q.dataSync(); let d = 0, same = 0; for (let i = 0; i < a.length; i++) { d = Math.max(d, Math.abs(a[i]-bb[i])); if (a[i]===bb[i]) same++; } return `maxdiff ${d} same ${same}/${a.length}`; };
console.log('NN vs matMul', exact(mm(x, W), tf.matMul(x, W)));
console.log('NN+bias+relu vs fused', exact(mm(x, W, { bias: b, relu: true }), tf.fused.matMul({ a: x, b: W, bias: b, activation: 'relu' })));
console.log('NT vs dy·Wt', exact(mm(dy, W, { tb: true }), tf.matMul(dy, tf.transpose(W))));
console.log('TN vs xT·dy', exact(mm(x, dy, { ta: true }), tf.matMul(tf.transpose(x), dy)));
const W2 = tf.randomNormal([256, 10]);
console.log('N=10 NN', exact(mm(dy, W2), tf.matMul(dy, W2)));
const odd = tf.randomNormal([7, 13]); const odd2 = tf.randomNormal([13, 11]);
console.log('odd', exact(mm(odd, odd2), tf.matMul(odd, odd2)), exact(mm(odd2, odd, {ta:true, tb:true}), tf.matMul(odd2, odd, true, true)));
time('xnn fwd new W', () => tf.tidy(() => tf.fused.matMul({ a: x, b: tf.add(W, 0), bias: b })), F);
time('xnn fwd cached W', () => tf.fused.matMul({ a: x, b: W, bias: b }), F);
time('own fwd NN (+bias)', () => mm(x, W, { bias: b }), F);
time('xnn dx = (W·dyT)T / dy·WT', () => tf.tidy(() => n < 784 ? tf.transpose(tf.matMul(W, tf.transpose(dy))) : tf.matMul(dy, tf.transpose(W))), F);
time('own dx NT', () => mm(dy, W, { tb: true }), F);
time('xnn dW = T(x)·dy', () => tf.tidy(() => tf.matMul(tf.transpose(x), dy)), F);
time('own dW TN', () => mm(x, dy, { ta: true }), F);
