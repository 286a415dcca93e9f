/**
 * The scope: what a module's body sees while it runs. It hands out parameters (drawn lazily
 * during `init`, looked up during `apply`), random keys and child scopes, and it is the only
 * place that knows which of the two is happening.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  FlaxenError,
  ImmutableCollectionError,
  MissingRngError,
  MissingVariableError,
  ShapeError,
  describeValue,
  formatShape,
} from '../errors.js';
import { Key, foldIn, isKey } from '../random/key.js';
import { ShapeDtype, Value, abstractOutput, concreteInputs } from './shapes.js';
import { checkOptions, type OptionKinds } from '../check-options.js';
import { bytesPerElement, checkFits } from '../backend-state.js';
import { splitOptions } from './options.js';

/**
 * An initializer: draws a tensor of `shape` from `key`. The same key and shape always give
 * the same values.
 *
 * @example
 * ```ts
 * const init: fx.Initializer = fx.initializers.lecunNormal();
 * const w = init(fx.random.key(0), [20, 256]);
 * ```
 */
export type Initializer = (key: Key, shape: number[], dtype?: tf.DataType) => tf.Tensor;

/** @internal What `init` records about each variable: enough to draw it later, or to report its shape. */
export interface VariableRecord {
  /** The collection, e.g. `params` or `batch_stats`. */
  readonly collection: string;
  /** The module path as names, e.g. `['layers_0']`. */
  readonly path: string[];
  /** The variable's own name, e.g. `kernel`. */
  readonly name: string;
  /** The initializer that draws the variable. */
  readonly init: Initializer;
  /** The shape inferred from the inputs. */
  readonly shape: number[];
  /** The element type. */
  readonly dtype: tf.DataType;
}

/** @internal The part of a module that a scope runs: its body, type name and optional fixed name. */
export interface Runnable {
  /** The type name, e.g. `Dense`. */
  readonly type: string;
  /** A fixed name inside a parent, if any. */
  readonly name?: string;
  /** True when the body handles abstract values itself (every built-in layer does). */
  readonly abstractSafe: boolean;
  /** Runs the body in `scope` on `inputs`. */
  run(scope: Scope, inputs: unknown[]): unknown;
}

/**
 * What `scope.call` runs: a module, such as `fx.nn.Dense(4)` or one made by `fx.nn.module`.
 *
 * @example
 * ```ts
 * const layer: fx.CallableModule = fx.nn.Dense(4);
 * ```
 */
export interface CallableModule {
  /** @internal */
  readonly [RUNNABLE]: Runnable;
}

/**
 * Options of `scope.call`: an explicit name for the child.
 *
 * @example
 * ```ts
 * const opts: fx.CallOptions = { name: 'encoder' };
 * ```
 */
export interface CallOptions {
  /** The child's name inside its parent. */
  readonly name: string;
}

const CALL_OPTIONS: OptionKinds<CallOptions> = { name: 'any' };

/** @internal One module run as seen by an observer: where, what type, and the values in and out. */
export interface ModuleCall {
  /** The module path, `/`-joined. */
  readonly path: string;
  /** The module type, e.g. `Dense`. */
  readonly type: string;
  /** The (abstract) inputs. */
  readonly inputs: readonly unknown[];
  /** The (abstract) output. */
  readonly output: unknown;
}

/** The mutable state of one `init` or `apply` run, shared by all its scopes. */
export class RunContext {
  /** Variables recorded by `init`, by full path `collection/module/path/name`. */
  readonly records = new Map<string, VariableRecord>();
  /** The variables given to `apply`, by full path. */
  readonly given = new Map<string, tf.Tensor>();
  /** Full paths of `given` entries that the model used. */
  readonly used = new Set<string>();
  /** Values written during `apply` to mutable collections, by full path. */
  readonly written = new Map<string, tf.Tensor>();
  private readonly rngCounters = new Map<string, number>();
  /** Called after every module run (used by `tabulate` to see each module's inputs and output). */
  observer: ((call: ModuleCall) => void) | undefined;

  constructor(
    readonly mode: 'init' | 'apply',
    /** True while values are `ShapeDtype`s instead of tensors. */
    public abstract: boolean,
    readonly rngs: Readonly<Record<string, Key>>,
    readonly train: boolean,
    readonly mutable: ReadonlySet<string> | 'all',
  ) {}

  isMutable(collection: string): boolean {
    return this.mutable === 'all' || this.mutable.has(collection);
  }

  nextRngCount(scopePath: string, stream: string): number {
    const id = `${stream}\u0000${scopePath}`;
    const n = this.rngCounters.get(id) ?? 0;
    this.rngCounters.set(id, n + 1);
    return n;
  }
}

function fullPath(collection: string, path: readonly string[], name: string): string {
  return [collection, ...path, name].join('/');
}

function checkName(name: unknown, what: string, path: string): string {
  if (typeof name !== 'string' || name === '' || name.includes('/')) {
    throw new FlaxenError(path, `${what} must be a non-empty string without '/', found ${describeValue(name)}`);
  }
  return name;
}

function checkDeclaredShape(shape: unknown, what: string, path: string): number[] {
  if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw new FlaxenError(path, `${what}: the shape must be an array of non-negative integers, found ${describeValue(shape)}`);
  }
  return shape as number[];
}

/**
 * A handle to one variable of a non-parameter collection (such as `batch_stats`). Reading
 * `value` gives the current tensor; assigning it records a new one, which `apply` returns when
 * the collection is listed in `mutable`.
 *
 * @example
 * ```ts
 * const counter = fx.nn.module('Counter', (scope, x: tf.Tensor) => {
 *   const count = scope.variable('counts', 'n', fx.initializers.zeros, []);
 *   if (!scope.isInitializing) count.value = tf.add(count.value, 1);
 *   return x;
 * });
 * ```
 */
export interface VariableRef {
  /** The current value (a `ShapeDtype` while shapes are inferred). */
  value: tf.Tensor;
}

/**
 * What a module's body receives: declare parameters with {@link Scope.param}, run children
 * with {@link Scope.call}, get keys with {@link Scope.rng}.
 *
 * `P` is the union of the parameter names the body may declare: any string by default; the
 * names declared in `fx.nn.module(name, { params: {...} }, body)` for a typed module, so that a
 * misspelt `scope.param('wieght', ...)` does not compile.
 *
 * @example
 * ```ts
 * const Affine = fx.nn.module('Affine', (scope, x: tf.Tensor) => {
 *   const w = scope.param('w', fx.initializers.ones, [x.shape[x.rank - 1]!]);
 *   return fx.isAbstract(x) ? x : tf.mul(x, w);
 * });
 * ```
 */
export class Scope<P extends string = string> {
  private readonly childCounts = new Map<string, number>();
  private readonly reserved = new Set<string>();

  /** @internal */
  constructor(
    /** @internal */ readonly context: RunContext,
    /** The path of names from the root module to this one. */
    readonly pathParts: readonly string[],
  ) {}

  /** The module path, `/`-joined (`''` at the root), e.g. `layers_0` or `Block_0/Dense_1`. */
  get path(): string {
    return this.pathParts.join('/');
  }

  /** True while `init` or `initShapes` runs this body, false during `apply`. */
  get isInitializing(): boolean {
    return this.context.mode === 'init';
  }

  /** True in training mode (`apply(..., {train: true})`). */
  get train(): boolean {
    return this.context.train;
  }

  /**
   * Declares (during `init`) or fetches (during `apply`) the parameter `name`. The shape may
   * depend on the inputs: this is where lazy initialization happens. During `apply` the stored
   * tensor must have exactly this shape, or a `ShapeError` names the module and both shapes.
   */
  param(name: P, init: Initializer, shape: readonly number[], dtype: tf.DataType = 'float32'): tf.Tensor {
    return this.declare('params', name, init, shape, dtype, 'parameter');
  }

  /**
   * Declares or fetches a variable in a non-parameter collection (e.g. `batch_stats`).
   * `init` gives its initial value (it receives a key, which it may ignore).
   */
  variable(collection: string, name: string, init: Initializer, shape: readonly number[], dtype: tf.DataType = 'float32'): VariableRef {
    checkName(collection, 'scope.variable(collection, ...): collection', this.path);
    if (collection === 'params') throw new FlaxenError(this.path, `use scope.param for the 'params' collection, not scope.variable`);
    const initial = this.declare(collection, name, init, shape, dtype, 'variable');
    const key = fullPath(collection, this.pathParts, name);
    const context = this.context;
    const path = this.path;
    let current = initial;
    return {
      get value() {
        return current;
      },
      set value(next: tf.Tensor) {
        if (context.mode === 'init') {
          current = next;
          return;
        }
        if (!context.isMutable(collection)) {
          throw new ImmutableCollectionError(path, `the '${collection}' collection is not mutable here: pass mutable: ['${collection}'] to apply to update '${name}'`);
        }
        if (!(next instanceof tf.Tensor)) throw new FlaxenError(path, `variable '${collection}/${name}' must be set to a tensor, found ${describeValue(next)}`);
        if (next.shape.length !== current.shape.length || next.shape.some((d, i) => d !== current.shape[i])) {
          throw new ShapeError(path, `variable '${collection}/${name}' has shape ${formatShape(current.shape)}, cannot set it to ${formatShape(next.shape)}`);
        }
        context.written.set(key, next);
        current = next;
      },
    };
  }

  private declare(collection: string, name: string, init: Initializer, shapeIn: readonly number[], dtype: tf.DataType, kind: string): tf.Tensor {
    checkName(name, `scope.${kind === 'parameter' ? 'param' : 'variable'}: name`, this.path);
    if (typeof init !== 'function') throw new FlaxenError(this.path, `${kind} '${name}' needs an initializer function, found ${describeValue(init)}`);
    const shape = checkDeclaredShape(shapeIn, `${kind} '${name}'`, this.path);
    const key = fullPath(collection, this.pathParts, name);
    const context = this.context;
    if (context.mode === 'init') {
      const previous = context.records.get(key);
      if (previous && (previous.shape.length !== shape.length || previous.shape.some((d, i) => d !== shape[i]))) {
        throw new ShapeError(this.path, `${kind} '${name}' was declared twice with different shapes: first ${formatShape(previous.shape)}, now ${formatShape(shape)}`);
      }
      if (!previous) context.records.set(key, { collection, path: [...this.pathParts], name, init, shape: [...shape], dtype });
      // A stand-in while inferring shapes; zeros when a body needs real math to find them.
      if (context.abstract) return new ShapeDtype(shape, dtype) as unknown as tf.Tensor;
      checkFits(shape.reduce((a, b) => a * b, 1) * bytesPerElement(dtype), `${kind} '${name}' ${dtype}${formatShape(shape)}`, this.path);
      return tf.zeros(shape, dtype);
    }
    const written = context.written.get(key);
    if (written) return written;
    const found = context.given.get(key);
    if (found === undefined) {
      if (collection !== 'params' && context.isMutable(collection)) {
        // A mutable collection may start empty in apply (as Flax's do): create the variable.
        const created = init(this.rngFor('params', key, false) ?? ZERO_KEY, shape, dtype);
        context.written.set(key, created);
        return created;
      }
      throw new MissingVariableError(this.path, `expected ${kind} '${key}' of shape ${formatShape(shape)}, but the variables have no such entry`, { treePath: key });
    }
    context.used.add(key);
    if (found.shape.length !== shape.length || found.shape.some((d, i) => d !== shape[i])) {
      throw new ShapeError(this.path, `${kind} '${key}' has shape ${formatShape(found.shape)} in the variables, but the model needs ${formatShape(shape)} for this input`, { treePath: key });
    }
    if (found.dtype !== dtype) {
      throw new FlaxenError(this.path, `${kind} '${key}' has dtype ${found.dtype} in the variables, but the model needs ${dtype}`, { treePath: key });
    }
    return found;
  }

  private rngFor(stream: string, salt: string, required: boolean): Key | undefined {
    const root = this.context.rngs[stream];
    if (root === undefined) {
      if (!required) return undefined;
      const given = Object.keys(this.context.rngs);
      throw new MissingRngError(this.path, `needs the '${stream}' random stream, but rngs has ${given.length ? given.map((s) => `'${s}'`).join(', ') : 'no streams'}; pass rngs: { ${stream}: fx.random.key(...) }`);
    }
    return foldIn(root, salt);
  }

  /**
   * A fresh key from the random stream `stream` (e.g. `'dropout'`). It depends on the stream's
   * root key, this module's path and how many keys this module drew before, never on global
   * state. A missing stream is a `MissingRngError` naming the module and the stream.
   */
  rng(stream: string): Key {
    checkName(stream, 'scope.rng(stream): stream', this.path);
    const base = this.rngFor(stream, `rng:${this.path}`, true)!;
    return foldIn(base, this.context.nextRngCount(this.path, stream));
  }

  /** True when the random stream `stream` was given. */
  hasRng(stream: string): boolean {
    return Object.prototype.hasOwnProperty.call(this.context.rngs, stream) && isKey(this.context.rngs[stream]);
  }

  /**
   * Runs a submodule in a child scope. Children are named `<Type>_<k>` in call order, or by
   * `{name}` as the last argument; calling the same name twice shares its parameters. A last
   * argument `{ name }` is always taken as options; an input that is an object with only a
   * `name` key must be followed by `fx.options({ ... })`. Trailing `undefined`s are dropped.
   */
  call<Out = tf.Tensor>(module: CallableModule, ...args: unknown[]): Out {
    const runnable = toRunnable(module, this.path);
    const { inputs, opts } = splitOptions(args, ['name'], false);
    let name: string | undefined;
    if (opts !== undefined) {
      const given = checkOptions<Partial<CallOptions>>('scope.call', opts, CALL_OPTIONS, this.path).name;
      if (given !== undefined) name = checkName(given, 'scope.call(..., {name}): name', this.path);
    }
    if (name === undefined) name = runnable.name;
    if (name === undefined) {
      // Auto-names skip names already taken explicitly, so `Dense_0` is never claimed twice by accident.
      let n = this.childCounts.get(runnable.type) ?? 0;
      while (this.reserved.has(`${runnable.type}_${n}`)) n++;
      this.childCounts.set(runnable.type, n + 1);
      name = `${runnable.type}_${n}`;
    }
    this.reserved.add(name);
    return this.child(name).run(runnable, inputs) as Out;
  }

  /**
   * The variables `init` recorded so far at or below this module, as `collection/relative/path`
   * (e.g. `params/w`, `params/Dense_0/kernel`). Empty during `apply`.
   * @internal
   */
  recordedBelow(): string[] {
    const out: string[] = [];
    for (const rec of this.context.records.values()) {
      if (rec.path.length < this.pathParts.length || this.pathParts.some((p, i) => rec.path[i] !== p)) continue;
      out.push([rec.collection, ...rec.path.slice(this.pathParts.length), rec.name].join('/'));
    }
    return out;
  }

  /** A child scope with the given name (used by containers such as `Sequential`). */
  child(name: string): Scope {
    return new Scope(this.context, [...this.pathParts, name]);
  }

  /**
   * Runs `runnable` in this scope. While shapes are inferred, a body that is not written for
   * abstract values (a custom module doing tfjs math directly) is run again on zero tensors,
   * and only the shapes of its outputs are kept.
   * @internal
   */
  run(runnable: Runnable, inputs: unknown[]): unknown {
    runningModules.push({ path: this.path, type: runnable.type });
    let output: unknown;
    try {
      output = this.runBody(runnable, inputs);
    } finally {
      runningModules.pop();
    }
    this.context.observer?.({ path: this.path, type: runnable.type, inputs, output });
    return output;
  }

  private runBody(runnable: Runnable, inputs: unknown[]): unknown {
    const context = this.context;
    if (!context.abstract || runnable.abstractSafe) return runnable.run(this, inputs);
    const before = new Set(context.records.keys());
    try {
      // In a tidy, so that tensors a custom body made before it met an abstract value (a
      // `tf.zeros` of its own, say) are disposed when this attempt fails; its output is kept.
      return tf.tidy(() => runnable.run(this, inputs) as tf.TensorContainer);
    } catch (error) {
      if (error instanceof FlaxenError) throw error;
      for (const key of [...context.records.keys()]) if (!before.has(key)) context.records.delete(key);
    }
    context.abstract = false;
    try {
      return tf.tidy(() => abstractOutput(runnable.run(new Scope(context, this.pathParts), concreteInputs(inputs))) as tf.TensorContainer);
    } finally {
      context.abstract = true;
    }
  }
}

const ZERO_KEY = new Key(0, 0);

/**
 * @internal
 * The modules running now, outermost first (path and type). Read by the ONNX exporter
 * (`interop/onnx-trace.ts`) to name the module in which a tfjs kernel ran.
 */
export const runningModules: Array<{ readonly path: string; readonly type: string }> = [];

/** The symbol under which a module exposes its runnable part. @internal */
export const RUNNABLE: unique symbol = Symbol('flaxen.runnable');

/** Accepts a module (or a bare runnable) and returns the runnable; anything else is an error. */
export function toRunnable(module: unknown, path: string): Runnable {
  const candidate = (module as { [RUNNABLE]?: Runnable } | null)?.[RUNNABLE] ?? module;
  if (candidate && typeof (candidate as Runnable).run === 'function' && typeof (candidate as Runnable).type === 'string') return candidate as Runnable;
  throw new FlaxenError(path, `scope.call needs a module (e.g. fx.nn.Dense(4)), found ${describeValue(module)}`);
}

/** Exported for the value type used in bodies. */
export type { Value };
