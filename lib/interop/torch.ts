/**
 * PyTorch `state_dict`s to and from flaxen variables: {@link toTorch} and {@link fromTorch}.
 *
 * The rules (see `docs/interop.md`): the collection is not part of the torch name; a path
 * segment `layers_<i>` is `<i>` (as in `torch.nn.Sequential`); other names are kept, and `/`
 * becomes `.`. Dense kernels `[in, out]` are Linear weights `[out, in]`; Conv kernels
 * `[kh, kw, in, out]` are Conv2d weights `[out, in, kh, kw]` (1-D: `[k, in, out]` ↔
 * `[out, in, k]`); `scale` and `embedding` are `weight`; BatchNorm's `batch_stats` `mean`/`var`
 * are `running_mean`/`running_var`, with `num_batches_tracked` added on export (an integer 0)
 * and ignored on import. Attention's `query`/`key`/`value`/`out` kernels (Flax's DenseGeneral,
 * rank 3) are Linear weights with the heads merged. A recurrent cell under `cell` (LSTMCell,
 * GRUCell, SimpleCell) is one single-layer, batch-first `nn.LSTM`/`nn.GRU`/`nn.RNN` whose gates
 * are stacked in PyTorch's order: on import the two biases are summed where flaxen has one; on
 * export flaxen's bias is `bias_ih_l0` and `bias_hh_l0` is zeros, except GRU's `n` block, which
 * is `hn`'s bias (inside the reset product in both). A ConvTranspose kernel is an
 * `nn.ConvTranspose1d/2d` weight `[in, out, ...k]`, flipped spatially unless the layer has
 * `transposeKernel` (see `torch-names.ts`); only the model can tell a ConvTranspose from a Conv
 * (both are `layers_<i>` in a Sequential, with kernels of one rank), so it is converted only
 * when the model is given (`{ model, inputShapes }`), and refused by path when its module is
 * named `ConvTranspose_<k>` and the model is not given. Kernels of ranks other than 2 to 4 are
 * refused by module path.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { FlaxenError, describeValue, formatShape } from '../errors.js';
import { flatten, isNode, unflatten } from '../tree/index.js';
import type { Restored } from '../checkpoint/format.js';
import type { Module } from '../core/module.js';
import { CellLayout, LeafRule, cellLayout, inversePerm, leafRule, torchModule } from './torch-names.js';
import type { OnnxInput } from './model-inputs.js';
import { ConvTransposeKernel, convTransposeKernels } from './torch-modules.js';

/**
 * Options of {@link toTorch} and {@link fromTorch}.
 *
 * @example
 * ```ts
 * // layers_4 is a Dense reading the flatten of a [7, 7, 16] feature map
 * const opts: fx.interop.TorchOptions = { flattenedFrom: { layers_4: [7, 7, 16] } };
 * // a model with a ConvTranspose: the model and its input shapes say which layers are which
 * const decoder = fx.nn.Sequential([fx.nn.ConvTranspose(8, [4, 4], { strides: 2 }), fx.nn.relu]);
 * const withModel: fx.interop.TorchOptions = { model: decoder, inputShapes: [[1, 7, 7, 16]] };
 * ```
 */
export interface TorchOptions {
  /**
   * Dense layers that read a flattened feature map, by flaxen module path (e.g. `layers_4`,
   * `classifier`), with the `[height, width, channels]` of the map before the flatten. flaxen
   * flattens NHWC maps in height-width-channel order, PyTorch NCHW maps in channel-height-width
   * order, so the rows of such a kernel are reordered in both directions. A Dense after a 1×1
   * map (or after a global pool) needs no entry.
   */
  readonly flattenedFrom?: Readonly<Record<string, readonly [number, number, number]>>;
  /**
   * The model the variables belong to (with {@link TorchOptions.inputShapes}). Needed when the
   * model has a ConvTranspose: its kernel is an `nn.ConvTranspose2d` weight `[in, out, kh, kw]`,
   * flipped, while a Conv's is a Conv2d weight, and inside a `Sequential` the variables alone
   * cannot tell the two apart (both are `layers_<i>` with a kernel of rank 4). The model is run
   * once on fixed inputs of `inputShapes` to see which modules are ConvTranspose layers. Without
   * it, a kernel under a module named `ConvTranspose_<k>` is refused, and one in a `Sequential`
   * is read as a Conv's.
   */
  readonly model?: Module<any, any, any>;
  /** The model's input shapes, batch first, as {@link toOnnx} takes them (needed with `model`). */
  readonly inputShapes?: readonly OnnxInput[];
}

/**
 * One difference between a `state_dict` and the target it is read into: `missing` (the
 * target needs it), `unexpected` (the `state_dict` has it, the target does not), `shape` or
 * `dtype`. Shapes are given in PyTorch's layout.
 *
 * @example
 * ```ts
 * const p: fx.interop.TorchProblem = { kind: 'shape', torchName: '0.weight', path: 'params/layers_0/kernel', expected: '[4, 3]', found: '[4, 5]' };
 * ```
 */
export interface TorchProblem {
  /** What differs. */
  readonly kind: 'missing' | 'unexpected' | 'shape' | 'dtype';
  /** The PyTorch name, e.g. `0.weight`. */
  readonly torchName: string;
  /** The flaxen path, e.g. `params/layers_0/kernel` (`''` for an unexpected entry). */
  readonly path: string;
  /** What the target needs, in PyTorch's layout (absent for `unexpected`). */
  readonly expected?: string;
  /** What the `state_dict` has (absent for `missing`). */
  readonly found?: string;
}

function describeProblem(p: TorchProblem): string {
  switch (p.kind) {
    case 'missing':
      return `missing ${p.torchName} (for ${p.path}: the target expects ${p.expected})`;
    case 'unexpected':
      return `unexpected ${p.torchName} (${p.found}; the target has no such entry)`;
    case 'shape':
      return `shape of ${p.torchName} (for ${p.path}): the target expects ${p.expected}, the state_dict has ${p.found}`;
    case 'dtype':
      return `dtype of ${p.torchName} (for ${p.path}): the target expects ${p.expected}, the state_dict has ${p.found}`;
  }
}

/**
 * A `state_dict` does not fit the flaxen target it is read into. Every difference is reported
 * at once, by PyTorch name and flaxen path, with both shapes.
 *
 * @example
 * ```ts
 * const net = fx.nn.Dense(4);
 * try { fx.interop.fromTorch({ weight: tf.zeros([4, 5]), bias: tf.zeros([4]) }, net.initShapes(fx.random.key(0), [1, 3])); }
 * catch (e) { if (e instanceof fx.interop.TorchMismatchError) console.log(e.problems); }
 * ```
 */
export class TorchMismatchError extends FlaxenError {
  /** Every difference, sorted by PyTorch name. */
  readonly problems: readonly TorchProblem[];
  /** @param problems - the differences (at least one). */
  constructor(problems: readonly TorchProblem[]) {
    const lines = problems.map((p) => `\n  - ${describeProblem(p)}`);
    super('', `the state_dict does not match the target (${problems.length} problem${problems.length === 1 ? '' : 's'}):${lines.join('')}`);
    this.problems = Object.freeze(problems.map((p) => Object.freeze({ ...p })));
  }
}

const NUM_BATCHES = 'num_batches_tracked';

/** A leaf of a tree: a path, a shape and a dtype (tensors and `initShapes` records alike). */
interface LeafSpec {
  readonly path: string;
  readonly shape: readonly number[];
  readonly dtype: string;
}

/** One recurrent cell in a tree: its module path (without `cell`) and layout. */
interface CellGroup {
  readonly modulePath: string;
  readonly torchPrefix: string;
  readonly layout: CellLayout;
}

function leafSpecs(tree: unknown, what: string): LeafSpec[] {
  if (!isNode(tree)) throw new FlaxenError('', `${what} must be a variables tree such as { params: {...} }, found ${describeValue(tree)}`);
  return flatten<unknown>(tree).map(([path, leaf]) => {
    const shape = (leaf as { shape?: unknown } | null)?.shape;
    const dtype = (leaf as { dtype?: unknown } | null)?.dtype;
    if (!Array.isArray(shape) || typeof dtype !== 'string') throw new FlaxenError(path, `${what}: leaves must be tensors or {shape, dtype} records, found ${describeValue(leaf)}`);
    if (leaf instanceof tf.Tensor && leaf.isDisposed) throw new FlaxenError(path, `${what}: this tensor was disposed`);
    if (path.split('/').length < 2) throw new FlaxenError(path, `${what}: expected a tree of collections (e.g. { params: {...} }), found a leaf at the top`);
    return { path, shape, dtype };
  });
}

/** Finds the recurrent cells: `params/<module>/cell/<gate>/{kernel,bias}` with a known gate set. */
function findCells(specs: readonly LeafSpec[]): Map<string, CellGroup> {
  const gates = new Map<string, Set<string>>();
  for (const { path } of specs) {
    const parts = path.split('/');
    const n = parts.length;
    if (parts[0] === 'params' && n >= 4 && parts[n - 3] === 'cell') {
      const cellPath = parts.slice(0, n - 2).join('/');
      (gates.get(cellPath) ?? gates.set(cellPath, new Set()).get(cellPath)!).add(parts[n - 2]!);
    }
  }
  const out = new Map<string, CellGroup>();
  for (const [cellPath, names] of gates) {
    const layout = cellLayout(names);
    if (!layout) continue;
    const moduleSegments = cellPath.split('/').slice(1, -1);
    out.set(cellPath, { modulePath: moduleSegments.join('/'), torchPrefix: torchModule(moduleSegments), layout });
  }
  return out;
}

const cellOf = (path: string, cells: ReadonlyMap<string, CellGroup>): string | undefined => {
  const parts = path.split('/');
  const key = parts.slice(0, -2).join('/');
  return parts.length >= 4 && cells.has(key) ? key : undefined;
};

function ruleFor(spec: LeafSpec, flattened: Readonly<Record<string, readonly [number, number, number]>>, convTransposes: ReadonlyMap<string, ConvTransposeKernel> | undefined): LeafRule {
  const parts = spec.path.split('/');
  return leafRule(parts[0]!, parts.slice(1, -1), parts[parts.length - 1]!, spec.shape.length, flattened, convTransposes);
}

/** The model's ConvTranspose modules when `opts.model` is given (undefined without it). */
function modelConvTransposes(opts: TorchOptions, variables: unknown, what: string): Map<string, ConvTransposeKernel> | undefined {
  if (opts.model === undefined) {
    if (opts.inputShapes !== undefined) throw new FlaxenError('', `${what}: inputShapes were given without the model; pass both ({ model, inputShapes })`);
    return undefined;
  }
  return convTransposeKernels(opts.model, opts.inputShapes, variables, what);
}

function checkFlattened(opts: TorchOptions, specs: readonly LeafSpec[], what: string): Readonly<Record<string, readonly [number, number, number]>> {
  if (!isNode(opts)) throw new FlaxenError('', `${what}: options must be an object such as { flattenedFrom: { layers_4: [7, 7, 16] } }, found ${describeValue(opts)}`);
  const flattened = opts.flattenedFrom ?? {};
  if (!isNode(flattened)) throw new FlaxenError('', `${what}: flattenedFrom must map Dense module paths to [height, width, channels], found ${describeValue(flattened)}`);
  for (const modulePath of Object.keys(flattened)) {
    const hwc = flattened[modulePath];
    if (!Array.isArray(hwc) || hwc.length !== 3 || hwc.some((d) => !Number.isSafeInteger(d) || d < 1)) {
      throw new FlaxenError(modulePath, `${what}: flattenedFrom['${modulePath}'] must be [height, width, channels] of positive integers, found ${describeValue(hwc)}`);
    }
    const kernel = specs.find((s) => s.path === `params/${modulePath}/kernel`);
    if (!kernel || kernel.shape.length !== 2) {
      throw new FlaxenError(modulePath, `${what}: flattenedFrom names '${modulePath}', but the tree has no Dense kernel (rank 2) at params/${modulePath}/kernel`);
    }
    const size = hwc[0] * hwc[1] * hwc[2];
    if (kernel.shape[0] !== size) {
      throw new FlaxenError(modulePath, `${what}: flattenedFrom['${modulePath}'] is ${formatShape(hwc)} (${size} inputs), but the kernel is ${formatShape(kernel.shape)}`);
    }
  }
  return flattened as Readonly<Record<string, readonly [number, number, number]>>;
}

/** The torch-layout shape of a flaxen leaf under `rule`. */
function torchShape(rule: LeafRule, shape: readonly number[]): number[] {
  if (rule.projection === 'in') return [shape[1]! * shape[2]!, shape[0]!];
  if (rule.projection === 'out') return [shape[2]!, shape[0]! * shape[1]!];
  if (rule.projection === 'bias') return [shape[0]! * shape[1]!];
  return rule.perm ? rule.perm.map((axis) => shape[axis]!) : [...shape];
}

/** A flaxen tensor in torch layout (a new tensor). */
function toTorchLayout(rule: LeafRule, t: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    if (rule.flattenedFrom) {
      const [h, w, c] = rule.flattenedFrom;
      const out = t.shape[1]!;
      // rows (h, w, c) → columns (c, h, w)
      return tf.reshape(tf.transpose(tf.reshape(t, [h, w, c, out]), [3, 2, 0, 1]), [out, c * h * w]);
    }
    const [a, b, c] = t.shape as number[];
    if (rule.projection === 'in') return tf.transpose(tf.reshape(t, [a!, b! * c!]));
    if (rule.projection === 'out') return tf.transpose(tf.reshape(t, [a! * b!, c!]));
    if (rule.projection === 'bias') return tf.reshape(t, [a! * b!]);
    const moved = rule.perm ? tf.transpose(t, [...rule.perm]) : tf.clone(t);
    return rule.flip ? tf.reverse(moved, [...rule.flip]) : moved;
  });
}

/** A torch tensor in flaxen layout (a new tensor), the inverse of {@link toTorchLayout}. */
function fromTorchLayout(rule: LeafRule, t: tf.Tensor, dtype: tf.DataType, shape: readonly number[]): tf.Tensor {
  return tf.tidy(() => {
    let out: tf.Tensor;
    if (rule.flattenedFrom) {
      const [h, w, c] = rule.flattenedFrom;
      const features = t.shape[0]!;
      out = tf.reshape(tf.transpose(tf.reshape(t, [features, c, h, w]), [2, 3, 1, 0]), [h * w * c, features]);
    } else if (rule.projection) {
      out = tf.reshape(rule.projection === 'bias' ? t : tf.transpose(t), [...shape]);
    } else {
      const unflipped = rule.flip ? tf.reverse(t, [...rule.flip]) : t;
      out = rule.perm ? tf.transpose(unflipped, inversePerm(rule.perm)) : tf.clone(unflipped);
    }
    return out.dtype === dtype ? out : tf.cast(out, dtype);
  });
}

/** The torch names of a cell. */
function cellNames(group: CellGroup): { wih: string; whh: string; bih: string; bhh: string } {
  const at = (name: string) => (group.torchPrefix === '' ? name : `${group.torchPrefix}.${name}`);
  return { wih: at('weight_ih_l0'), whh: at('weight_hh_l0'), bih: at('bias_ih_l0'), bhh: at('bias_hh_l0') };
}

/**
 * The PyTorch `state_dict` of a flaxen variables tree, as a flat record of new tensors named
 * as PyTorch names them (see the module notes for the rules). Save it with
 * `fx.checkpoint.saveTensors`, and load it in Python with `safetensors.torch.load_file` and
 * `model.load_state_dict(sd, strict=True)` on the twin PyTorch model. The caller owns the
 * tensors; `variables` is only read.
 *
 * @param variables - the variables (`{ params, batch_stats? }`).
 * @param opts - `flattenedFrom` for Dense layers after a flatten; `model` and `inputShapes`
 *   for a model with a ConvTranspose (see {@link TorchOptions}).
 * @example
 * ```ts
 * const net = fx.nn.Sequential([fx.nn.Dense(8), fx.nn.relu, fx.nn.Dense(2)]);
 * const sd = fx.interop.toTorch(net.init(fx.random.key(0), [1, 3]));
 * Object.keys(sd);      // ['0.bias', '0.weight', '2.bias', '2.weight']
 * sd['0.weight']!.shape; // [8, 3]
 * ```
 */
export function toTorch(variables: unknown, opts: TorchOptions = {}): Readonly<Record<string, tf.Tensor>> {
  const specs = leafSpecs(variables, 'toTorch(variables)');
  const flattened = checkFlattened(opts, specs, 'toTorch');
  const convTransposes = modelConvTransposes(opts, variables, 'toTorch');
  const tensors = new Map(flatten<tf.Tensor>(variables));
  const cells = findCells(specs);
  const out: Array<[string, string, () => tf.Tensor]> = [];
  const statsModules = new Set<string>();
  for (const spec of specs) {
    if (cellOf(spec.path, cells)) continue;
    const tensor = tensors.get(spec.path)!;
    if (!(tensor instanceof tf.Tensor)) throw new FlaxenError(spec.path, `toTorch needs tensors (the variables from init), found ${describeValue(tensor)}`);
    const rule = ruleFor(spec, flattened, convTransposes);
    out.push([rule.torchName, spec.path, () => toTorchLayout(rule, tensor)]);
    const parts = spec.path.split('/');
    if (parts[0] === 'batch_stats') statsModules.add(torchModule(parts.slice(1, -1)));
  }
  for (const prefix of statsModules) out.push([prefix === '' ? NUM_BATCHES : `${prefix}.${NUM_BATCHES}`, 'batch_stats', () => tf.scalar(0, 'int32')]);
  for (const [cellPath, group] of cells) {
    const names = cellNames(group);
    const get = (gate: string, leaf: string) => tensors.get(`${cellPath}/${gate}/${leaf}`);
    const { layout } = group;
    const inputBias = (g: number): tf.Tensor | undefined => get(layout.input[g]!, 'bias');
    const hiddenBias = (g: number): tf.Tensor | undefined => get(layout.hidden[g]!, 'bias');
    const biasIh = (g: number) => (layout.biasAt[g] === 'hidden' ? hiddenBias(g) : inputBias(g));
    const biasHh = (g: number) => (layout.biasAt[g] === 'both' ? hiddenBias(g) : undefined);
    const features = get(layout.hidden[0]!, 'kernel')!.shape[1]!;
    const stackBias = (pick: (g: number) => tf.Tensor | undefined) => () =>
      tf.tidy(() => tf.concat(layout.input.map((_, g) => pick(g) ?? tf.zeros([features]))));
    out.push([names.wih, cellPath, () => tf.tidy(() => tf.concat(layout.input.map((gate) => tf.transpose(get(gate, 'kernel')!)), 0))]);
    out.push([names.whh, cellPath, () => tf.tidy(() => tf.concat(layout.hidden.map((gate) => tf.transpose(get(gate, 'kernel')!)), 0))]);
    out.push([names.bih, cellPath, stackBias(biasIh)]);
    out.push([names.bhh, cellPath, stackBias(biasHh)]);
  }
  const byName = new Map<string, string>();
  for (const [name, path] of out) {
    const other = byName.get(name);
    if (other !== undefined) throw new FlaxenError(path, `toTorch: the PyTorch name '${name}' would be given to both ${other} and ${path}; rename one of the modules`);
    byName.set(name, path);
  }
  const record: Record<string, tf.Tensor> = {};
  const made: tf.Tensor[] = [];
  try {
    for (const [name, , make] of [...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const t = make();
      made.push(t);
      Object.defineProperty(record, name, { value: t, enumerable: true });
    }
  } catch (error) {
    for (const t of made) t.dispose();
    throw error;
  }
  return Object.freeze(record);
}

/**
 * Reads a PyTorch `state_dict` (a flat record of tensors, e.g. from
 * `fx.checkpoint.loadTensors`) into a flaxen variables tree shaped like `target` (the twin
 * model's `initShapes` output, or its variables). Every missing, unexpected, mis-shaped or
 * mis-typed entry is reported at once in a {@link TorchMismatchError}, by PyTorch name and
 * flaxen path, with both shapes; `num_batches_tracked` entries are ignored. Integer entries
 * read into float leaves are converted. Returns a frozen tree of new tensors (the caller owns
 * them); the `state_dict` is only read.
 *
 * @param stateDict - PyTorch names to tensors.
 * @param target - the twin model's `initShapes(...)` output or variables.
 * @param opts - `flattenedFrom` for Dense layers after a flatten; `model` and `inputShapes`
 *   for a model with a ConvTranspose (see {@link TorchOptions}).
 * @example
 * ```ts
 * const net = fx.nn.Sequential([fx.nn.Dense(8), fx.nn.relu, fx.nn.Dense(2)]);
 * const sd = { '0.weight': tf.ones([8, 3]), '0.bias': tf.zeros([8]), '2.weight': tf.ones([2, 8]), '2.bias': tf.zeros([2]) };
 * const variables = fx.interop.fromTorch(sd, net.initShapes(fx.random.key(0), [1, 3]));
 * variables.params.layers_0.kernel.shape; // [3, 8]
 * ```
 */
export function fromTorch<T>(stateDict: Readonly<Record<string, tf.Tensor>>, target: T, opts: TorchOptions = {}): Restored<T> {
  if (!isNode(stateDict)) throw new FlaxenError('', `fromTorch(stateDict, target): stateDict must be a record of tensors such as { '0.weight': tensor }, found ${describeValue(stateDict)}`);
  for (const name of Object.keys(stateDict)) {
    const t = stateDict[name];
    if (!(t instanceof tf.Tensor)) throw new FlaxenError('', `fromTorch: stateDict['${name}'] must be a tensor, found ${describeValue(t)}`);
    if (t.isDisposed) throw new FlaxenError('', `fromTorch: stateDict['${name}'] was disposed`);
  }
  const specs = leafSpecs(target, 'fromTorch(stateDict, target): target');
  const flattened = checkFlattened(opts, specs, 'fromTorch');
  const convTransposes = modelConvTransposes(opts, target, 'fromTorch');
  const cells = findCells(specs);
  const problems: TorchProblem[] = [];
  const used = new Set<string>();
  const shapeText = (s: readonly number[]) => formatShape(s);
  /** Checks one torch entry; true when it can be read. */
  const expect = (torchName: string, path: string, shape: readonly number[], dtype: string): boolean => {
    const found = Object.prototype.hasOwnProperty.call(stateDict, torchName) ? stateDict[torchName] : undefined;
    if (!found) {
      problems.push({ kind: 'missing', torchName, path, expected: `${dtype}${shapeText(shape)}` });
      return false;
    }
    used.add(torchName);
    if (found.shape.length !== shape.length || found.shape.some((d, i) => d !== shape[i])) {
      problems.push({ kind: 'shape', torchName, path, expected: shapeText(shape), found: shapeText(found.shape) });
      return false;
    }
    if (found.dtype === 'bool' || (dtype === 'int32' && found.dtype !== 'int32')) {
      problems.push({ kind: 'dtype', torchName, path, expected: dtype, found: found.dtype });
      return false;
    }
    return true;
  };
  const plans: Array<[string, () => tf.Tensor]> = [];
  for (const spec of specs) {
    if (cellOf(spec.path, cells)) continue;
    const rule = ruleFor(spec, flattened, convTransposes);
    if (expect(rule.torchName, spec.path, torchShape(rule, spec.shape), spec.dtype)) {
      plans.push([spec.path, () => fromTorchLayout(rule, stateDict[rule.torchName]!, spec.dtype as tf.DataType, spec.shape)]);
    }
  }
  const specByPath = new Map(specs.map((s) => [s.path, s]));
  for (const [cellPath, group] of cells) {
    const { layout } = group;
    const names = cellNames(group);
    const gates = layout.input.length;
    const inKernel = specByPath.get(`${cellPath}/${layout.input[0]}/kernel`);
    const hiddenKernel = specByPath.get(`${cellPath}/${layout.hidden[0]}/kernel`);
    if (!inKernel || !hiddenKernel || inKernel.shape.length !== 2 || hiddenKernel.shape.length !== 2) {
      throw new FlaxenError(cellPath, `fromTorch: this ${layout.torchType} cell needs rank-2 kernels under each gate`);
    }
    const [inFeatures, features] = inKernel.shape as [number, number];
    const ok = [
      expect(names.wih, cellPath, [gates * features, inFeatures], 'float32'),
      expect(names.whh, cellPath, [gates * features, features], 'float32'),
      expect(names.bih, cellPath, [gates * features], 'float32'),
      expect(names.bhh, cellPath, [gates * features], 'float32'),
    ].every(Boolean);
    if (!ok) continue;
    const rows = (t: tf.Tensor, g: number) => tf.slice(t, [g * features, 0], [features, t.shape[1]!]);
    const part = (t: tf.Tensor, g: number) => tf.cast(tf.slice(t, [g * features], [features]), 'float32');
    const [wih, whh, bih, bhh] = [names.wih, names.whh, names.bih, names.bhh].map((n) => stateDict[n]!);
    layout.input.forEach((gate, g) => {
      plans.push([`${cellPath}/${gate}/kernel`, () => tf.tidy(() => tf.cast(tf.transpose(rows(wih!, g)), 'float32'))]);
      plans.push([`${cellPath}/${layout.hidden[g]}/kernel`, () => tf.tidy(() => tf.cast(tf.transpose(rows(whh!, g)), 'float32'))]);
      const at = layout.biasAt[g];
      const inputBias = specByPath.has(`${cellPath}/${gate}/bias`);
      const hiddenBias = specByPath.has(`${cellPath}/${layout.hidden[g]}/bias`);
      const summed = () => tf.tidy(() => tf.add(part(bih!, g), part(bhh!, g)));
      if (at === 'both') {
        if (inputBias) plans.push([`${cellPath}/${gate}/bias`, () => tf.tidy(() => part(bih!, g))]);
        if (hiddenBias) plans.push([`${cellPath}/${layout.hidden[g]}/bias`, () => tf.tidy(() => part(bhh!, g))]);
      } else if (at === 'input' && inputBias) plans.push([`${cellPath}/${gate}/bias`, summed]);
      else if (at === 'hidden' && hiddenBias) plans.push([`${cellPath}/${layout.hidden[g]}/bias`, summed]);
    });
  }
  for (const name of Object.keys(stateDict)) {
    if (used.has(name) || name === NUM_BATCHES || name.endsWith(`.${NUM_BATCHES}`)) continue;
    const t = stateDict[name]!;
    problems.push({ kind: 'unexpected', torchName: name, path: '', found: `${t.dtype}${shapeText(t.shape)}` });
  }
  if (problems.length) {
    problems.sort((a, b) => (a.torchName < b.torchName ? -1 : a.torchName > b.torchName ? 1 : 0));
    throw new TorchMismatchError(problems);
  }
  const made: Array<[string, tf.Tensor]> = [];
  try {
    for (const [path, make] of plans) made.push([path, make()]);
  } catch (error) {
    for (const [, t] of made) t.dispose();
    throw error;
  }
  return unflatten(made) as never;
}
