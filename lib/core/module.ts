/**
 * Modules: immutable descriptions of computations with parameters. A module holds no
 * parameters and learns its input size only when `init` sees an input. `init` runs the body
 * on abstract values to find every parameter's shape, then draws each parameter from a key
 * derived from the root key and the parameter's path.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { FlaxenError, UnexpectedVariableError, describeValue } from '../errors.js';
import { Key, assertKey, foldIn, isKey } from '../random/key.js';
import { ShapeDtype, abstractInputs } from './shapes.js';
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

/** A module as `describe` sees it. */
export interface DescribableModule {
  /** @internal */
  readonly [RUNNABLE]: Runnable;
  /** The module's one-line header and children, given its variables if known. */
  summarize(variables?: Variables): Description;
}

/** Anything `describe` can print: a module or a plain function. */
export type Describable = DescribableModule | ((...args: any[]) => any);

/** The definition a layer gives to {@link Module}. */
export interface ModuleSpec {
  /** The type name used for auto-naming and display, e.g. `Dense`. */
  readonly type: string;
  /** A fixed name for this instance inside a parent (otherwise `<type>_<k>`). */
  readonly name?: string;
  /** True when the body handles `ShapeDtype` inputs itself. */
  readonly abstractSafe: boolean;
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

/** True for a non-empty array of tensors and tuples of tensors, such as an LSTM carry `[c, h]`. */
function isTensorTuple(value: readonly unknown[]): boolean {
  return value.length > 0 && value.every((v) => v instanceof tf.Tensor || (Array.isArray(v) && isTensorTuple(v)));
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

  /** @param spec - the layer's definition; see {@link ModuleSpec}. */
  constructor(spec: ModuleSpec) {
    this.spec = spec;
    this.type = spec.type;
    this.name = spec.name;
    // Built-in layers declare their inputs as plain parameters, so their count bounds how many a
    // caller may pass: an extra input is a mistake, not something to ignore. (Custom bodies may
    // use defaults or rest parameters, where Function.length says nothing; they are not checked.)
    const maxInputs = spec.abstractSafe && spec.body.length > 1 ? spec.body.length - 1 : Infinity;
    this[RUNNABLE] = {
      type: spec.type,
      name: spec.name,
      abstractSafe: spec.abstractSafe,
      run: (scope, inputs) => {
        if (inputs.length > maxInputs) {
          throw new FlaxenError(scope.path, `${spec.type} takes ${maxInputs === 1 ? 'one input' : `at most ${maxInputs} inputs`}, found ${inputs.length}`);
        }
        return spec.body(scope, ...inputs);
      },
    };
    Object.freeze(this);
  }

  private record(rngs: Rngs, inputs: unknown[], observer?: (call: ModuleCall) => void): Map<string, VariableRecord> {
    const context = new RunContext('init', true, toRngs(rngs, 'init(rngs, ...inputs): rngs'), false, new Set());
    context.observer = observer;
    if (inputs.length === 0 && this.spec.body.length > 1) {
      throw new FlaxenError('', `init needs example inputs (tensors or shapes such as [2, 20]) to infer the sizes of ${this.type}`);
    }
    new Scope(context, []).run(this[RUNNABLE], abstractInputs(inputs));
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
  init(rngs: Rngs, ...inputs: { [K in keyof In]: In[K] | number[] }): DeepReadonly<V> {
    const records = this.record(rngs, inputs);
    const roots = toRngs(rngs, 'init(rngs, ...inputs): rngs');
    const paramsKey = roots['params'];
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
          throw new FlaxenError(rec.path.join('/'), `the initializer of '${path}' returned shape [${value.shape.join(', ')}], expected [${rec.shape.join(', ')}]`);
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
  initShapes(rngs: Rngs, ...inputs: { [K in keyof In]: In[K] | number[] }): MapLeaves<V, ShapeDtype> {
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
    if (!isNode(variables)) {
      throw new FlaxenError('', `apply needs the variables tree returned by init (e.g. { params: {...} }), found ${describeValue(variables)}`);
    }
    let inputs = args;
    let opts: ApplyOptions = {};
    const last = args[args.length - 1];
    if (args.length > 0 && isNode(last)) {
      opts = last as ApplyOptions;
      inputs = args.slice(0, -1);
      const known = new Set(['train', 'rngs', 'mutable']);
      const unknown = Object.keys(opts).filter((k) => !known.has(k));
      if (unknown.length) throw new FlaxenError('', `apply: unknown option ${unknown.map((k) => `'${k}'`).join(', ')}; options are train, rngs, mutable`);
    }
    inputs.forEach((input, i) => {
      // A tuple of tensors (an LSTM carry [c, h]) is an input; an array of numbers is a shape.
      if (Array.isArray(input) && !isTensorTuple(input)) throw new FlaxenError('', `apply: input ${i} is an array; apply takes tensors or tuples of tensors (shapes are accepted by init and initShapes only)`);
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
    const { output, updated } = tf.tidy(() => {
      const output = new Scope(context, []).run(runnable, inputs);
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
   * const f = net.bind(variables);
   * const y = f(tf.ones([1, 20]));
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

function describeTree(item: Describable, variables: Variables | undefined, indent: string): string {
  if (typeof item === 'function') return (item as { displayName?: string }).displayName ?? (item.name || 'function');
  const { header, children } = item.summarize(variables);
  if (!children || children.length === 0) return header;
  const inner = indent + '  ';
  const lines = children.map(([name, child]) => `${inner}(${name}): ${describeTree(child, childVariables(variables, name), inner)}`);
  return `${header}(\n${lines.join('\n')}\n${indent})`;
}

