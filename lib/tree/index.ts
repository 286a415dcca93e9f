/**
 * Parameter trees: nested plain objects whose leaves are tensors (or shapes, or any other
 * non-plain value). Every function here walks keys in sorted order, as JAX does, so the
 * order of leaves never depends on how a tree was built. A tree must not contain itself (a
 * cycle is a `FlaxenError` naming both paths, not a stack overflow) and nests at most 1000
 * levels; the same subtree may appear at several places.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { FlaxenError, atLeaf, describeValue } from '../errors.js';

/** A nested record whose leaves are `L`. */
export type Tree<L = tf.Tensor> = L | { readonly [key: string]: Tree<L> };

/** JavaScript primitives: always leaves. */
export type Primitive = string | number | boolean | bigint | symbol | null | undefined;

/** The values that `map` treats as leaves at the type level. */
export type TypedLeaf = tf.Tensor | Primitive | readonly unknown[] | ShapeLike;

/** Anything with a shape and a dtype, such as a `ShapeDtype`: a leaf. */
export interface ShapeLike {
  /** The dimensions. */
  readonly shape: readonly number[];
  /** The element type. */
  readonly dtype: string;
}

/** The type of a tree after `map` replaced each leaf by an `R`. */
export type MapLeaves<T, R> = T extends TypedLeaf ? R : { readonly [K in keyof T]: MapLeaves<T[K], R> };

/** A deeply readonly view of a tree (what `init` returns). */
export type DeepReadonly<T> = T extends TypedLeaf ? T : { readonly [K in keyof T]: DeepReadonly<T[K]> };

/**
 * True for the containers of a tree: plain objects (prototype `Object.prototype` or `null`).
 * Everything else, tensors included, is a leaf.
 *
 * @example
 * ```ts
 * fx.tree.isNode({ a: 1 });        // true
 * fx.tree.isNode(tf.ones([2]));    // false
 * ```
 */
export function isNode(value: unknown): value is { readonly [key: string]: unknown } {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** The deepest nesting a walk follows; deeper is an error rather than a stack overflow. */
const MAX_DEPTH = 1000;

/**
 * The containers on the path of a recursive walk, with their paths: a container met again below
 * itself is a cycle (the walk would never end), and the nesting is bounded. Shared subtrees that
 * are not their own ancestors are fine.
 */
class Ancestors {
  private readonly paths = new Map<object, string>();
  constructor(private readonly fn: string) {}
  /** Enters `node` at `path`, or throws a FlaxenError naming both paths of a cycle. */
  enter(node: object, path: string): void {
    const outer = this.paths.get(node);
    if (outer !== undefined) {
      throw new FlaxenError('', `${this.fn}: a tree must not contain itself, but the subtree ${atLeaf(path)} is the same object as the one ${atLeaf(outer)} (a cycle)`, { treePath: path });
    }
    if (this.paths.size >= MAX_DEPTH) throw new FlaxenError('', `${this.fn}: trees nest at most ${MAX_DEPTH} levels, found a deeper subtree ${atLeaf(path)}`, { treePath: path });
    this.paths.set(node, path);
  }
  leave(node: object): void {
    this.paths.delete(node);
  }
}

function sortedKeys(node: object): string[] {
  const keys = Object.keys(node);
  // Trees are mostly built in sorted order (map, init): check before sorting (the same order:
  // both compare UTF-16 code units).
  for (let i = 1; i < keys.length; i++) if (keys[i - 1]! > keys[i]!) return keys.sort();
  return keys;
}

function joinPath(prefix: string, key: string): string {
  return prefix === '' ? key : `${prefix}/${key}`;
}

/**
 * Defines `key` on `target` as an own data property. Unlike `target[key] = v` this can never
 * reach a prototype setter, so keys such as `__proto__` stay plain data.
 */
export function defineEntry(target: Record<string, unknown>, key: string, value: unknown): void {
  // A name that nothing on the prototype chain has cannot meet a setter: a plain assignment then
  // makes the same own data property, and is much cheaper (trees are rebuilt at every step).
  if (!(key in Object.prototype) && Object.getPrototypeOf(target) === Object.prototype) target[key] = value;
  else Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * Freezes every container of a tree (leaves such as tensors are left alone) and returns it.
 *
 * @example
 * ```ts
 * const t = fx.tree.freeze({ a: { b: 1 } });
 * Object.isFrozen(t.a); // true
 * ```
 */
export function freeze<T>(tree: T): T {
  const ancestors = new Ancestors('freeze');
  const walk = (node: unknown, path: string): void => {
    if (!isNode(node)) return;
    ancestors.enter(node, path);
    for (const key of Object.keys(node)) walk(node[key], joinPath(path, key));
    ancestors.leave(node);
    Object.freeze(node);
  };
  walk(tree, '');
  return tree;
}

/**
 * Returns a new frozen tree with `fn(leaf, path)` at every leaf; `path` is `/`-joined.
 *
 * @example
 * ```ts
 * const vars = fx.nn.Dense(3).init(fx.random.key(0), [1, 2]);
 * fx.tree.map(vars, (t) => t.shape); // { params: { bias: [3], kernel: [2, 3] } }
 * ```
 */
export function map<T, R>(tree: T, fn: (leaf: any, path: string) => R): MapLeaves<T, R> {
  const ancestors = new Ancestors('map');
  const walk = (node: unknown, path: string): unknown => {
    if (!isNode(node)) return fn(node, path);
    ancestors.enter(node, path);
    const out: Record<string, unknown> = {};
    for (const key of sortedKeys(node)) defineEntry(out, key, walk(node[key], joinPath(path, key)));
    ancestors.leave(node);
    return Object.freeze(out);
  };
  return walk(tree, '') as MapLeaves<T, R>;
}

/**
 * Maps several trees of the same structure together: `fn([leafA, leafB, ...], path)`.
 * A difference in structure is a `FlaxenError` naming the first path where they differ.
 *
 * @example
 * ```ts
 * const sum = fx.tree.mapN([{ a: 1 }, { a: 2 }], ([x, y]) => x + y); // { a: 3 }
 * ```
 */
export function mapN<T, R>(trees: readonly [T, ...unknown[]], fn: (leaves: any[], path: string) => R): MapLeaves<T, R> {
  // The other trees must match the first, so the first bounds the walk.
  const ancestors = new Ancestors('mapN');
  const walk = (nodes: unknown[], path: string): unknown => {
    const first = nodes[0];
    if (!isNode(first)) {
      nodes.forEach((n, i) => {
        if (isNode(n)) throw new FlaxenError(path, `trees differ in structure: tree 0 has a leaf here, tree ${i} a subtree with keys [${sortedKeys(n).join(', ')}]`);
      });
      return fn(nodes, path);
    }
    const keys = sortedKeys(first);
    nodes.forEach((n, i) => {
      if (!isNode(n)) throw new FlaxenError(path, `trees differ in structure: tree 0 has a subtree here, tree ${i} has ${describeValue(n)}`);
      const other = sortedKeys(n);
      if (other.length !== keys.length || other.some((k, j) => k !== keys[j])) {
        throw new FlaxenError(path, `trees differ in structure: tree 0 has keys [${keys.join(', ')}], tree ${i} has [${other.join(', ')}]`);
      }
    });
    ancestors.enter(first, path);
    const out: Record<string, unknown> = {};
    for (const key of keys) defineEntry(out, key, walk(nodes.map((n) => (n as Record<string, unknown>)[key]), joinPath(path, key)));
    ancestors.leave(first);
    return Object.freeze(out);
  };
  return walk([...trees], '') as MapLeaves<T, R>;
}

/**
 * The `[path, leaf]` pairs of a tree in sorted path order; paths are `/`-joined.
 *
 * @example
 * ```ts
 * fx.tree.flatten({ params: { b: 1, a: 2 } }); // [['params/a', 2], ['params/b', 1]]
 * ```
 */
export function flatten<L = tf.Tensor>(tree: unknown): Array<[string, L]> {
  const out: Array<[string, L]> = [];
  const ancestors = new Ancestors('flatten');
  const walk = (node: unknown, path: string): void => {
    if (!isNode(node)) {
      out.push([path, node as L]);
      return;
    }
    ancestors.enter(node, path);
    for (const key of sortedKeys(node)) {
      // Such a key would make two different trees flatten to the same paths ('a/b' as one key or
      // as two levels), so a checkpoint of one would load as the other.
      if (key === '' || key.includes('/')) {
        throw new FlaxenError('', `flatten: tree keys must be non-empty and free of '/', which joins paths, found the key ${JSON.stringify(key)} ${atLeaf(path)}`, { treePath: path });
      }
      walk(node[key], joinPath(path, key));
    }
    ancestors.leave(node);
  };
  walk(tree, '');
  return out;
}

/**
 * Builds a frozen tree from `[path, leaf]` pairs (the inverse of `flatten`). Conflicting
 * paths (`a` and `a/b`) and empty path segments are errors.
 *
 * @example
 * ```ts
 * fx.tree.unflatten([['params/kernel', 1]]); // { params: { kernel: 1 } }
 * ```
 */
export function unflatten<L = tf.Tensor>(entries: Iterable<readonly [string, L]>): Tree<L> {
  const root: Record<string, unknown> = {};
  for (const [path, leaf] of entries) {
    const parts = path.split('/');
    if (parts.some((p) => p === '')) throw new FlaxenError(path, 'a tree path must not have empty segments');
    let node = root;
    parts.forEach((part, i) => {
      const existing = Object.prototype.hasOwnProperty.call(node, part) ? node[part] : undefined;
      if (i === parts.length - 1) {
        if (existing !== undefined) throw new FlaxenError(path, 'this path appears twice, or both as a leaf and as a subtree');
        defineEntry(node, part, leaf);
      } else {
        if (existing === undefined) {
          const child: Record<string, unknown> = {};
          defineEntry(node, part, child);
          node = child;
        } else if (isNode(existing)) {
          node = existing as Record<string, unknown>;
        } else {
          throw new FlaxenError(path, `'${parts.slice(0, i + 1).join('/')}' is a leaf, so it cannot hold a subtree`);
        }
      }
    });
  }
  return freeze(root) as Tree<L>;
}

/**
 * The leaves of a tree in sorted path order.
 *
 * @example
 * ```ts
 * fx.tree.leaves({ b: 2, a: 1 }); // [1, 2]
 * ```
 */
export function leaves<L = tf.Tensor>(tree: unknown): L[] {
  return flatten<L>(tree).map(([, leaf]) => leaf);
}

/**
 * @internal
 * The tensors of a tree appended to `out`, in no particular order, for bookkeeping such as
 * disposal (a training step collects the tensors of its trees several times): no paths, no
 * sorting. A tree nested deeper than {@link leaves} allows (or containing itself) gets
 * `leaves`' error.
 */
export function collectTensors(tree: unknown, out: tf.Tensor[] = []): tf.Tensor[] {
  const walk = (node: unknown, depth: number): void => {
    if (node instanceof tf.Tensor) out.push(node);
    else if (isNode(node)) {
      if (depth >= MAX_DEPTH) {
        leaves(tree); // throws the cycle or depth error, naming the path
        return;
      }
      for (const key in node) if (Object.prototype.hasOwnProperty.call(node, key)) walk(node[key], depth + 1);
    }
  };
  walk(tree, 0);
  return out;
}

/**
 * The number of scalars in a tree: the sum of the sizes of its leaves. Leaves may be
 * tensors or `{shape}` records (so it works on `initShapes` output too).
 *
 * @example
 * ```ts
 * const shapes = fx.nn.Dense(10).initShapes(fx.random.key(0), [1, 20]);
 * fx.tree.count(shapes); // 210
 * ```
 */
export function count(tree: unknown): number {
  let total = 0;
  for (const [path, leaf] of flatten<unknown>(tree)) {
    const shape = (leaf as { shape?: unknown } | null)?.shape;
    if (!Array.isArray(shape)) throw new FlaxenError(path, `expected a tensor or a {shape} leaf, found ${describeValue(leaf)}`);
    total += shape.reduce((a: number, b: number) => a * b, 1);
  }
  return total;
}

/**
 * Disposes every tensor in a tree (other leaves are ignored). Use it on trees you own:
 * the variables from `init`, the updates from an optimizer, the gradients. Arrays are walked
 * too (elsewhere an array is a leaf), so `dispose([a, b])` and `dispose([updates, state])` free
 * what the trees hold. A cycle is a `FlaxenError`, and then nothing is disposed.
 *
 * @example
 * ```ts
 * const vars = fx.nn.Dense(3).init(fx.random.key(0), [1, 2]);
 * const x = tf.ones([1, 2]);
 * fx.tree.dispose([vars, x]);
 * x.isDisposed;   // true
 * ```
 */
export function dispose(tree: unknown): void {
  const tensors: tf.Tensor[] = [];
  const ancestors = new Ancestors('dispose');
  const walk = (value: unknown, path: string): void => {
    if (value instanceof tf.Tensor) {
      tensors.push(value);
      return;
    }
    const isArray = Array.isArray(value);
    if (!isArray && !isNode(value)) return;
    ancestors.enter(value as object, path);
    if (isArray) (value as unknown[]).forEach((item, i) => walk(item, joinPath(path, String(i))));
    else for (const key of Object.keys(value as object)) walk((value as Record<string, unknown>)[key], joinPath(path, key));
    ancestors.leave(value as object);
  };
  walk(tree, '');
  for (const t of tensors) t.dispose();
}

/**
 * Looks up a `/`-joined path in a tree; `undefined` when any segment is missing. Only own
 * properties are followed, so `__proto__` or `constructor` never reach a prototype.
 *
 * @example
 * ```ts
 * fx.tree.get({ params: { kernel: 1 } }, 'params/kernel'); // 1
 * ```
 */
export function get(tree: unknown, path: string): unknown {
  let node = tree;
  for (const part of path === '' ? [] : path.split('/')) {
    if (!isNode(node) || !Object.prototype.hasOwnProperty.call(node, part)) return undefined;
    node = node[part];
  }
  return node;
}

/**
 * A one-line, Flax-like rendering of a tree: containers as `{key: ...}` in sorted order,
 * leaves with a shape as that shape (`[20, 256]`), other leaves as `String(leaf)`.
 *
 * @example
 * ```ts
 * const vars = fx.nn.Dense(256).init(fx.random.key(0), [2, 20]);
 * fx.tree.format(vars); // '{params: {bias: [256], kernel: [20, 256]}}'
 * ```
 */
export function format(tree: unknown, leafToString: (leaf: unknown) => string = defaultLeafString): string {
  const ancestors = new Ancestors('format');
  const walk = (node: unknown, path: string): string => {
    if (!isNode(node)) return leafToString(node);
    ancestors.enter(node, path);
    const text = `{${sortedKeys(node).map((key) => `${key}: ${walk(node[key], joinPath(path, key))}`).join(', ')}}`;
    ancestors.leave(node);
    return text;
  };
  return walk(tree, '');
}

function defaultLeafString(leaf: unknown): string {
  const shape = (leaf as { shape?: unknown } | null)?.shape;
  return Array.isArray(shape) ? `[${shape.join(', ')}]` : String(leaf);
}
