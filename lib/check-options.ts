/**
 * The one options checker of the library: every function that takes an options object (the
 * layers, `apply`, the optimizers, `valueAndGrad`) checks it here, so an unknown option and an
 * option of the wrong type are refused alike everywhere.
 *
 * The known names come from a record typed against the options interface
 * ({@link OptionKinds}), so the list cannot drift from the interface: a name missing from the
 * record, or one the interface does not have, fails to compile.
 *
 * @module
 */
import { FlaxenError, describeValue } from './errors.js';

/**
 * What an option must be at run time: checked here for `boolean`, `number`, `string` and
 * `function`; `any` leaves the value to the caller (ranges, arrays, unions).
 */
export type OptionKind = 'boolean' | 'number' | 'string' | 'function' | 'any';

/**
 * One entry per option of the options interface `T`, no more and no fewer (the compiler checks
 * both), giving its run-time kind.
 *
 * @example
 * ```ts
 * interface MyOptions { readonly useBias?: boolean; readonly scale?: number }
 * const kinds: fx.OptionKinds<MyOptions> = { useBias: 'boolean', scale: 'number' };
 * ```
 */
export type OptionKinds<T> = { readonly [K in keyof T]-?: OptionKind };

const EXPECTED: Record<Exclude<OptionKind, 'any'>, string> = {
  boolean: 'a boolean (true or false)',
  number: 'a number',
  string: 'a string',
  function: 'a function',
};

/** True for `{...}` literals (and `Object.create(null)`), not for tensors, arrays or class instances. @internal */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * Checks an options argument: `undefined` or a plain object whose every key is a known option
 * of the right kind (an option set to `undefined` counts as not given). Returns it typed, `{}`
 * for `undefined`. `where` names the function in the message, e.g. `Dense` or `adam`.
 *
 * @param where - the function's name as the message should show it.
 * @param opts - the options argument as given.
 * @param kinds - every known option and its kind.
 * @param path - the module path, for layers called inside a model (`''` otherwise).
 * @example
 * ```ts
 * interface ScaleOptions { readonly flip?: boolean }
 * const kinds: fx.OptionKinds<ScaleOptions> = { flip: 'boolean' };
 * fx.checkOptions<ScaleOptions>('scale', { flip: true }, kinds);   // { flip: true }
 * // fx.checkOptions('scale', { flip: 'yes' }, kinds) throws:
 * // "scale: option 'flip' must be a boolean (true or false), found the string "yes""
 * ```
 */
export function checkOptions<T>(where: string, opts: unknown, kinds: OptionKinds<T>, path = ''): T {
  if (opts === undefined) return {} as T;
  if (!isPlainObject(opts)) throw new FlaxenError(path, `${where}: options must be an object, found ${describeValue(opts)}`);
  const known = Object.keys(kinds);
  const unknown = Object.keys(opts).filter((k) => !Object.prototype.hasOwnProperty.call(kinds, k));
  if (unknown.length) {
    const list = known.length ? `known options are ${known.join(', ')}` : 'it takes no options';
    throw new FlaxenError(path, `${where}: unknown option ${unknown.map((k) => `'${k}'`).join(', ')}; ${list}`);
  }
  for (const name of known) {
    const kind = (kinds as Record<string, OptionKind>)[name]!;
    const value = opts[name];
    if (kind === 'any' || value === undefined) continue;
    const ok = kind === 'number' ? typeof value === 'number' && !Number.isNaN(value) : typeof value === kind;
    if (!ok) throw new FlaxenError(path, `${where}: option '${name}' must be ${EXPECTED[kind]}, found ${describeValue(value)}`);
  }
  return opts as T;
}
