// The properties of the public API: each generates hostile inputs for one area (layers and their
// options, training, losses, trees, optimizers, random draws, checkpoint bytes), calls flaxen
// through `guarded` (which checks the shared invariants: only FlaxenErrors, no leak, no live
// tensor changed, no hang) and, when the call succeeds, checks what it returned.
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../../lib/index.js';
import {
  applyDamage,
  booleanOption,
  buildTree,
  countOption,
  damage,
  floatValue,
  hostileNumber,
  hostileValue,
  rateOption,
  shape,
  smallShape,
  tensorSpec,
  treeOf,
  type TensorSpec,
} from './arbitraries.js';
import { Watched, expect, guarded } from './invariants.js';

/** A named property, built once the backend is ready. */
export interface NamedProperty {
  readonly name: string;
  readonly property: fc.IProperty<any>;
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);
const makeTensor = (spec: TensorSpec) => tf.tensor(spec.values, spec.shape, 'float32');

/** All properties; `watched` holds the live tensors none of them may change. */
export function properties(watched: Watched): NamedProperty[] {
  const liveNet = fx.nn.Dense(3);
  const liveVars = liveNet.init(fx.random.key(99), [2, 4]);
  for (const t of fx.tree.leaves(liveVars)) watched.add(t as tf.Tensor);

  const denseCase = fc.record({
    features: countOption,
    useBias: booleanOption,
    extra: fc.option(fc.record({ key: fc.constantFrom('useBias ', 'bias', 'kernel_init', 'name'), value: hostileValue }), { nil: undefined }),
    initShape: fc.oneof({ weight: 4, arbitrary: shape(0, 3) }, { weight: 1, arbitrary: hostileValue }),
    applyShape: smallShape(1, 3),
    applyFeatures: fc.option(fc.integer({ min: 0, max: 5 }), { nil: undefined }),
    values: fc.array(floatValue, { minLength: 1, maxLength: 8 }),
  });

  const layerKinds = ['Dense', 'relu', 'LayerNorm', 'RMSNorm', 'Dropout', 'BatchNorm'] as const;
  const trainCase = fc.record({
    layers: fc.array(fc.constantFrom(...layerKinds), { minLength: 1, maxLength: 4 }),
    batch: fc.integer({ min: 0, max: 4 }),
    features: fc.integer({ min: 1, max: 4 }),
    values: fc.array(floatValue, { minLength: 1, maxLength: 16 }),
    train: booleanOption,
  });

  const lossCase = fc.record({
    logits: fc.integer({ min: 0, max: 3 }).chain((batch) => fc.integer({ min: 1, max: 4 }).chain((classes) => tensorSpec(fc.constant([batch, classes])))),
    labels: fc.array(fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 3 }) }, { weight: 1, arbitrary: hostileNumber }), { maxLength: 4 }),
    asTensor: fc.constantFrom('int32', 'float32', 'js', 'onehot'),
  });

  const leafSpec = fc.oneof(fc.record({ t: smallShape(0, 2) }), hostileNumber, fc.constantFrom('s', null, undefined));
  const isLeafSpec = (v: unknown): v is unknown => v === null || typeof v !== 'object' || 't' in (v as object);
  const treeCase = fc.record({ spec: treeOf(leafSpec, 3), cycle: fc.boolean() });

  const optimizerNames = ['sgd', 'adam', 'adamw', 'rmsprop', 'adagrad', 'lion'] as const;
  const optimizerCase = fc.record({
    name: fc.constantFrom(...optimizerNames),
    rate: rateOption,
    clip: fc.option(rateOption, { nil: undefined }),
    shapes: fc.array(smallShape(0, 2), { minLength: 1, maxLength: 3 }),
    gradValues: fc.array(floatValue, { minLength: 1, maxLength: 8 }),
    mismatch: fc.constantFrom('none', 'shape', 'missing', 'disposed'),
  });

  // Finite float32 values, ordinary and huge (squares past float32), for the numerical property.
  const finiteValue = fc.oneof(
    { weight: 4, arbitrary: fc.float({ min: -10, max: 10, noNaN: true }) },
    { weight: 2, arbitrary: fc.constantFrom(1e20, -1e20, 3e37, 3e38, -3e38, 0, 1e-30) },
  );
  const normCase = fc.record({
    rows: fc.integer({ min: 1, max: 3 }),
    features: fc.constantFrom(2, 4, 6),
    values: fc.array(finiteValue, { minLength: 1, maxLength: 18 }),
    maxNorm: fc.constantFrom(1e-3, 0.5, 1, 1e6),
  });

  const randomCase = fc.record({
    seed: fc.oneof(fc.integer({ min: 0, max: 1000 }), hostileValue),
    split: fc.oneof(fc.integer({ min: 1, max: 4 }), hostileValue),
    shape: fc.oneof({ weight: 3, arbitrary: shape(0, 3) }, { weight: 1, arbitrary: hostileValue }),
    minval: fc.oneof(fc.double({ min: -5, max: 5, noNaN: true }), hostileNumber),
    maxval: fc.oneof(fc.double({ min: -5, max: 5, noNaN: true }), hostileNumber),
  });

  const checkpointCase = fc.record({ spec: treeOf(smallShape(0, 2), 2), damage });

  return [
    {
      name: 'Dense: any options and inputs give the right output shape or a FlaxenError',
      property: fc.property(denseCase, (c) => {
        const opts: Record<string, unknown> = { useBias: c.useBias };
        if (c.extra) opts[c.extra.key] = c.extra.value;
        const made = guarded(watched, () => fx.nn.Dense(c.features as number, opts as never));
        if (!made.ok) return;
        const net = made.value;
        const init = guarded(watched, () => net.init(fx.random.key(1), c.initShape as number[]), (vars) => {
          const shapes = fx.tree.map(vars, (t: tf.Tensor) => t.shape) as { params: { kernel: number[]; bias?: number[] } };
          expect(shapes.params.kernel[1] === c.features, `kernel ${shapes.params.kernel} for ${String(c.features)} features`);
          expect((shapes.params.bias !== undefined) === (c.useBias !== false), `bias ${JSON.stringify(shapes.params.bias)} with useBias ${String(c.useBias)}`);
        });
        if (!init.ok) return;
        const vars = net.init(fx.random.key(1), c.initShape as number[]);
        const inFeatures = (vars.params.kernel as tf.Tensor).shape[0]!;
        const xShape = [...c.applyShape, c.applyFeatures ?? inFeatures];
        const size = xShape.reduce((a, b) => a * b, 1);
        const x = tf.tensor(Array.from({ length: size }, (_, i) => c.values[i % c.values.length]!), xShape);
        guarded(watched, () => net.apply(vars, x), (y) => {
          expect(sameShape(y.shape, [...c.applyShape, c.features as number]), `output ${y.shape} for input ${xShape}`);
        }, [x]);
        fx.tree.dispose(vars);
      }),
    },
    {
      name: 'training a random stack on any batch (empty included) gives gradients of the params or a FlaxenError',
      property: fc.property(trainCase, (c) => {
        const layers = c.layers.map((k) => (k === 'Dense' ? fx.nn.Dense(c.features) : k === 'relu' ? fx.nn.relu : k === 'Dropout' ? fx.nn.Dropout(0.5) : fx.nn[k]()));
        const net = fx.nn.Sequential(layers);
        const init = guarded(watched, () => net.init({ params: fx.random.key(2), dropout: fx.random.key(3) }, [2, c.features]));
        if (!init.ok) return;
        const vars = net.init({ params: fx.random.key(2), dropout: fx.random.key(3) }, [2, c.features]) as { params: unknown };
        const size = c.batch * c.features;
        const x = tf.tensor(Array.from({ length: size }, (_, i) => c.values[i % c.values.length]!), [c.batch, c.features]);
        const loss = (p: unknown, xb: tf.Tensor) => {
          const out = net.apply({ ...vars, params: p } as never, xb, { train: c.train as boolean, rngs: { dropout: fx.random.key(4) }, mutable: ['batch_stats'] }) as unknown as [tf.Tensor, unknown];
          fx.tree.dispose(out[1]);
          return tf.mean(tf.square(out[0]));
        };
        guarded(watched, () => fx.valueAndGrad(loss)(vars.params, x), ([value, grads]) => {
          expect(value.rank === 0, 'a scalar loss');
          const a = fx.tree.flatten(grads).map(([p, t]) => `${p}:${(t as tf.Tensor).shape}`);
          const b = fx.tree.flatten(vars.params).map(([p, t]) => `${p}:${(t as tf.Tensor).shape}`);
          expect(a.join() === b.join(), `gradients ${a} for params ${b}`);
        }, [x]);
        fx.tree.dispose(vars);
      }),
    },
    {
      name: 'cross-entropies of any logits (masked included) and labels are >= 0 with finite gradients, or a FlaxenError',
      property: fc.property(lossCase, (c) => {
        const [batch, classes] = c.logits.shape as [number, number];
        const logits = makeTensor(c.logits);
        const labels =
          c.asTensor === 'js'
            ? c.labels
            : c.asTensor === 'onehot'
              ? tf.tensor(Array.from({ length: batch * classes }, (_, i) => (c.labels[Math.floor(i / classes)] === i % classes ? 1 : 0)), [batch, classes])
              : tf.tensor(c.labels.slice(0, batch), [Math.min(batch, c.labels.length)], c.asTensor as 'int32' | 'float32');
        const inputs = labels instanceof tf.Tensor ? [logits, labels] : [logits];
        const fn = c.asTensor === 'onehot' ? (z: tf.Tensor) => fx.losses.softmaxCrossEntropy(z, labels as tf.Tensor) : (z: tf.Tensor) => fx.losses.softmaxCrossEntropyWithIntegerLabels(z, labels as tf.Tensor);
        guarded(watched, () => tf.tidy(() => {
          const value = fn(logits);
          const grad = tf.grad((z: tf.Tensor) => tf.sum(fn(z)))(logits);
          return [value, grad];
        }), ([value, grad]) => {
          const v = Array.from(value!.dataSync());
          expect(v.every((x) => x >= 0), `losses ${v} (never negative, never NaN)`);
          const g = Array.from(grad!.dataSync());
          expect(g.every(Number.isFinite), `gradients ${g} for logits ${c.logits.values}`);
        }, inputs);
      }),
    },
    {
      name: 'tree functions round-trip any tree and refuse a cyclic one with a FlaxenError',
      property: fc.property(treeCase, (c) => {
        const made: tf.Tensor[] = [];
        const tree = buildTree(c.spec, (l) => (l !== null && typeof l === 'object' ? (made.push(tf.zeros((l as { t: number[] }).t)), made[made.length - 1]) : l), isLeafSpec);
        const cyclic = c.cycle && fx.tree.isNode(tree);
        if (cyclic) Object.defineProperty(tree, 'loop', { value: tree, enumerable: true });
        guarded(watched, () => {
          const flat = fx.tree.flatten(tree);
          const back = fx.tree.unflatten(flat);
          const again = fx.tree.flatten(back);
          expect(flat.length === again.length && flat.every(([p, l], i) => p === again[i]![0] && Object.is(l, again[i]![1])), 'flatten ∘ unflatten ∘ flatten is flatten');
          fx.tree.format(fx.tree.map(tree, (l: unknown) => l));
          return undefined;
        }, (v) => expect(!cyclic, `a cyclic tree was accepted (${String(v)})`));
        for (const t of made) t.dispose();
      }),
    },
    {
      name: 'optimizers with any hyperparameters and trees update and apply, or give a FlaxenError',
      property: fc.property(optimizerCase, (c) => {
        const make = () => {
          const inner = (fx.optim[c.name] as (lr: unknown) => fx.optim.GradientTransformation<any>)(c.rate);
          return c.clip === undefined ? inner : fx.optim.chain(fx.optim.clipByGlobalNorm(c.clip as number), inner);
        };
        const tx = guarded(watched, make);
        if (!tx.ok) return;
        const transform = make();
        const params: Record<string, tf.Tensor> = {};
        const grads: Record<string, tf.Tensor> = {};
        c.shapes.forEach((s, i) => {
          params[`p${i}`] = fx.random.normal(fx.random.key(i), s);
          const size = s.reduce((a, b) => a * b, 1);
          grads[`p${i}`] = tf.tensor(Array.from({ length: size }, (_, j) => c.gradValues[j % c.gradValues.length]!), s);
        });
        if (c.mismatch === 'shape') {
          grads['p0']!.dispose();
          grads['p0'] = tf.zeros([c.shapes[0]!.reduce((a, b) => a * b, 1) + 1]);
        }
        if (c.mismatch === 'missing') {
          grads['p0']!.dispose();
          delete grads['p0'];
        }
        if (c.mismatch === 'disposed') grads['p0']!.dispose();
        const live = [...Object.values(params), ...Object.values(grads).filter((t) => !t.isDisposed)];
        const state = transform.init(params);
        const snapshot = live.map((t) => Array.from(t.dataSync()).join());
        guarded(watched, () => {
          const [updates, next] = transform.update(grads, state, params);
          try {
            return [updates, next, fx.optim.applyUpdates(params, updates)];
          } catch (error) {
            // The case's own tensors, made before applyUpdates refused.
            fx.tree.dispose(updates);
            fx.tree.dispose(next);
            throw error;
          }
        }, ([updates, , applied]) => {
          for (const [path, p] of fx.tree.flatten(params)) {
            expect(sameShape((fx.tree.get(updates, path) as tf.Tensor).shape, p.shape), `update ${path}`);
            expect(sameShape((fx.tree.get(applied, path) as tf.Tensor).shape, p.shape), `applied ${path}`);
          }
        });
        expect(live.every((t, i) => Array.from(t.dataSync()).join() === snapshot[i]), 'the params and grads were not changed');
        fx.tree.dispose(state);
        for (const t of live) t.dispose();
      }),
    },
    {
      name: 'random keys and samplers give the asked shape with finite values, or a FlaxenError',
      property: fc.property(randomCase, (c) => {
        const key = guarded(watched, () => fx.random.key(c.seed as number));
        if (!key.ok) return;
        const k = key.value;
        guarded(watched, () => fx.random.split(k, c.split as number), (keys) => expect(keys.length === (c.split === undefined ? 2 : c.split), `${keys.length} keys for ${String(c.split)}`));
        for (const draw of [
          () => fx.random.normal(k, c.shape as number[]),
          () => fx.random.uniform(k, c.shape as number[], { minval: c.minval, maxval: c.maxval }),
          () => fx.random.truncatedNormal(k, c.shape as number[], c.minval, c.maxval),
        ]) {
          guarded(watched, draw, (t) => {
            expect(sameShape(t.shape, c.shape as number[]), `shape ${t.shape} for ${JSON.stringify(c.shape)}`);
            expect(t.dataSync().every(Number.isFinite), 'finite samples');
          });
        }
      }),
    },
    {
      name: 'normalizations and clipByGlobalNorm of finite values, huge ones included, agree with float64 statistics',
      property: fc.property(normCase, (c) => {
        const n = c.rows * c.features;
        const values = Array.from({ length: n }, (_, i) => c.values[i % c.values.length]!);
        const x = tf.tensor(values, [c.rows, c.features]);
        const xs = Array.from(x.dataSync());
        const groupOf = (size: number) => Array.from({ length: n / size }, (_, g) => xs.slice(g * size, (g + 1) * size));
        // Normalized over a group, y = c / sqrt(var + eps) has mean square var / (var + eps) (float64 here).
        const meanSquareOf = (group: number[], center: boolean) => {
          const mean = center ? group.reduce((a, b) => a + b, 0) / group.length : 0;
          const v = group.reduce((a, b) => a + (b - mean) ** 2, 0) / group.length;
          return v / (v + 1e-6);
        };
        const checkGroups = (what: string, y: tf.Tensor, size: number, center: boolean) => {
          const ys = Array.from(y.dataSync());
          expect(ys.every(Number.isFinite), `${what}: ${ys} for ${xs}`);
          groupOf(size).forEach((group, g) => {
            const got = ys.slice(g * size, (g + 1) * size).reduce((a, b) => a + b * b, 0) / size;
            const want = meanSquareOf(group, center);
            expect(Math.abs(got - want) <= 1e-2, `${what}: mean square ${got} for ${group}, float64 says ${want}`);
          });
        };
        const plain = { useScale: false, useBias: false };
        guarded(watched, () => fx.nn.LayerNorm(plain).apply({} as never, x), (y) => checkGroups('LayerNorm', y, c.features, true));
        guarded(watched, () => fx.nn.RMSNorm({ useScale: false }).apply({} as never, x), (y) => checkGroups('RMSNorm', y, c.features, false));
        const x3 = tf.reshape(x, [c.rows, 1, c.features]);
        guarded(watched, () => fx.nn.GroupNorm(2, plain).apply({} as never, x3), (y) => checkGroups('GroupNorm', y, c.features / 2, true), [x3]);
        // BatchNorm in training: each feature (column) over the rows; the running averages from
        // the initial zeros and ones are 0.01 · the float64 batch mean and 0.99 + 0.01 · its variance.
        const bn = fx.nn.BatchNorm({ ...plain, epsilon: 1e-6 });
        const columns = Array.from({ length: c.features }, (_, f) => xs.filter((_, i) => i % c.features === f));
        // Float32 sums err by a few ulps of the largest term (the mean of [-3e38, 0, 3e38] is not
        // exactly 0), hence `scale`, the share of the largest term in the compared value.
        const near32 = (got: number, want: number, scale: number, what: string) => {
          const w = Math.fround(want);
          // (a float64 value within a rounding of float32's largest may round either way)
          const ok = Number.isFinite(w) ? Math.abs(got - w) <= 1e-5 * Math.abs(w) + 1e-6 * scale + 1e-37 || (got === Infinity && Math.abs(w) > 3.3e38) : got === w;
          expect(ok, `BatchNorm ${what}: ${got}, float64 says ${want}, for ${xs}`);
        };
        guarded(watched, () => {
          const vars = bn.init(fx.random.key(0), [c.rows, c.features]);
          try {
            return bn.apply(vars, x, { train: true, mutable: ['batch_stats'] });
          } finally {
            fx.tree.dispose(vars);
          }
        }, ([y, updated]) => {
          const ys = Array.from(y.dataSync());
          expect(ys.every(Number.isFinite), `BatchNorm: ${ys} for ${xs}`);
          const [means, vars] = [updated.batch_stats!.mean.dataSync(), updated.batch_stats!.var.dataSync()];
          columns.forEach((column, f) => {
            const got = ys.filter((_, i) => i % c.features === f).reduce((a, b) => a + b * b, 0) / c.rows;
            const want = meanSquareOf(column, true);
            expect(Math.abs(got - want) <= 1e-2, `BatchNorm: mean square ${got} for ${column}, float64 says ${want}`);
            const mean = column.reduce((a, b) => a + b, 0) / column.length;
            const largest = Math.max(...column.map(Math.abs));
            near32(means[f]!, 0.01 * mean, 0.01 * largest, `running mean of ${column}`);
            near32(vars[f]!, 0.99 + 0.01 * (column.reduce((a, b) => a + (b - mean) ** 2, 0) / column.length), 0.01 * largest ** 2, `running var of ${column}`);
          });
        });
        const norm = Math.sqrt(xs.reduce((a, b) => a + b * b, 0));
        guarded(watched, () => {
          const clipper = fx.optim.clipByGlobalNorm(c.maxNorm);
          return clipper.update({ x }, clipper.init({}))[0].x;
        }, (u) => {
          const us = Array.from(u.dataSync());
          const clippedNorm = Math.sqrt(us.reduce((a, b) => a + b * b, 0));
          if (norm <= c.maxNorm * (1 - 1e-6)) expect(us.every((v, i) => Object.is(v, xs[i])), `clipByGlobalNorm(${c.maxNorm}) changed ${xs} (norm ${norm})`);
          else expect(Math.abs(clippedNorm - c.maxNorm) <= 1e-4 * c.maxNorm, `clipByGlobalNorm(${c.maxNorm}) of ${xs} (norm ${norm}) has norm ${clippedNorm}`);
        });
        x.dispose();
      }),
    },
    {
      name: 'checkpoint bytes, valid or damaged, decode to the saved tree or give a FlaxenError; decode never throws',
      property: fc.property(checkpointCase, (c) => {
        const made: tf.Tensor[] = [];
        const tree = { params: buildTree(c.spec, (s) => (made.push(fx.random.normal(fx.random.key(made.length), s as number[])), made[made.length - 1]), (v): v is number[] => Array.isArray(v)) };
        const saved = guarded(watched, () => fx.checkpoint.toBytes(tree));
        if (saved.ok) {
          const bytes = saved.value;
          guarded(watched, () => fx.checkpoint.fromBytes(bytes), (restored) => {
            for (const [path, t] of fx.tree.flatten(tree)) {
              const back = fx.tree.get(restored, path) as tf.Tensor;
              expect(back !== undefined && Array.from(back.dataSync()).join() === Array.from((t as tf.Tensor).dataSync()).join(), `restored ${path}`);
            }
          });
          const damaged = applyDamage(bytes, c.damage);
          guarded(watched, () => fx.checkpoint.fromBytes(damaged));
          guarded(watched, () => fx.checkpoint.readInfo(damaged));
          guarded(watched, () => {
            const either = fx.checkpoint.decode(damaged);
            return either._tag === 'Right' ? either.right : undefined;
          });
        }
        for (const t of made) t.dispose();
      }),
    },
  ];
}
