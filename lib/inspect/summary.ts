/**
 * `modelSummary`: what `tabulate` prints, as data. It runs the model's shape inference once
 * (`Module.trace`), so it allocates no parameter and draws no random number: models far larger
 * than memory can be summarized.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { FlaxenError, describeValue, formatShape } from '../errors.js';
import { Module, Rngs } from '../core/module.js';
import type { ModuleCall } from '../core/scope.js';
import { isNode } from '../tree/index.js';

/**
 * One variable of a module, as listed by {@link modelSummary}.
 *
 * @example
 * ```ts
 * const v: fx.VariableSummary = { collection: 'params', name: 'kernel', shape: [20, 10], dtype: 'float32', count: 200, bytes: 800 };
 * ```
 */
export interface VariableSummary {
  /** The collection, e.g. `params` or `batch_stats`. */
  readonly collection: string;
  /** The name inside its module, e.g. `kernel`. */
  readonly name: string;
  /** The variable's shape. */
  readonly shape: readonly number[];
  /** The tfjs dtype, e.g. `float32`. */
  readonly dtype: string;
  /** Number of scalars. */
  readonly count: number;
  /** Bytes it will take once initialized. */
  readonly bytes: number;
}

/**
 * One module run, as listed by {@link modelSummary}: parents come before their children.
 *
 * @example
 * ```ts
 * const rows = fx.modelSummary(fx.nn.Dense(10), fx.random.key(0), [1, 20]).rows;
 * rows[0].type; // 'Dense'
 * ```
 */
export interface SummaryRow {
  /** The module path, `/`-joined (`''` for the root). */
  readonly path: string;
  /** The module type, e.g. `Dense`. */
  readonly type: string;
  /** Nesting depth: 0 for the root. */
  readonly depth: number;
  /** Each input, formatted (`float32[2, 20]`). */
  readonly inputs: readonly string[];
  /** The output, formatted. */
  readonly output: string;
  /** The variables this module declares itself (not its children's), by collection then name. */
  readonly variables: readonly VariableSummary[];
  /** True when an earlier row has the same path (a module called again, sharing its variables). */
  readonly shared: boolean;
}

/**
 * The total of one collection.
 *
 * @example
 * ```ts
 * const t: fx.CollectionTotal = { collection: 'params', count: 210, bytes: 840 };
 * ```
 */
export interface CollectionTotal {
  /** The collection, e.g. `params` or `batch_stats`. */
  readonly collection: string;
  /** Number of scalars in the collection. */
  readonly count: number;
  /** Bytes the collection takes once initialized. */
  readonly bytes: number;
}

/**
 * A model's structure as data: see {@link modelSummary}.
 *
 * @example
 * ```ts
 * const s: fx.ModelSummary = fx.modelSummary(fx.nn.Dense(10), fx.random.key(0), [1, 20]);
 * s.total.count; // 210
 * ```
 */
export interface ModelSummary {
  /** The root module's type. */
  readonly type: string;
  /** One row per module run, parents before children. */
  readonly rows: readonly SummaryRow[];
  /** Totals per collection (`params` first). */
  readonly collections: readonly CollectionTotal[];
  /** All collections together. */
  readonly total: {
    /** Number of scalars. */
    readonly count: number;
    /** Bytes once initialized. */
    readonly bytes: number;
  };
}

const BYTES_PER_ELEMENT: Readonly<Record<string, number>> = { float32: 4, int32: 4, bool: 1, complex64: 8 };

/** Bytes of one element of a tfjs dtype (strings have no fixed size: counted as 0). */
function elementBytes(dtype: string): number {
  return Object.prototype.hasOwnProperty.call(BYTES_PER_ELEMENT, dtype) ? BYTES_PER_ELEMENT[dtype]! : 0;
}

/**
 * Formats a value flowing through a model: `float32[2, 20]` for a tensor or its stand-in, and
 * arrays and objects of them recursively.
 * @internal
 */
export function formatValue(value: unknown, depth = 0): string {
  const shape = (value as { shape?: unknown } | null)?.shape;
  const dtype = (value as { dtype?: unknown } | null)?.dtype;
  if (Array.isArray(shape) && typeof dtype === 'string') return `${dtype}${formatShape(shape as number[])}`;
  if (depth > 3) return '…';
  if (Array.isArray(value)) return `(${value.map((v) => formatValue(v, depth + 1)).join(', ')})`;
  if (isNode(value)) return `{${Object.keys(value).map((k) => `${k}: ${formatValue(value[k], depth + 1)}`).join(', ')}}`;
  if (value === undefined || value === null || typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value === 'string') return JSON.stringify(value);
  return describeValue(value);
}

/** True when a call ran on real tensors (a body re-run on zeros because it does math on its inputs). */
function ranConcrete(call: ModuleCall): boolean {
  return call.output instanceof tf.Tensor || call.inputs.some((v) => v instanceof tf.Tensor);
}

/**
 * A module body that does tfjs math on its inputs fails on shape stand-ins and is run again on
 * zeros; the children it completed before failing were reported too. They are the abstract
 * children before the first concrete one whose path a concrete child repeats: drop them.
 */
function withoutFailedAttempt<N extends { readonly call: ModuleCall }>(children: N[]): N[] {
  const firstConcrete = children.findIndex((c) => ranConcrete(c.call));
  if (firstConcrete <= 0) return children;
  const rerun = new Set(children.slice(firstConcrete).filter((c) => ranConcrete(c.call)).map((c) => c.call.path));
  return children.filter((c, i) => i >= firstConcrete || !rerun.has(c.call.path));
}

/** Orders the calls (reported children first) as a tree walk, parents first. */
function parentsFirst(calls: readonly ModuleCall[]): Array<{ call: ModuleCall; depth: number }> {
  interface Node {
    readonly call: ModuleCall;
    readonly children: Node[];
  }
  const isUnder = (path: string, parent: string) => (parent === '' ? path !== '' : path.startsWith(parent + '/'));
  let pending: Node[] = [];
  for (const call of calls) {
    // Everything finished since this module started, and below its path, is its child.
    let first = pending.length;
    while (first > 0 && isUnder(pending[first - 1]!.call.path, call.path)) first--;
    const node: Node = { call, children: withoutFailedAttempt(pending.slice(first)) };
    pending = pending.slice(0, first);
    pending.push(node);
  }
  const out: Array<{ call: ModuleCall; depth: number }> = [];
  const walk = (node: Node, depth: number): void => {
    out.push({ call: node.call, depth });
    for (const child of node.children) walk(child, depth + 1);
  };
  for (const root of pending) walk(root, 0);
  return out;
}

/**
 * Describes a model run on example inputs: every module run (path, type, input and output
 * shapes, its own variables) and the totals per collection. Uses shape inference only: no
 * parameter is allocated and nothing random is drawn, so it is instant even for billions of
 * parameters. {@link tabulate} prints it.
 *
 * @param model - the module.
 * @param rngs - a key or `{ params: key, ... }`, as for `init` (streams such as `dropout` may be needed).
 * @param inputs - example inputs: tensors or shapes such as `[1, 784]`.
 * @example
 * ```ts
 * const net = fx.nn.Sequential([fx.nn.Dense(256), fx.nn.relu, fx.nn.Dense(10)]);
 * const s = fx.modelSummary(net, fx.random.key(0), [1, 784]);
 * s.rows.map((r) => r.path);  // ['', 'layers_0', 'layers_2']
 * s.total.count;              // 203530
 * ```
 */
export function modelSummary(model: Module<any, any, any>, rngs: Rngs, ...inputs: unknown[]): ModelSummary {
  if (!(model instanceof Module)) throw new FlaxenError('', `modelSummary needs a module such as fx.nn.Dense(10), found ${describeValue(model)}`);
  const { calls, records } = model.trace(rngs, ...inputs);
  const byModule = new Map<string, VariableSummary[]>();
  const totals = new Map<string, { count: number; bytes: number }>();
  for (const [key, record] of records) {
    const count = record.shape.reduce((a, b) => a * b, 1);
    const bytes = count * elementBytes(record.dtype);
    const variable: VariableSummary = Object.freeze({
      collection: record.collection,
      name: key.split('/').pop()!,
      shape: Object.freeze([...record.shape]),
      dtype: record.dtype,
      count,
      bytes,
    });
    const modulePath = record.path.join('/');
    if (!byModule.has(modulePath)) byModule.set(modulePath, []);
    byModule.get(modulePath)!.push(variable);
    const total = totals.get(record.collection) ?? { count: 0, bytes: 0 };
    totals.set(record.collection, { count: total.count + count, bytes: total.bytes + bytes });
  }
  const collectionOrder = (c: string) => (c === 'params' ? '' : c);
  for (const list of byModule.values()) {
    list.sort((a, b) => (collectionOrder(a.collection) < collectionOrder(b.collection) ? -1 : collectionOrder(a.collection) > collectionOrder(b.collection) ? 1 : a.name < b.name ? -1 : 1));
  }
  const seen = new Set<string>();
  const rows = parentsFirst(calls).map(({ call, depth }): SummaryRow => {
    const shared = seen.has(call.path);
    seen.add(call.path);
    return Object.freeze({
      path: call.path,
      type: call.type,
      depth,
      inputs: Object.freeze(call.inputs.map((v) => formatValue(v))),
      output: formatValue(call.output),
      variables: Object.freeze(shared ? [] : byModule.get(call.path) ?? []),
      shared,
    });
  });
  const collections = [...totals]
    .map(([collection, t]) => Object.freeze({ collection, ...t }))
    .sort((a, b) => (collectionOrder(a.collection) < collectionOrder(b.collection) ? -1 : 1));
  const total = collections.reduce((acc, c) => ({ count: acc.count + c.count, bytes: acc.bytes + c.bytes }), { count: 0, bytes: 0 });
  return Object.freeze({ type: model.type, rows: Object.freeze(rows), collections: Object.freeze(collections), total: Object.freeze(total) });
}

