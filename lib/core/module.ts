/**
 * Modules: immutable descriptions of computations with parameters. A module holds no
 * parameters and learns its input size only when `init` sees an input. `init` runs the body
 * on abstract values to find every parameter's shape, then draws each parameter from a key
 * derived from the root key and the parameter's path.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { FlaxenError, UnexpectedVariableError, describeValue, formatShape } from '../errors.js';
import { checkOptions, isPlainObject, type OptionKinds } from '../check-options.js';
import { bytesPerElement, checkFits, formatBytes, requireBackend } from '../backend-state.js';
import { Key, assertKey, foldIn, isKey } from '../random/key.js';
import { ShapeDtype, abstractInputs, isShape } from './shapes.js';
import { splitOptions, withoutTrailingUndefined } from './options.js';
import { explainMismatch } from './mismatch.js';
import { ModuleCall, RUNNABLE, RunContext, Runnable, Scope, VariableRecord } from './scope.js';
import { DeepReadonly, MapLeaves, defineEntry, flatten, isNode, unflatten } from '../tree/index.js';

/** A tree of variables by collection, e.g. `{ params: {...}, batch_stats: {...} }`. */
export type Variables = { readonly [collection: string]: any };

/** The random keys given to `init`/`apply`: one key (the `params` stream) or one per stream. */
export type Rngs = Key | { readonly [stream: string]: Key };

/**
 * Options of `apply`.
 *
 * @example
 * ```ts
 * const opts: fx.ApplyOptions = { train: true, rngs: { dropout: fx.random.key(1) }, mutable: ['batch_stats'] };
 * ```
 */
export interface ApplyOptions {
  /** Training mode: dropout is active, batch norm uses batch statistics. Default false. */
  readonly train?: boolean;
  /** Keys for random streams used while applying, e.g. `{ dropout: key }`. */
  readonly rngs?: Rngs;
  /** Collections that may change; then `apply` returns `[output, updatedCollections]`. `true` means all. */
  readonly mutable?: readonly string[] | true;
}

const APPLY_OPTIONS: OptionKinds<ApplyOptions> = { train: 'boolean', rngs: 'any', mutable: 'any' };
const APPLY_OPTION_NAMES = Object.keys(APPLY_OPTIONS);

/**
 * What `init` and `initShapes` take for an input of type `T`: the same value, where each tensor
 * may be given by its shape instead (`[2, 20]`), also inside tuples and records.
 *
 * @example
 * ```ts
 * const example: fx.InitInput<{ a: tf.Tensor; b: tf.Tensor }> = { a: [1, 2], b: tf.zeros([1, 5]) };
 * ```
 */
export type InitInput<T> = T extends tf.Tensor
  ? T | number[] | ShapeDtype
  : T extends readonly unknown[]
    ? { [K in keyof T]: InitInput<T[K]> }
    : T extends (...args: never[]) => unknown
      ? T
      : T extends object
        ? { [K in keyof T]: InitInput<T[K]> }
        : T;

/** Apply options with `mutable` given: `apply` then returns `[output, updated]`. */
export interface MutableApplyOptions extends ApplyOptions {
  readonly mutable: readonly string[] | true;
}

/** How a module describes itself for `describe()`: a one-line header and optional children. */
export interface Description {
  /** One line, e.g. `Dense(-1 -> 256)`. */
  readonly header: string;
  /** Children, by name, for containers such as `Sequential`. */
  readonly children?: ReadonlyArray<readonly [string, Describable]>;
}

/** A module as `describe` sees it: anything that can summarize itself given its variables. */
export interface DescribableModule {
  /** The module's one-line header and children, given its variables if known. */
  summarize(variables?: Variables): Description;
}

/** Anything `describe` can print: a module or a plain function. */
export type Describable = DescribableModule | ((...args: any[]) => any);

/** @internal The definition a layer gives to {@link Module}: built by the layers and `fx.nn.module`. */
export interface ModuleSpec {
  /** The type name used for auto-naming and display, e.g. `Dense`. */
  readonly type: string;
  /** A fixed name for this instance inside a parent (otherwise `<type>_<k>`). */
  readonly name?: string;
  /** True when the body handles `ShapeDtype` inputs itself. */
  readonly abstractSafe: boolean;
  /**
   * Positions of inputs that are data even as arrays of numbers (RNN's `seqLengths`): `init`
   * passes them to the body as given, and `apply` does not refuse them as shapes.
   */
  readonly numberInputs?: readonly number[];
  /** The computation. */
  readonly body: (scope: Scope, ...inputs: any[]) => unknown;
  /** One line (and children) for `describe`, given this module's own variables if known. */
  readonly summarize?: (variables?: Variables) => Description;
}

function toRngs(rngs: unknown, what: string): Record<string, Key> {
  if (isKey(rngs)) return { params: rngs };
  if (!isNode(rngs)) throw new FlaxenError('', `${what} must be a key from fx.random.key(seed) or an object of keys like { params: key }, found ${describeValue(rngs)}`);
  const out: Record<string, Key> = {};
  for (const stream of Object.keys(rngs)) {
    assertKey(rngs[stream], `${what}.${stream}`);
    defineEntry(out, stream, rngs[stream]);
  }
  return out;
}

function toMutable(mutable: unknown): ReadonlySet<string> | 'all' {
  if (mutable === undefined || mutable === false) return new Set();
  if (mutable === true) return 'all';
  if (Array.isArray(mutable) && mutable.every((c) => typeof c === 'string')) return new Set(mutable);
  throw new FlaxenError('', `apply: mutable must be an array of collection names or true, found ${describeValue(mutable)}`);
}

/** Selects, in every collection, the subtree at `name` (for describing children). */
export function childVariables(variables: Variables | undefined, name: string): Variables | undefined {
  if (!variables) return undefined;
  const out: Record<string, unknown> = {};
  for (const collection of Object.keys(variables)) {
    const sub = variables[collection];
    if (isNode(sub) && Object.prototype.hasOwnProperty.call(sub, name)) defineEntry(out, collection, sub[name]);
  }
  return out;
}

/**
 * A module: an immutable description of a computation with parameters. The type parameter `V`
 * is the shape of its variables tree, so `init`'s result is typed down to each parameter.
 *
 * @typeParam V - the variables tree, e.g. `{ params: { kernel: Tensor; bias: Tensor } }`.
 * @typeParam In - the inputs of `apply`.
 * @typeParam Out - the output of `apply`.
 *
 * @example
 * ```ts
 * const net = fx.nn.Sequential([fx.nn.Dense(256), fx.nn.relu, fx.nn.Dense(10)]);
 * const variables = net.init(fx.random.key(0), [2, 20]);
 * const y = net.apply(variables, tf.ones([5, 20]));   // shape [5, 10]
 * ```
 */
export class Module<V extends Variables = Variables, In extends unknown[] = [tf.Tensor], Out = tf.Tensor> {
  /** @internal */
  readonly [RUNNABLE]: Runnable;
  /** The type name, e.g. `Dense`. */
  readonly type: string;
  /** The fixed name given at construction, if any. */
  readonly name: string | undefined;
  /** @internal Type-level only: the variables tree. */
  declare readonly __variables?: V;
  private readonly spec: ModuleSpec;
  /** How many inputs the body takes at most (built-in layers), or Infinity when unknown. */
  private readonly maxInputs: number;

  /** @internal Modules are made by the layers and by `fx.nn.module`. */
  constructor(spec: ModuleSpec) {
    this.spec = spec;
    this.type = spec.type;
    this.name = spec.name;
    // Built-in layers declare their inputs as plain parameters, so their count bounds how many a
    // caller may pass: an extra input is a mistake, not something to ignore. (Custom bodies may
    // use defaults or rest parameters, where Function.length says nothing; they are not checked.)
    const maxInputs = spec.abstractSafe && spec.body.length > 1 ? spec.body.length - 1 : Infinity;
    this.maxInputs = maxInputs;
    this[RUNNABLE] = {
      type: spec.type,
      name: spec.name,
      abstractSafe: spec.abstractSafe,
      run: (scope, inputs) => {
        if (inputs.length > maxInputs) {
          const last = inputs[inputs.length - 1];
          const hint = isPlainObject(last)
            ? ` (the last is an object with keys ${Object.keys(last).map((k) => `'${k}'`).join(', ') || 'none'}; if it was meant as options: apply takes ${APPLY_OPTION_NAMES.join(', ')})`
            : '';
          throw new FlaxenError(scope.path, `${spec.type} takes ${maxInputs === 1 ? 'one input' : `at most ${maxInputs} inputs`}, found ${inputs.length}${hint}`);
        }
        return spec.body(scope, ...inputs);
      },
    };
    Object.freeze(this);
  }

  private record(rngs: Rngs, inputs: unknown[], observer?: (call: ModuleCall) => void): Map<string, VariableRecord> {
    const context = new RunContext('init', true, toRngs(rngs, 'init(rngs, ...inputs): rngs'), false, new Set());
    context.observer = observer;
    inputs = withoutTrailingUndefined(inputs);
    if (inputs.length === 0 && this.spec.body.length > 1) {
      throw new FlaxenError('', `init needs example inputs (tensors or shapes such as [2, 20]) to infer the sizes of ${this.type}`);
    }
    const numberInputs = this.spec.numberInputs ?? [];
    const abstract = abstractInputs(inputs.map((input, i) => (numberInputs.includes(i) ? undefined : input)));
    new Scope(context, []).run(this[RUNNABLE], abstract.map((a, i) => (numberInputs.includes(i) ? inputs[i] : a)));
    return context.records;
  }

  /**
   * Runs shape inference and reports every module run (path, type, abstract inputs and output,
   * in completion order: children before parents) with the variable records. Allocates no
   * parameter. The basis of `tabulate`.
   * @internal
   */
  trace(rngs: Rngs, ...inputs: unknown[]): { calls: ModuleCall[]; records: Map<string, VariableRecord> } {
    const calls: ModuleCall[] = [];
    const records = this.record(rngs, inputs, (call) => calls.push(call));
    return { calls, records };
  }

  /**
   * Infers every parameter's shape from the inputs, then draws the parameters. Inputs may be
   * tensors or plain shapes (`[2, 20]`). Each parameter's key is `rngs.params` folded with its
   * path, so adding a layer never changes the values of the others. Returns a deeply frozen tree.
   *
   * @param rngs - a key (the `params` stream) or `{ params: key, ...otherStreams }`.
   * @param inputs - example inputs: tensors or shapes.
   */
  init(rngs: Rngs, ...inputs: { [K in keyof In]: InitInput<In[K]> }): DeepReadonly<V> {
    requireBackend('init');
    const records = this.record(rngs, inputs);
    const roots = toRngs(rngs, 'init(rngs, ...inputs): rngs');
    const paramsKey = roots['params'];
    checkInitFits(records);
    const entries: Array<[string, tf.Tensor]> = [];
    try {
      for (const [path, rec] of records) {
        if (rec.collection === 'params' && paramsKey === undefined) {
          throw new FlaxenError(rec.path.join('/'), `init needs the 'params' random stream to draw '${path}'; pass a key or { params: key }`);
        }
        let k = paramsKey ?? new Key(0, 0);
        for (const part of rec.path) k = foldIn(k, part);
        k = foldIn(k, `${rec.collection}:${path.split('/').pop()}`);
        const value = rec.init(k, [...rec.shape], rec.dtype);
        if (!(value instanceof tf.Tensor)) {
          throw new FlaxenError(rec.path.join('/'), `the initializer of '${path}' returned ${describeValue(value)}, not a tensor`);
        }
        if (value.shape.length !== rec.shape.length || value.shape.some((d, i) => d !== rec.shape[i])) {
          value.dispose();
          throw new FlaxenError(rec.path.join('/'), `the initializer of '${path}' returned shape [${value.shape.join(', ')}], expected [${rec.shape.join(', ')}]`, { treePath: path });
        }
        if (value.dtype !== rec.dtype) {
          value.dispose();
          throw new FlaxenError(rec.path.join('/'), `the initializer of '${path}' returned ${/^[aeiou]/.test(value.dtype) ? 'an' : 'a'} ${value.dtype} tensor, expected ${rec.dtype} (apply would refuse it)`, { treePath: path });
        }
        entries.push([path, value]);
      }
    } catch (error) {
      for (const [, t] of entries) t.dispose();
      throw error;
    }
    return unflatten(entries) as unknown as DeepReadonly<V>;
  }

  /**
   * The tree `init` would return, with `ShapeDtype` (`{shape, dtype}`) leaves. Allocates no
   * parameter and draws no random number, so it describes models of any size instantly.
   */
  initShapes(rngs: Rngs, ...inputs: { [K in keyof In]: InitInput<In[K]> }): MapLeaves<V, ShapeDtype> {
    const records = this.record(rngs, inputs);
    return unflatten([...records].map(([path, rec]) => [path, new ShapeDtype(rec.shape, rec.dtype)] as const)) as unknown as MapLeaves<V, ShapeDtype>;
  }

  /**
   * Runs the model. Never changes `variables`. With `mutable`, returns `[output, updated]`
   * where `updated` holds the listed collections (new tensors, owned by the caller).
   * Everything made in between is disposed.
   */
  apply(variables: DeepReadonly<V>, ...args: [...In, MutableApplyOptions]): [Out, Partial<DeepReadonly<V>>];
  apply(variables: DeepReadonly<V>, ...args: [...In] | [...In, ApplyOptions]): Out;
  apply(variables: DeepReadonly<V>, ...args: unknown[]): unknown {
    requireBackend('apply');
    if (!isNode(variables)) {
      throw new FlaxenError('', `apply needs the variables tree returned by init (e.g. { params: {...} }), found ${describeValue(variables)}`);
    }
    const split = splitOptions(args, APPLY_OPTION_NAMES, true);
    const inputs = split.inputs;
    const last = inputs[inputs.length - 1];
    if (split.opts === undefined && inputs.length > this.maxInputs && isPlainObject(last)) {
      // Not options by its keys, and one input too many: most likely a misspelt option.
      checkOptions('apply', last, APPLY_OPTIONS);
    }
    const opts = checkOptions<ApplyOptions>('apply', split.opts, APPLY_OPTIONS);
    inputs.forEach((input, i) => {
      if (isShape(input) && !this.spec.numberInputs?.includes(i)) throw new FlaxenError('', `apply: input ${i} is a shape ${formatShape(input)}; apply takes tensors (shapes are accepted by init and initShapes only)`);
      // tfjs would fail inside the first op with "Cannot read properties of undefined (reading 'backend')".
      const leaves: Array<[string, unknown]> = input instanceof tf.Tensor ? [['', input]] : isNode(input) ? flatten<unknown>(input) : [];
      for (const [path, leaf] of leaves) {
        if (leaf instanceof tf.Tensor && leaf.isDisposed) throw new FlaxenError('', `apply: input ${i}${path ? ` at '${path}'` : ''} was disposed (a tensor of shape ${formatShape(leaf.shape)})`);
      }
    });
    const rngs = opts.rngs === undefined ? {} : toRngs(opts.rngs, 'apply: rngs');
    const mutable = toMutable(opts.mutable);
    const context = new RunContext('apply', false, rngs, opts.train === true, mutable);
    for (const [path, leaf] of flatten<unknown>(variables)) {
      if (!(leaf instanceof tf.Tensor)) throw new FlaxenError(path, `variables must hold tensors, found ${describeValue(leaf)}`);
      if (leaf.isDisposed) throw new FlaxenError(path, 'this variable was disposed');
      context.given.set(path, leaf);
    }
    const runnable = this[RUNNABLE];
    const explain = (error: unknown): unknown =>
      explainMismatch(error, context.given, Object.keys(variables), () => this.record({ ...rngs, params: new Key(0, 0) }, inputs));
    const { output, updated } = tf.tidy(() => {
      let output: unknown;
      try {
        output = new Scope(context, []).run(runnable, inputs);
      } catch (error) {
        throw explain(error);
      }
      const unused = [...context.given.keys()].filter((p) => !context.used.has(p) && !context.written.has(p));
      if (unused.length) {
        throw new UnexpectedVariableError('', `the variables hold entries this model does not use: ${unused.slice(0, 8).join(', ')}${unused.length > 8 ? `, … (${unused.length} in all)` : ''}`);
      }
      if (opts.mutable === undefined) return { output: output as tf.TensorContainer, updated: undefined };
      // The updated collections are wholly the caller's: unchanged entries are cloned.
      const entries: Array<[string, tf.Tensor]> = [];
      for (const [path, tensor] of context.given) {
        const collection = path.split('/')[0]!;
        if (context.isMutable(collection) && !context.written.has(path)) entries.push([path, tf.clone(tensor)]);
      }
      for (const [path, tensor] of context.written) entries.push([path, context.given.get(path) === tensor ? tf.clone(tensor) : tensor]);
      return { output: output as tf.TensorContainer, updated: unflatten(entries) as unknown as tf.TensorContainer };
    });
    return opts.mutable === undefined ? output : [output, updated];
  }

  /**
   * `apply` with the variables fixed: a plain function of the inputs (Flax's `bind`).
   *
   * @example
   * ```ts
   * const net = fx.nn.Sequential([fx.nn.Dense(4), fx.nn.relu, fx.nn.Dense(2)]);
   * const variables = net.init(fx.random.key(0), [1, 20]);
   * const f = net.bind(variables);
   * f(tf.ones([3, 20])).shape; // [3, 2]
   * ```
   */
  bind(variables: DeepReadonly<V>, opts: ApplyOptions = {}): (...inputs: In) => Out {
    return (...inputs: In) => (this.apply as (v: unknown, ...a: unknown[]) => Out)(variables, ...inputs, opts);
  }

  /** @internal The one-line summary used by `describe`. */
  summarize(variables?: Variables): Description {
    return this.spec.summarize ? this.spec.summarize(variables) : { header: this.type };
  }

  /**
   * The structure as text. Before `init`, unknown sizes show as `-1` (`Dense(-1 -> 256)`);
   * given the variables, the real sizes (`Dense(20 -> 256)`).
   *
   * @example
   * ```ts
   * console.log(fx.nn.Sequential([fx.nn.Dense(256), fx.nn.relu, fx.nn.Dense(10)]).describe());
   * // Sequential(
   * //   (layers_0): Dense(-1 -> 256)
   * //   (layers_1): relu
   * //   (layers_2): Dense(-1 -> 10)
   * // )
   * ```
   */
  describe(variables?: Variables): string {
    return describeTree(this, variables, '');
  }

  /** A short form for logs, e.g. `Module(Dense)`. */
  toString(): string {
    return `Module(${this.type})`;
  }
}

/** Refuses, before anything is drawn, variables that would not fit in the backend's memory. */
function checkInitFits(records: ReadonlyMap<string, VariableRecord>): void {
  let total = 0;
  let largest: [string, VariableRecord] | undefined;
  const bytesOf = (rec: VariableRecord) => rec.shape.reduce((a, b) => a * b, 1) * bytesPerElement(rec.dtype);
  for (const entry of records) {
    total += bytesOf(entry[1]);
    if (!largest || bytesOf(entry[1]) > bytesOf(largest[1])) largest = entry;
  }
  if (!largest) return;
  const [path, rec] = largest;
  checkFits(total, `init: the ${records.size} variables (the largest, '${path}' ${rec.dtype}${formatShape(rec.shape)}, takes ${formatBytes(bytesOf(rec))})`, rec.path.join('/'));
}

function describeTree(item: Describable, variables: Variables | undefined, indent: string): string {
  if (typeof item === 'function') return (item as { displayName?: string }).displayName ?? (item.name || 'function');
  const { header, children } = item.summarize(variables);
  if (!children || children.length === 0) return header;
  const inner = indent + '  ';
  const lines = children.map(([name, child]) => `${inner}(${name}): ${describeTree(child, childVariables(variables, name), inner)}`);
  return `${header}(\n${lines.join('\n')}\n${indent})`;
}

