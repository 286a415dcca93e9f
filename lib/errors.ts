/**
 * Errors raised on purpose by flaxen. Every message has the same form,
 * `<module path>: <what was expected>, <what was found>`, so a user can tell which layer of which
 * model refused what. Errors that are not about a module (an optimizer's options, a checkpoint
 * file, a random key) have no module path and no prefix. The error classes, a reproducer of
 * each and its fix: docs/errors.md.
 *
 * @module
 */

/**
 * The prefix of a message: the module path and a colon, or nothing when no module path
 * applies (the root module, a free function).
 */
export function formatPath(path: string): string {
  return path === '' ? '' : `${path}: `;
}

/**
 * How the error names a leaf of a tree, for messages: `at 'params/w'` (`at the root` for the
 * empty path, a tree that is itself a leaf).
 */
export function atLeaf(treePath: string): string {
  return treePath === '' ? 'at the root' : `at '${treePath}'`;
}

/**
 * Where an error was found besides the module path.
 *
 * @example
 * ```ts
 * const where: fx.ErrorLocation = { treePath: 'params/layers_0/kernel' };
 * ```
 */
export interface ErrorLocation {
  /**
   * The `/`-joined path of the tree leaf (or subtree) concerned, e.g. `params/layers_0/kernel`
   * in a variables tree or `w` in a tree of gradients.
   */
  readonly treePath?: string;
}

/** Formats a shape the way Python frameworks print them, e.g. `[2, 20]`. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/**
 * The base class of every error flaxen raises on purpose.
 *
 * @example
 * ```ts
 * try { fx.nn.Dense(0); } catch (e) { if (e instanceof fx.FlaxenError) console.log(e.message); }
 * // Dense(features) must be a positive integer, found number 0
 * ```
 */
export class FlaxenError extends Error {
  /**
   * The module path where the problem was found, e.g. `layers_2` (`''` for the root module and
   * for errors that are not about a module).
   */
  readonly path: string;
  /**
   * The path of the tree leaf concerned, when the error is about one (e.g.
   * `params/layers_0/kernel`, or `w` in a tree of gradients); undefined otherwise.
   */
  readonly treePath: string | undefined;
  /**
   * @param path - the module path, e.g. `layers_2` or `Block_0/Dense_1`; `''` when none applies.
   * @param detail - what was expected and what was found.
   * @param location - the tree path of the leaf concerned, if any.
   */
  constructor(path: string, detail: string, location: ErrorLocation = {}) {
    super(`${formatPath(path)}${detail}`);
    this.name = new.target.name;
    this.path = path;
    this.treePath = location.treePath;
  }
}

/**
 * A tensor or shape did not have the size a layer needs, e.g. parameters made for 20 input
 * features applied to 30.
 *
 * @example
 * ```ts
 * const net = fx.nn.Dense(4, { inFeatures: 20 });
 * try { net.init(fx.random.key(0), [2, 30]); } catch (e) { console.log(e instanceof fx.ShapeError); }
 * ```
 */
export class ShapeError extends FlaxenError {}

/**
 * `apply` needed a variable that the given tree does not have.
 *
 * @example
 * ```ts
 * try { fx.nn.Dense(2).apply({ params: {} }, tf.ones([1, 3])); }
 * catch (e) { console.log(e instanceof fx.MissingVariableError); }
 * ```
 */
export class MissingVariableError extends FlaxenError {}

/**
 * The variables given to `apply` hold entries that the model never uses (often a tree made for
 * another model).
 *
 * @example
 * ```ts
 * const vars = fx.nn.Dense(2).init(fx.random.key(0), [1, 3]);
 * try { fx.nn.Dense(2).apply({ params: { ...vars.params, extra: tf.ones([1]) } }, tf.ones([1, 3])); }
 * catch (e) { console.log(e instanceof fx.UnexpectedVariableError); }
 * ```
 */
export class UnexpectedVariableError extends FlaxenError {}

/**
 * A module asked for a random stream (e.g. `dropout`) that was not passed in `rngs`.
 *
 * @example
 * ```ts
 * const m = fx.nn.module('Noisy', (scope, x: tf.Tensor) => { scope.rng('noise'); return x; });
 * try { m.init(fx.random.key(0), [1]); } catch (e) { console.log(e instanceof fx.MissingRngError); }
 * ```
 */
export class MissingRngError extends FlaxenError {}

/**
 * A mutable collection was written while it was not listed in `mutable`.
 *
 * @example
 * ```ts
 * const net = fx.nn.BatchNorm();
 * const vars = net.init(fx.random.key(0), [2, 3]);
 * // Training mode updates batch_stats: without mutable: ['batch_stats'] it raises.
 * try { net.apply(vars, tf.ones([2, 3]), { train: true }); }
 * catch (e) { console.log(e instanceof fx.ImmutableCollectionError); }
 * ```
 */
export class ImmutableCollectionError extends FlaxenError {}

/** Describes a value briefly for an error message (`a string "x"`, `null`, `a Tensor of shape [2]`). */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)}`;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return `${typeof value} ${String(value)}`;
  if (typeof value === 'function') return `a function${value.name ? ` (${value.name})` : ''}`;
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  const ctor = (value as { constructor?: { name?: string } }).constructor?.name;
  const shape = (value as { shape?: unknown }).shape;
  if (Array.isArray(shape)) return `${ctor ?? 'an object'} of shape ${formatShape(shape as number[])}`;
  return ctor && ctor !== 'Object' ? `a ${ctor}` : 'an object';
}

/**
 * flaxen was used before a tfjs backend was set up: `await fx.ready()` was not called (or not
 * awaited) before the first `init`, `apply` or random draw.
 *
 * @example
 * ```ts
 * // Raised by init, apply and the samplers in a program that has not awaited fx.ready(); the
 * // message says to call `await fx.ready()` once at start-up.
 * function isSetUpMistake(e: unknown): boolean {
 *   return e instanceof fx.BackendNotReadyError;
 * }
 * ```
 */
export class BackendNotReadyError extends FlaxenError {}

/**
 * A tensor (or the whole set of variables `init` would draw) does not fit in the memory the
 * backend can use. The message names the size, what was being made and what is left; nothing
 * was allocated.
 *
 * @example
 * ```ts
 * // A 16 GB kernel: refused before anything is allocated.
 * try { fx.nn.Dense(4).init(fx.random.key(0), [1, 1e9]); }
 * catch (e) { console.log(e instanceof fx.OutOfMemoryError); }
 * ```
 */
export class OutOfMemoryError extends FlaxenError {}
