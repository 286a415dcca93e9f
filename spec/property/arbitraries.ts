// Generators of hostile inputs for the property suite: shapes (empty, ordinary, absurd), numbers
// (NaN, ±Infinity, −0, ±1e308, float32 extremes), any JS value a user might pass by mistake,
// option records, trees (nested, shared, sometimes cyclic), tensors and checkpoint bytes (valid,
// then truncated or overwritten). Each generator is small and shrinks toward the simplest case.
import fc from 'fast-check';

/** A dimension: mostly small (0 included), sometimes absurd. */
export const dim: fc.Arbitrary<number> = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0, max: 6 }) },
  { weight: 1, arbitrary: fc.constantFrom(2 ** 40, 1e12, 2 ** 53) },
);

/** A shape of rank `minRank` to `maxRank`. */
export function shape(minRank = 0, maxRank = 3): fc.Arbitrary<number[]> {
  return fc.array(dim, { minLength: minRank, maxLength: maxRank });
}

/** A shape of small dimensions only (1 to 5), for values that must be allocated. */
export function smallShape(minRank = 1, maxRank = 3): fc.Arbitrary<number[]> {
  return fc.array(fc.integer({ min: 1, max: 5 }), { minLength: minRank, maxLength: maxRank });
}

/** Numbers that break naive code. */
export const hostileNumber: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(Number.NaN, Infinity, -Infinity, -0, 0, 1, -1, 1e308, -1e308, 3.4028234663852886e38, -3.4028234663852886e38, 1e-45, 0.5, 2 ** 31, 2 ** 53, -7),
  fc.double({ noNaN: false }),
  fc.integer({ min: -10, max: 10 }),
);

/** Float32 values: ordinary ones, and the extremes (±Infinity included, no NaN). */
export const floatValue: fc.Arbitrary<number> = fc.oneof(
  { weight: 6, arbitrary: fc.float({ min: -10, max: 10, noNaN: true }) },
  { weight: 1, arbitrary: fc.constantFrom(-Infinity, 1e20, -1e20, 3e38, -3e38, 0, -0, 1e-30) },
);

/** Any JS value a caller might pass where something else was expected. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  hostileNumber,
  fc.constantFrom(undefined, null, true, false, '', 'yes', 'no', '0', [], {}, [1, 2], { a: 1 }, () => 1, Symbol('s'), 10n),
  fc.string({ maxLength: 8 }),
);

/** A boolean option, or something that is not a boolean. */
export const booleanOption: fc.Arbitrary<unknown> = fc.oneof({ weight: 3, arbitrary: fc.boolean() }, { weight: 2, arbitrary: hostileValue });

/** A positive integer count (features, units), or something that is not one. */
export const countOption: fc.Arbitrary<unknown> = fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 1, max: 6 }) }, { weight: 2, arbitrary: hostileValue });

/** A learning rate or hyperparameter: ordinary, or hostile. */
export const rateOption: fc.Arbitrary<unknown> = fc.oneof({ weight: 3, arbitrary: fc.double({ min: 0, max: 1, noNaN: true }) }, { weight: 2, arbitrary: hostileValue });

/** A key name for trees and options: ordinary, or one that collides with Object.prototype. */
export const keyName: fc.Arbitrary<string> = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom('a', 'b', 'w', 'kernel', 'bias', 'params', 'x') },
  { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'toString', '', 'a/b', 'hasOwnProperty') },
);

/** A description of a tree: nested records whose leaves are `leaf` values. */
export type TreeSpec<L> = L | { readonly [key: string]: TreeSpec<L> };

/** Trees of `leaf`, nested up to `depth` levels, with 0 to 3 keys per record. */
export function treeOf<L>(leaf: fc.Arbitrary<L>, depth = 3): fc.Arbitrary<TreeSpec<L>> {
  const { node } = fc.letrec<{ node: TreeSpec<L> }>((tie) => ({
    node: fc.oneof({ depthSize: 'small', withCrossShrink: true, maxDepth: depth }, leaf, fc.dictionary(keyName, tie('node'), { maxKeys: 3 })),
  }));
  return node;
}

/** Builds a real object tree from a spec; own data properties only (so `__proto__` is a plain key). */
export function buildTree<L, R>(spec: TreeSpec<L>, leaf: (l: L) => R, isLeaf: (v: unknown) => v is L): unknown {
  if (isLeaf(spec)) return leaf(spec);
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(spec)) Object.defineProperty(out, key, { value: buildTree((spec as Record<string, TreeSpec<L>>)[key]!, leaf, isLeaf), enumerable: true, writable: true, configurable: true });
  return out;
}

/** A tensor to make: its shape and values (hostile floats included). */
export interface TensorSpec {
  readonly shape: number[];
  readonly values: number[];
}

/** A float32 tensor spec of a small shape. */
export function tensorSpec(shapeArb: fc.Arbitrary<number[]> = smallShape(1, 3)): fc.Arbitrary<TensorSpec> {
  return shapeArb.chain((s) => {
    const size = s.reduce((a, b) => a * b, 1);
    return fc.array(floatValue, { minLength: size, maxLength: size }).map((values) => ({ shape: s, values }));
  });
}

/** How to damage a valid checkpoint file. */
export type Damage =
  | { readonly kind: 'truncate'; readonly at: number }
  | { readonly kind: 'overwrite'; readonly at: number; readonly bytes: number[] }
  | { readonly kind: 'length'; readonly value: bigint }
  | { readonly kind: 'header'; readonly text: string }
  | { readonly kind: 'random'; readonly bytes: number[] };

/** Damage to apply to checkpoint bytes; positions are fractions of the length (0 to 1). */
export const damage: fc.Arbitrary<Damage> = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: fc.integer({ min: 0, max: 1000 }) }),
  fc.record({ kind: fc.constant('overwrite' as const), at: fc.integer({ min: 0, max: 1000 }), bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('length' as const), value: fc.oneof(fc.bigInt({ min: 0n, max: 1000n }), fc.constantFrom(2n ** 63n, 2n ** 64n - 1n, 2n ** 32n, 100_000_000n)) }),
  fc.record({
    kind: fc.constant('header' as const),
    text: fc.oneof(
      fc.json({ maxDepth: 3 }),
      fc.constantFrom('{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', '{"a":{"dtype":"F32","shape":[1e9],"data_offsets":[0,4]}}', '{"a":{"dtype":"XX","shape":[1],"data_offsets":[0,4]}}', '{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}', '{"__proto__":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', '[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]'),
    ),
  }),
  fc.record({ kind: fc.constant('random' as const), bytes: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 64 }) }),
);

/** Applies `d` to a copy of `bytes`. */
export function applyDamage(bytes: Uint8Array, d: Damage): Uint8Array {
  const at = (fraction: number) => Math.min(bytes.length, Math.floor((fraction / 1000) * bytes.length));
  switch (d.kind) {
    case 'truncate':
      return bytes.slice(0, at(d.at));
    case 'overwrite': {
      const out = bytes.slice();
      d.bytes.forEach((b, i) => {
        if (at(d.at) + i < out.length) out[at(d.at) + i] = b;
      });
      return out;
    }
    case 'length': {
      const out = bytes.slice();
      if (out.length >= 8) new DataView(out.buffer).setBigUint64(0, d.value, true);
      return out;
    }
    case 'header': {
      const text = new TextEncoder().encode(d.text);
      const out = new Uint8Array(8 + text.length + 16);
      new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
      out.set(text, 8);
      return out;
    }
    case 'random':
      return Uint8Array.from(d.bytes);
  }
}
