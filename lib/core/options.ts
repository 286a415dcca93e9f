/**
 * Telling options from inputs. Inputs may be plain objects (`{a, b}`) or arrays of tensors, so
 * a trailing object is options only when it says so: either it was made by {@link options}, or
 * it is a plain object whose keys are all option names (`{ train: true }`, `{}`), the form
 * the docs use everywhere.
 *
 * @module
 */
import { FlaxenError, describeValue } from '../errors.js';
import { isPlainObject } from '../check-options.js';

const BRAND: unique symbol = Symbol('flaxen.options');

/**
 * Marks an object as the options of `apply` (or of `scope.call`), so it is never mistaken for
 * an input. Needed only when a module's last input is itself a plain object whose keys are all
 * option names (`train`, `rngs`, `mutable` for `apply`; `name` for `scope.call`); plain
 * `{ train: true }` works everywhere else. Returns a frozen copy, marked in a way only flaxen
 * reads (its type is that of `opts`).
 *
 * @param opts - the options.
 * @example
 * ```ts
 * // A module whose input is an object: options after it are unambiguous either way.
 * const Sum = fx.nn.module('Sum', (scope, x: { a: tf.Tensor; b: tf.Tensor }) => tf.add(x.a, x.b));
 * const vars = Sum.init(fx.random.key(0), { a: [1, 2], b: [1, 2] });
 * const y = Sum.apply(vars, { a: tf.ones([1, 2]), b: tf.ones([1, 2]) }, fx.options({ train: true }));
 * ```
 */
export function options<T extends object>(opts: T): T {
  if (!isPlainObject(opts)) throw new FlaxenError('', `options(opts) takes a plain object such as { train: true }, found ${describeValue(opts)}`);
  const out = { ...opts };
  Object.defineProperty(out, BRAND, { value: true, enumerable: false });
  return Object.freeze(out) as T;
}

/** True for an object made by {@link options}. @internal */
export function isBranded(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as { [BRAND]?: unknown })[BRAND] === true;
}

/** Drops trailing `undefined`s: `f(x, undefined)` means `f(x)`, as for any optional argument. @internal */
export function withoutTrailingUndefined(args: readonly unknown[]): unknown[] {
  let end = args.length;
  while (end > 0 && args[end - 1] === undefined) end--;
  return args.slice(0, end);
}

/**
 * Splits `args` into inputs and the trailing options object, if there is one: a branded object,
 * or a plain object whose keys are all in `names` (and, unless `allowEmpty`, at least one). @internal
 */
export function splitOptions(
  args: readonly unknown[],
  names: readonly string[],
  allowEmpty: boolean,
): { inputs: unknown[]; opts: Record<string, unknown> | undefined } {
  const trimmed = withoutTrailingUndefined(args);
  const last = trimmed[trimmed.length - 1];
  const keys = isPlainObject(last) ? Object.keys(last) : undefined;
  const isOptions = isBranded(last) || (keys !== undefined && (allowEmpty || keys.length > 0) && keys.every((k) => names.includes(k)));
  if (trimmed.length === 0 || !isOptions) return { inputs: trimmed, opts: undefined };
  return { inputs: withoutTrailingUndefined(trimmed.slice(0, -1)), opts: last as Record<string, unknown> };
}
