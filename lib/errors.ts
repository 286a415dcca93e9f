/**
 * Errors raised on purpose by flaxen. Every message has the same form,
 * `<path>: <what was expected>, <what was found>`, so a user can tell which layer of which
 * model refused what.
 *
 * @module
 */

/** Formats a module path for messages; the root module is shown as `<root>`. */
export function formatPath(path: string): string {
  return path === '' ? '<root>' : path;
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
 * try { fx.nn.Dense(0); } catch (e) { if (e instanceof fx.FlaxenError) console.log(e.path, e.message); }
 * ```
 */
export class FlaxenError extends Error {
  /** The module path where the problem was found (`''` for the root or for a free function). */
  readonly path: string;
  /**
   * @param path - the module path, e.g. `layers_2` or `Block_0/Dense_1`.
   * @param detail - what was expected and what was found.
   */
  constructor(path: string, detail: string) {
    super(`${formatPath(path)}: ${detail}`);
    this.name = new.target.name;
    this.path = path;
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
 * // BatchNorm in training mode without `mutable: ['batch_stats']` raises it.
 * ```
 */
export class ImmutableCollectionError extends FlaxenError {}

/**
 * A tensor did not fit in memory: the wasm heap (at most 4 GiB) or, on the cpu backend, the same
 * budget for all live tensors. The message names the size asked for, where, and what is left.
 * Nothing was written: every live tensor keeps its values, and smaller work still runs.
 *
 * @example
 * ```ts
 * try { fx.nn.Dense(4).init(fx.random.key(0), [1, 1e9]); }
 * catch (e) { console.log(e instanceof fx.OutOfMemoryError); }
 * ```
 */
export class OutOfMemoryError extends FlaxenError {
  /** The bytes that were asked for. */
  readonly requestedBytes: number;
  /** At most this many bytes were left when the request failed (the memory may be fragmented). */
  readonly availableBytes: number;
  /**
   * @param path - where the memory was needed (a module or parameter path, or `''`).
   * @param detail - what was being allocated, the size and what is left.
   * @param requestedBytes - the bytes asked for.
   * @param availableBytes - the bytes left at most.
   */
  constructor(path: string, detail: string, requestedBytes: number, availableBytes: number) {
    super(path, detail);
    this.requestedBytes = requestedBytes;
    this.availableBytes = availableBytes;
  }
}

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
