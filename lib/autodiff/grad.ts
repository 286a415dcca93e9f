/**
 * `valueAndGrad` and `grad`: gradients of a scalar loss with respect to a parameter tree,
 * built on tfjs-core's tape-based autodiff (the gradient registry is filled once by
 * `fx.ready()`'s module, see `register-gradients`).
 *
 * Ownership: the loss value, the gradients and the aux tensors are new tensors owned by the
 * caller; every intermediate tensor of the forward and backward passes is disposed.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { checkOptions, type OptionKinds } from '../check-options.js';
import { FlaxenError, describeValue, formatShape } from '../errors.js';
import { MapLeaves, flatten, isNode, map } from '../tree/index.js';
import { engineState } from '../tfjs-internals.js';
// Registers the one-step gradient of a full tf.mean (the batch mean of a loss).
import './mean-grad.js';

/**
 * The gradients of a parameter tree: the same structure, a tensor at every leaf.
 *
 * @example
 * ```ts
 * const params = { w: tf.ones([2]) };
 * const g: fx.Grads<typeof params> = fx.grad((p: typeof params) => tf.sum(p.w))(params);
 * ```
 */
export type Grads<P> = MapLeaves<P, tf.Tensor>;

/**
 * Options of {@link valueAndGrad} and {@link grad}.
 *
 * @example
 * ```ts
 * const opts: fx.GradOptions = { hasAux: true };
 * ```
 */
export interface GradOptions {
  /**
   * The loss returns `[loss, aux]` instead of `loss`; `aux` (any tree, e.g. `{logits}`) is
   * passed through undifferentiated and returned alongside the value. Default false.
   */
  readonly hasAux?: boolean;
}

const GRAD_OPTIONS: OptionKinds<GradOptions> = { hasAux: 'boolean' };

/**
 * A loss function: a scalar tensor from the parameters and any further arguments.
 *
 * @example
 * ```ts
 * const loss: fx.LossFn<{ w: tf.Tensor }, [tf.Tensor]> = (p, x) => tf.sum(tf.mul(p.w, x));
 * ```
 */
export type LossFn<P, A extends unknown[]> = (params: P, ...args: A) => tf.Tensor;
/**
 * A loss function with auxiliary outputs: `[scalar, aux]`.
 *
 * @example
 * ```ts
 * const loss: fx.LossFnWithAux<{ w: tf.Tensor }, [tf.Tensor], { y: tf.Tensor }> = (p, x) => {
 *   const y = tf.mul(p.w, x);
 *   return [tf.sum(y), { y }];
 * };
 * ```
 */
export type LossFnWithAux<P, A extends unknown[], Aux> = (params: P, ...args: A) => readonly [tf.Tensor, Aux];

// When the forward pass throws, tfjs leaves the tape (and the tensors it saved for the
// backward pass) behind; release them so that a failing loss does not leak.
function releaseTape(): void {
  const state = engineState();
  if (state && state.gradientDepth === 0 && state.activeTape) {
    for (const node of state.activeTape) for (const t of node.saved ?? []) t.dispose();
    state.activeTape = null;
  }
}

/** The engine members a direct alias uses (tfjs 4.22's; a version without them takes `tf.reshape`). */
interface AliasingEngine {
  readonly state?: { readonly tensorInfo?: { get(dataId: object): { readonly backend?: { incRef?: (dataId: object) => void } } | undefined } };
  makeTensorFromTensorInfo?(info: { dataId: object; shape: number[]; dtype: tf.DataType }, backend: unknown): tf.Tensor;
}

// A new tensor handle on the same data, tracked by the current scope. Reshape to the same
// shape shares the data buffer (reference-counted) on the wasm and cpu backends: no copy. Off
// the tape (`offTape`: inside keepForBackward) the handle is made directly, as tfjs's Reshape
// kernel makes it (one more reference on the backend, a tensor on the same data id), without
// the kernel's dispatch: a training step makes seven of these.
function alias(t: tf.Tensor, offTape = false): tf.Tensor {
  if (offTape && !t.isDisposed) {
    const engine = tf.engine() as unknown as AliasingEngine;
    const backend = engine.state?.tensorInfo?.get(t.dataId)?.backend;
    if (backend && typeof backend.incRef === 'function' && typeof engine.makeTensorFromTensorInfo === 'function') {
      backend.incRef(t.dataId);
      return engine.makeTensorFromTensorInfo({ dataId: t.dataId, shape: t.shape, dtype: t.dtype }, backend);
    }
  }
  return tf.reshape(t, t.shape);
}

// Tensors kept for the backward pass of the running `valueAndGrad` (see `keepForBackward`),
// disposed when it ends; undefined outside one.
let keptForBackward: tf.Tensor[] | undefined;

/**
 * @internal
 * For an op recording itself on the tape: keeps `tensors` for its backward pass as aliases (new
 * handles on the same data: no copy) that the running `valueAndGrad` disposes when it ends, or
 * returns undefined when the op must save them the usual way (`save`, which copies each tensor
 * on wasm). Aliases are given only for a first-order tape inside `fx.valueAndGrad`/`fx.grad`,
 * outside any kernel; under a user's own `tf.grads`, nested gradients or a custom gradient's
 * forward function, the op saves as tfjs does. Call it just before the op, outside its forward
 * function.
 */
export function keepForBackward(tensors: tf.Tensor[]): tf.Tensor[] | undefined {
  if (keptForBackward === undefined) return undefined;
  const state = engineState();
  if (!state || state.gradientDepth !== 1 || state.kernelDepth !== 0 || !state.activeTape) return undefined;
  const list = keptForBackward;
  // Off the tape (as inside a kernel): a taped reshape would save, i.e. copy, its input.
  state.kernelDepth++;
  try {
    return tensors.map((t) => {
      const kept = tf.keep(alias(t, true));
      list.push(kept);
      return kept;
    });
  } finally {
    state.kernelDepth--;
  }
}

function checkParams(params: unknown, fnName: string): Array<[string, tf.Tensor]> {
  const entries = flatten<unknown>(params);
  if (entries.length === 0) throw new FlaxenError('', `${fnName}: params must hold at least one tensor, found an empty tree`);
  const seen = new Map<number, string>();
  for (const [path, leaf] of entries) {
    if (!(leaf instanceof tf.Tensor)) throw new FlaxenError(path, `${fnName}: every leaf of params must be a tensor, found ${describeValue(leaf)}`);
    if (leaf.isDisposed) throw new FlaxenError(path, `${fnName}: this parameter was disposed (was it the params of a TrainState that has since been advanced?)`);
    if (leaf.dtype !== 'float32') throw new FlaxenError(path, `${fnName}: can only differentiate float32 parameters, found ${leaf.dtype}`);
    const other = seen.get(leaf.id);
    if (other !== undefined) {
      throw new FlaxenError(path, `${fnName}: params hold the same tensor at '${other || '<root>'}' and '${path || '<root>'}'; share a parameter by using one leaf, or clone it`);
    }
    seen.set(leaf.id, path);
  }
  return entries as Array<[string, tf.Tensor]>;
}

/**
 * Checks the tensors in the arguments after params (tensors, and trees and arrays of them): a
 * disposed tensor would fail deep inside tfjs, and an empty one (a batch of no examples) has no
 * defined loss: a mean over none is 0/0, which tfjs's cpu backend returns as 0 and its wasm
 * backend as left-over memory. Both are refused on every backend, naming the argument.
 */
function checkArgs(args: readonly unknown[], fnName: string): void {
  const seen = new Set<unknown>();
  const walk = (value: unknown, arg: number, path: string): void => {
    if (value instanceof tf.Tensor) {
      const where = `argument ${arg} after params${path === '' ? '' : ` at '${path}'`}`;
      if (value.isDisposed) throw new FlaxenError('', `${fnName}: the tensor in ${where} was disposed`);
      if (value.size === 0) {
        throw new FlaxenError('', `${fnName}: ${where} is an empty tensor of shape ${formatShape(value.shape)}: a loss over no examples is undefined (a mean over none is 0/0), so flaxen refuses it on every backend; skip empty batches`);
      }
      return;
    }
    if (!(isNode(value) || Array.isArray(value)) || seen.has(value)) return;
    seen.add(value);
    const keys = Object.keys(value);
    for (const key of keys) walk((value as Record<string, unknown>)[key], arg, path === '' ? key : `${path}/${key}`);
  };
  args.forEach((value, i) => walk(value, i + 1, ''));
}

function checkLoss(value: unknown, fnName: string, hasAux: boolean): tf.Tensor {
  if (!(value instanceof tf.Tensor)) {
    const hint = !hasAux && Array.isArray(value) ? ' (a loss that returns [loss, aux] needs { hasAux: true })' : '';
    throw new FlaxenError('', `${fnName}: the loss function must return a scalar tensor, found ${describeValue(value)}${hint}`);
  }
  if (value.rank !== 0) {
    throw new FlaxenError('', `${fnName}: the loss function must return a scalar tensor (shape []), found shape ${formatShape(value.shape)}; reduce it, e.g. with tf.mean`);
  }
  if (value.dtype !== 'float32') throw new FlaxenError('', `${fnName}: the loss must be float32, found ${value.dtype}`);
  return value;
}

function run(
  lossFn: (params: unknown, ...args: unknown[]) => unknown,
  hasAux: boolean,
  fnName: string,
  params: unknown,
  args: unknown[],
): { value: tf.Tensor; aux: unknown; grads: unknown } {
  const entries = checkParams(params, fnName);
  checkArgs(args, fnName);
  const xs = entries.map(([, t]) => t);
  // The loss value once the forward pass returned it: tfjs leaves it alive when the backward pass throws.
  let forwardValue: tf.Tensor | undefined;
  let auxKept: unknown = undefined;
  let keptTensors: tf.Tensor[] = [];
  let result: { value: tf.Tensor; grads: tf.Tensor[] };
  const outerKept = keptForBackward;
  const kept: tf.Tensor[] = [];
  keptForBackward = kept;
  try {
    result = tf.engine().gradients(
      () => {
        const out = lossFn(params, ...args);
        if (!hasAux) return (forwardValue = checkLoss(out, fnName, false));
        if (!Array.isArray(out) || out.length !== 2) {
          throw new FlaxenError('', `${fnName}: with { hasAux: true } the loss function must return [loss, aux], found ${describeValue(out)}`);
        }
        const value = checkLoss(out[0], fnName, true);
        // Aux tensors made inside the forward pass would be disposed with it: keep an alias of
        // each (no copy) and hand the caller a fresh, normally scoped alias afterwards.
        keptTensors = [];
        auxKept = mapTensors(out[1], (t) => {
          const kept = tf.keep(alias(t));
          keptTensors.push(kept);
          return kept;
        });
        return (forwardValue = value);
      },
      xs,
      undefined,
      true,
    ) as { value: tf.Tensor; grads: tf.Tensor[] };
  } catch (error) {
    releaseTape();
    // A value the backward pass failed on was made by the forward pass (it is the output of a
    // taped op), so it is ours to dispose, unless it is a parameter.
    if (forwardValue && !forwardValue.isDisposed && !xs.includes(forwardValue)) forwardValue.dispose();
    for (const t of keptTensors) t.dispose();
    for (const t of kept) t.dispose();
    if (error instanceof Error && !(error instanceof FlaxenError) && /gradient function not found|not registered for backend/.test(error.message)) {
      throw new FlaxenError('', `${fnName}: tfjs cannot differentiate an op in the loss: ${error.message}`);
    }
    throw error;
  } finally {
    keptForBackward = outerKept;
  }
  for (const t of kept) t.dispose();
  const handedOut = new Set<tf.Tensor>(xs);
  // The value and each gradient must be tensors of their own: never a parameter, never shared.
  const own = (t: tf.Tensor): tf.Tensor => {
    const out = handedOut.has(t) ? alias(t) : t;
    handedOut.add(out);
    return out;
  };
  const value = own(result.value);
  const grads = result.grads.map((g, i) => {
    const x = xs[i]!;
    if (g == null) return tf.zerosLike(x); // a parameter the loss does not use
    g = own(g);
    if (g.dtype !== x.dtype) {
      const cast = tf.cast(g, x.dtype);
      g.dispose();
      return cast;
    }
    return g;
  });
  const aux = hasAux ? mapTensors(auxKept, (t) => alias(t)) : undefined;
  for (const t of keptTensors) t.dispose();
  // tree.map keeps the structure exactly (empty subtrees included) and freezes it.
  const byPath = new Map(entries.map(([path], i) => [path, grads[i]!] as const));
  const gradTree = isNode(params) ? map(params, (_leaf: unknown, path: string) => byPath.get(path)!) : grads[0];
  return { value, aux, grads: gradTree };
}

// Maps the tensors of an aux value (a tensor, a tree, or an array of those); other leaves pass through.
function mapTensors(value: unknown, fn: (t: tf.Tensor) => tf.Tensor): unknown {
  if (value instanceof tf.Tensor) return fn(value);
  if (Array.isArray(value)) return Object.freeze(value.map((v) => mapTensors(v, fn)));
  if (isNode(value)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value)) Object.defineProperty(out, key, { value: mapTensors(value[key], fn), enumerable: true });
    return Object.freeze(out);
  }
  return value;
}

/**
 * Turns a scalar loss `lossFn(params, ...args)` into a function returning
 * `[value, grads]`: the loss and its gradient with respect to `params` (the first argument
 * only), a frozen tree of exactly the structure of `params`. With `{ hasAux: true }` the loss
 * returns `[loss, aux]` and the result is `[[value, aux], grads]`.
 *
 * `params` is any tree of float32 tensors (or a single tensor). A parameter the loss does not
 * use gets a zero gradient, as in JAX. The loss must return a scalar float32 tensor, anything
 * else is a `FlaxenError`.
 *
 * Ownership: `value`, `grads` and the tensors of `aux` are new tensors that the caller owns
 * (dispose them, e.g. with `fx.tree.dispose(grads)`); every intermediate is disposed.
 *
 * @example
 * ```ts
 * const net = fx.nn.Dense(1);
 * const { params } = net.init(fx.random.key(0), [4, 3]);
 * const x = tf.ones([4, 3]), y = tf.zeros([4, 1]);
 * const loss = (p: typeof params, x: tf.Tensor, y: tf.Tensor) =>
 *   tf.mean(tf.square(tf.sub(net.apply({ params: p }, x), y)));
 * const [value, grads] = fx.valueAndGrad(loss)(params, x, y);
 * grads.kernel.shape; // [3, 1]
 * value.dispose(); fx.tree.dispose(grads);
 * ```
 */
export function valueAndGrad<P, A extends unknown[]>(lossFn: LossFn<P, A>, opts?: GradOptions & { readonly hasAux?: false }): (params: P, ...args: A) => [tf.Scalar, Grads<P>];
export function valueAndGrad<P, A extends unknown[], Aux>(
  lossFn: LossFnWithAux<P, A, Aux>,
  opts: GradOptions & { readonly hasAux: true },
): (params: P, ...args: A) => [[tf.Scalar, Aux], Grads<P>];
export function valueAndGrad(lossFn: (params: unknown, ...args: unknown[]) => unknown, opts: GradOptions = {}): (params: unknown, ...args: unknown[]) => unknown {
  const hasAux = checkGradArguments(lossFn, opts, 'valueAndGrad');
  return (params: unknown, ...args: unknown[]) => {
    const { value, aux, grads } = run(lossFn, hasAux, 'valueAndGrad', params, args);
    return hasAux ? [[value, aux], grads] : [value, grads];
  };
}

/**
 * Like {@link valueAndGrad} but returns only the gradients (with `{ hasAux: true }`,
 * `[grads, aux]`, as JAX does); the loss value is disposed.
 *
 * @example
 * ```ts
 * const f = (x: tf.Tensor) => tf.sum(tf.square(x));
 * const g = fx.grad(f)(tf.tensor([1, 2, 3]));   // [2, 4, 6]
 * ```
 */
export function grad<P, A extends unknown[]>(lossFn: LossFn<P, A>, opts?: GradOptions & { readonly hasAux?: false }): (params: P, ...args: A) => Grads<P>;
export function grad<P, A extends unknown[], Aux>(lossFn: LossFnWithAux<P, A, Aux>, opts: GradOptions & { readonly hasAux: true }): (params: P, ...args: A) => [Grads<P>, Aux];
export function grad(lossFn: (params: unknown, ...args: unknown[]) => unknown, opts: GradOptions = {}): (params: unknown, ...args: unknown[]) => unknown {
  const hasAux = checkGradArguments(lossFn, opts, 'grad');
  return (params: unknown, ...args: unknown[]) => {
    const { value, aux, grads } = run(lossFn, hasAux, 'grad', params, args);
    value.dispose();
    return hasAux ? [grads, aux] : grads;
  };
}

/** Checks `valueAndGrad`'s and `grad`'s arguments; returns `hasAux`. */
function checkGradArguments(lossFn: unknown, opts: unknown, fnName: string): boolean {
  if (typeof lossFn !== 'function') throw new FlaxenError('', `${fnName}(lossFn) needs a function, found ${describeValue(lossFn)}`);
  return checkOptions<GradOptions>(fnName, opts, GRAD_OPTIONS).hasAux ?? false;
}

