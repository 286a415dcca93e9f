/**
 * Treating parameter groups differently: `masked` (apply a transformation to some leaves only)
 * and `multiTransform` (one transformation per label, e.g. freeze an encoder, or a smaller
 * learning rate for embeddings). Groups are chosen by a tree of booleans / labels, or by a
 * function of each leaf's `/`-joined path.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { FlaxenError, describeValue } from '../errors.js';
import { defineEntry, isNode } from '../tree/index.js';
import type { GradientTransformation, OptState } from './base.js';
import { alias, checkState, tidy } from './util.js';

/**
 * Chooses leaves: a tree of booleans shaped like the parameters (a boolean may stand for a whole
 * subtree), or a function of the leaf's `/`-joined path (and the leaf).
 *
 * @example
 * ```ts
 * const onlyKernels: fx.optim.Mask = (path) => path.endsWith('kernel');
 * const onlyDecoder: fx.optim.Mask = { encoder: false, decoder: true };
 * ```
 */
export type Mask = ((path: string, leaf: tf.Tensor) => boolean) | boolean | { readonly [key: string]: Mask };

/**
 * Labels leaves for {@link multiTransform}: a tree of strings shaped like the parameters (a string
 * may stand for a whole subtree), or a function of the leaf's `/`-joined path (and the leaf).
 *
 * @example
 * ```ts
 * const labels: fx.optim.Labels = (path) => (path.startsWith('Embed') ? 'embed' : 'rest');
 * ```
 */
export type Labels = ((path: string, leaf: tf.Tensor) => string) | string | { readonly [key: string]: Labels };

interface LeafEntry {
  readonly keys: readonly string[];
  readonly path: string;
  readonly leaf: tf.Tensor;
  readonly tag: unknown;
}

/** Walks `tree` with a prefix tree (or function) of tags; every leaf gets its tag. */
function tagLeaves(what: string, argName: string, tree: unknown, spec: unknown, check: (tag: unknown, path: string) => void): LeafEntry[] {
  const out: LeafEntry[] = [];
  const walk = (node: unknown, specNode: unknown, keys: string[]): void => {
    const path = keys.join('/');
    if (isNode(node)) {
      if (isNode(specNode)) {
        const nodeKeys = Object.keys(node).sort();
        const missing = nodeKeys.filter((k) => !Object.prototype.hasOwnProperty.call(specNode, k));
        const extra = Object.keys(specNode).filter((k) => !Object.prototype.hasOwnProperty.call(node, k));
        if (missing.length || extra.length) {
          const parts = [];
          if (missing.length) parts.push(`lacks [${missing.join(', ')}]`);
          if (extra.length) parts.push(`has [${extra.join(', ')}] that the tree does not have`);
          throw new FlaxenError(path, `${what}: the ${argName} tree ${parts.join(' and ')} (the tree has [${nodeKeys.join(', ')}])`);
        }
        for (const k of nodeKeys) walk(node[k], specNode[k], [...keys, k]);
        return;
      }
      for (const k of Object.keys(node).sort()) walk(node[k], specNode, [...keys, k]);
      return;
    }
    if (!(node instanceof tf.Tensor)) throw new FlaxenError(path, `${what}: expected a tree of tensors, found ${describeValue(node)} here`);
    if (isNode(specNode)) throw new FlaxenError(path, `${what}: the ${argName} tree has a subtree here, but the tree has a tensor`);
    const tag = typeof specNode === 'function' ? (specNode as (p: string, l: tf.Tensor) => unknown)(path, node) : specNode;
    check(tag, path);
    out.push({ keys, path, leaf: node, tag });
  };
  walk(tree, spec, []);
  return out;
}

/** Builds a frozen tree from leaves given by key lists (only the given leaves; no empty subtrees). */
function build(entries: ReadonlyArray<{ keys: readonly string[]; value: unknown }>): unknown {
  if (entries.length === 1 && entries[0]!.keys.length === 0) return entries[0]!.value;
  const root: Record<string, unknown> = {};
  for (const { keys, value } of entries) {
    let node = root;
    keys.forEach((k, i) => {
      if (i === keys.length - 1) defineEntry(node, k, value);
      else {
        if (!Object.prototype.hasOwnProperty.call(node, k)) defineEntry(node, k, {});
        node = node[k] as Record<string, unknown>;
      }
    });
  }
  const freezeAll = (n: unknown): unknown => {
    if (isNode(n)) {
      for (const k of Object.keys(n)) freezeAll(n[k]);
      Object.freeze(n);
    }
    return n;
  };
  return freezeAll(root);
}

/** Looks a leaf up by its key list. */
function lookup(tree: unknown, keys: readonly string[]): unknown {
  let node = tree;
  for (const k of keys) node = (node as Record<string, unknown>)[k];
  return node;
}

function checkTransform(what: string, name: string, t: unknown): void {
  const tx = t as GradientTransformation | null;
  if (tx === null || typeof tx !== 'object' || typeof tx.init !== 'function' || typeof tx.update !== 'function') {
    throw new FlaxenError('', `${what}: ${name} must be a gradient transformation {init, update}, found ${describeValue(t)}`);
  }
}

function checkBoolean(what: string) {
  return (tag: unknown, path: string): void => {
    if (typeof tag !== 'boolean') throw new FlaxenError(path, `${what}: the mask must give a boolean for every leaf, found ${describeValue(tag)}`);
  };
}

/** The tree of the given leaves only (their key paths kept, nothing else). */
function subtree(entries: readonly LeafEntry[]): unknown {
  return build(entries.map((e) => ({ keys: e.keys, value: e.leaf })));
}

/**
 * The state of {@link masked}: the inner transformation's state, built only for the selected leaves.
 *
 * @example
 * ```ts
 * const s: fx.optim.MaskedState = fx.optim.masked(fx.optim.scaleByAdam(), (p) => p === 'w').init({ w: tf.ones([2]), b: tf.ones([2]) });
 * ```
 */
export interface MaskedState {
  readonly [key: string]: unknown;
  /** The inner state; its trees hold only the leaves the mask selects. */
  readonly inner: OptState;
}

/**
 * Applies `inner` to the leaves the mask selects and passes the other updates through unchanged
 * (Optax's `masked`). The inner transformation sees, and keeps state for, only the selected
 * leaves: a masked-out subtree holds no moments.
 *
 * Ownership: as for every transformation (see {@link GradientTransformation}); passed-through
 * updates are new tensor objects that share the gradient's memory (no copy).
 *
 * @param inner - the transformation to apply to the selected leaves.
 * @param mask - which leaves (see {@link Mask}).
 * @example
 * ```ts
 * // Weight decay on kernels only, not on biases or norms:
 * const decay = fx.optim.masked(fx.optim.addDecayedWeights(1e-4), (path) => path.endsWith('kernel'));
 * ```
 */
export function masked(inner: GradientTransformation<any>, mask: Mask): GradientTransformation<MaskedState> {
  checkTransform('masked', 'inner', inner);
  checkMaskArg('masked', 'mask', mask);
  const select = (tree: unknown): LeafEntry[] => tagLeaves('masked', 'mask', tree, mask, checkBoolean('masked'));
  return Object.freeze({
    init: (params: unknown): MaskedState => {
      const chosen = select(params).filter((e) => e.tag === true);
      return Object.freeze({ inner: inner.init(subtree(chosen)) });
    },
    update: <G>(grads: G, state: MaskedState, params?: unknown): readonly [G, MaskedState] => {
      const { inner: innerState } = checkState('masked', state, ['inner']) as MaskedState;
      const entries = select(grads);
      const chosen = entries.filter((e) => e.tag === true);
      const chosenParams = params === undefined ? undefined : select(params).filter((e) => e.tag === true);
      return tidy(() => {
        const [u, s] = inner.update(subtree(chosen), innerState, chosenParams && subtree(chosenParams));
        // The inner updates are new tensors already; a passed-through gradient gets a new tensor
        // object sharing its memory, so the caller can dispose grads and updates separately.
        const updates = build(entries.map((e) => ({ keys: e.keys, value: e.tag === true ? lookup(u, e.keys) : alias(e.leaf) })));
        return Object.freeze([updates as G, Object.freeze({ inner: s as OptState })] as const);
      });
    },
  });
}

/**
 * The state of {@link multiTransform}: one inner state per label, each built only for the
 * leaves with that label.
 *
 * @example
 * ```ts
 * const tx = fx.optim.multiTransform({ a: fx.optim.sgd(0.1), b: fx.optim.setToZero() }, (p) => (p === 'w' ? 'a' : 'b'));
 * const s: fx.optim.MultiTransformState = tx.init({ w: tf.ones([2]), b: tf.ones([2]) });
 * ```
 */
export interface MultiTransformState {
  readonly [key: string]: unknown;
  /** The state of each label's transformation. */
  readonly innerStates: { readonly [label: string]: OptState };
}

/**
 * One transformation per group of leaves (Optax's `multi_transform`): each leaf gets a label from
 * `labels`, and the transformation `transforms[label]` updates all leaves with that label, with a
 * state of its own that covers only them. Freeze a group with {@link setToZero}. Every label must
 * name a transformation (an unknown label is a `FlaxenError` naming the leaf's path).
 *
 * Ownership: as for every transformation (see {@link GradientTransformation}).
 *
 * @param transforms - `{ [label]: transformation }`.
 * @param labels - a label per leaf (see {@link Labels}).
 * @example
 * ```ts
 * // Fine-tune the head, keep the pretrained backbone frozen:
 * const tx = fx.optim.multiTransform(
 *   { train: fx.optim.adam(1e-3), frozen: fx.optim.setToZero() },
 *   { params: { backbone: 'frozen', head: 'train' } },
 * );
 * ```
 */
export function multiTransform(transforms: { readonly [label: string]: GradientTransformation<any> }, labels: Labels): GradientTransformation<MultiTransformState> {
  if (!isNode(transforms)) throw new FlaxenError('', `multiTransform: transforms must be an object {label: transformation}, found ${describeValue(transforms)}`);
  const names = Object.keys(transforms).sort();
  for (const name of names) checkTransform('multiTransform', `transforms['${name}']`, transforms[name]);
  checkMaskArg('multiTransform', 'labels', labels);
  const checkLabel = (tag: unknown, path: string): void => {
    if (typeof tag !== 'string') throw new FlaxenError(path, `multiTransform: labels must give a string for every leaf, found ${describeValue(tag)}`);
    if (!Object.prototype.hasOwnProperty.call(transforms, tag)) {
      throw new FlaxenError(path, `multiTransform: the label '${tag}' has no transformation; known labels are [${names.join(', ')}]`);
    }
  };
  // A label tree can be checked now, before any parameter is seen.
  const walkLabels = (node: unknown, path: string): void => {
    if (isNode(node)) for (const k of Object.keys(node)) walkLabels(node[k], path === '' ? k : `${path}/${k}`);
    else if (typeof node !== 'function') checkLabel(node, path);
  };
  walkLabels(labels, '');
  const label = (tree: unknown): LeafEntry[] => tagLeaves('multiTransform', 'labels', tree, labels, checkLabel);
  return Object.freeze({
    init: (params: unknown): MultiTransformState => {
      const entries = label(params);
      const innerStates: Record<string, OptState> = {};
      for (const name of names) {
        const chosen = entries.filter((e) => e.tag === name);
        defineEntry(innerStates, name, transforms[name]!.init(subtree(chosen)));
      }
      return Object.freeze({ innerStates: Object.freeze(innerStates) });
    },
    update: <G>(grads: G, state: MultiTransformState, params?: unknown): readonly [G, MultiTransformState] => {
      const { innerStates } = checkState('multiTransform', state, ['innerStates']) as MultiTransformState;
      checkState('multiTransform', innerStates, names);
      const entries = label(grads);
      const paramEntries = params === undefined ? undefined : label(params);
      return tidy(() => {
        const next: Record<string, OptState> = {};
        const results: Record<string, unknown> = {};
        for (const name of names) {
          const chosen = entries.filter((e) => e.tag === name);
          const chosenParams = paramEntries?.filter((e) => e.tag === name);
          const [u, s] = transforms[name]!.update(subtree(chosen), innerStates[name]!, chosenParams && subtree(chosenParams));
          results[name] = u;
          defineEntry(next, name, s);
        }
        const updates = build(entries.map((e) => ({ keys: e.keys, value: lookup(results[e.tag as string], e.keys) })));
        return Object.freeze([updates as G, Object.freeze({ innerStates: Object.freeze(next) })] as const);
      });
    },
  });
}

function checkMaskArg(what: string, name: string, spec: unknown): void {
  const ok = typeof spec === 'function' || typeof spec === 'boolean' || typeof spec === 'string' || isNode(spec);
  if (!ok) throw new FlaxenError('', `${what}: ${name} must be a tree or a function of the path, found ${describeValue(spec)}`);
}
