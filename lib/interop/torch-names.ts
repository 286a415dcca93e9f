/**
 * The naming and layout rules between a flaxen variables tree and a PyTorch `state_dict`, one
 * leaf (or one recurrent cell) at a time. Pure functions of names and shapes: the tensors are
 * converted in `torch.ts`.
 *
 * @module
 * @internal
 */
import { FlaxenError } from '../errors.js';
import type { ConvTransposeKernel } from './torch-modules.js';

/** How one flaxen leaf becomes one torch entry. @internal */
export interface LeafRule {
  /** The torch name, dot-joined. */
  readonly torchName: string;
  /** The flaxen path, `/`-joined, collection first. */
  readonly path: string;
  /** Axes permutation from flaxen to torch (undefined: the same layout). */
  readonly perm?: readonly number[];
  /** Axes (of the torch layout) reversed after the permutation: a ConvTranspose kernel's spatial axes. */
  readonly flip?: readonly number[];
  /** For a Dense kernel after a flatten: the `[h, w, c]` of the flattened feature map. */
  readonly flattenedFrom?: readonly [number, number, number];
  /**
   * An attention projection (Flax's DenseGeneral) as a Linear: `in` (query/key/value kernel
   * `[features, heads, headDim]` ↔ weight `[heads·headDim, features]`), `out` (kernel
   * `[heads, headDim, features]` ↔ weight `[features, heads·headDim]`), `bias` (`[heads,
   * headDim]` ↔ `[heads·headDim]`).
   */
  readonly projection?: 'in' | 'out' | 'bias';
}

/** `layers_<i>` is `<i>` (as in `torch.nn.Sequential`); other names are kept. @internal */
export function torchSegment(segment: string): string {
  const m = /^layers_(\d+)$/.exec(segment);
  return m ? m[1]! : segment;
}

/** The torch module prefix of a flaxen module path (segments after the collection). @internal */
export function torchModule(moduleSegments: readonly string[]): string {
  return moduleSegments.map(torchSegment).join('.');
}

const join = (prefix: string, name: string): string => (prefix === '' ? name : `${prefix}.${name}`);

/** Axes permutations of kernels, flaxen → torch, by rank. */
const KERNEL_PERM: Readonly<Record<number, readonly number[]>> = {
  2: [1, 0], // Dense [in, out] → Linear [out, in]
  3: [2, 1, 0], // Conv 1-D [k, in, out] → Conv1d [out, in, k]
  4: [3, 2, 0, 1], // Conv [kh, kw, in, out] → Conv2d [out, in, kh, kw]
};

/**
 * ConvTranspose kernels, flaxen → `nn.ConvTranspose1d/2d` weight `[in, out, ...k]`, by rank and
 * storage. PyTorch's transposed convolution is the gradient of its convolution: it correlates
 * the stride-dilated input with the kernel flipped spatially, in and out swapped. Flax's
 * (`transposeKernel` false) correlates with the stored kernel as it is, so its kernel
 * `[...k, in, out]` is PyTorch's weight flipped; with `transposeKernel` flaxen flips the stored
 * `[...k, out, in]` itself, so only the axes move.
 */
const CONV_TRANSPOSE: Readonly<Record<ConvTransposeKernel, Readonly<Record<number, { perm: readonly number[]; flip?: readonly number[] }>>>> = {
  flax: { 3: { perm: [1, 2, 0], flip: [2] }, 4: { perm: [2, 3, 0, 1], flip: [2, 3] } },
  transposed: { 3: { perm: [2, 1, 0] }, 4: { perm: [3, 2, 0, 1] } },
};

/** The projections of Flax's MultiHeadDotProductAttention (DenseGeneral kernels of rank 3). */
const ATTENTION_PROJECTIONS = new Set(['query', 'key', 'value', 'out']);

/** The inverse of a permutation. @internal */
export function inversePerm(perm: readonly number[]): number[] {
  const out = new Array<number>(perm.length);
  perm.forEach((p, i) => (out[p] = i));
  return out;
}

/**
 * The rule of one leaf of collection `collection` at module path `moduleSegments`, named
 * `leaf`, of rank `rank`. `convTransposes` are the model's ConvTranspose modules by path, when
 * the model was given. Throws a FlaxenError for a kernel with no PyTorch layout (of a rank
 * other than 2 to 4), and, without the model, for one under a module named
 * `ConvTranspose_<k>`. @internal
 */
export function leafRule(
  collection: string,
  moduleSegments: readonly string[],
  leaf: string,
  rank: number,
  flattened: Readonly<Record<string, readonly [number, number, number]>>,
  convTransposes?: ReadonlyMap<string, ConvTransposeKernel>,
): LeafRule {
  const prefix = torchModule(moduleSegments);
  const path = [collection, ...moduleSegments, leaf].join('/');
  if (collection === 'batch_stats') {
    const name = leaf === 'mean' ? 'running_mean' : leaf === 'var' ? 'running_var' : leaf;
    return { torchName: join(prefix, name), path };
  }
  const owner = moduleSegments[moduleSegments.length - 1] ?? '';
  if (collection === 'params' && ATTENTION_PROJECTIONS.has(owner)) {
    if (leaf === 'kernel' && rank === 3) return { torchName: join(prefix, 'weight'), path, projection: owner === 'out' ? 'out' : 'in' };
    if (leaf === 'bias' && rank === 2 && owner !== 'out') return { torchName: join(prefix, 'bias'), path, projection: 'bias' };
  }
  const transposeKind = convTransposes?.get(moduleSegments.join('/'));
  if (collection === 'params' && leaf === 'kernel' && transposeKind) {
    const layout = CONV_TRANSPOSE[transposeKind][rank];
    if (!layout) throw new FlaxenError(moduleSegments.join('/'), `a ConvTranspose kernel of rank ${rank} has no PyTorch layout here (rank 3: ConvTranspose1d, 4: ConvTranspose2d)`);
    return { torchName: join(prefix, 'weight'), path, perm: layout.perm, ...(layout.flip ? { flip: layout.flip } : {}) };
  }
  if (!convTransposes && leaf === 'kernel' && moduleSegments.some((m) => /^ConvTranspose(_\d+)?$/.test(m))) {
    throw new FlaxenError(
      moduleSegments.join('/'),
      `this looks like a ConvTranspose kernel, whose PyTorch layout (nn.ConvTranspose2d's [in, out, kh, kw], flipped) differs from a Conv's; pass the model and its input shapes ({ model, inputShapes }) so that the layers are known`,
    );
  }
  if (leaf === 'kernel' && !KERNEL_PERM[rank]) {
    throw new FlaxenError(moduleSegments.join('/'), `a kernel of rank ${rank} has no PyTorch layout here (rank 2: Dense ↔ Linear, 3: Conv 1-D ↔ Conv1d or an attention projection under query/key/value/out, 4: Conv ↔ Conv2d)`);
  }
  if (leaf === 'kernel' && KERNEL_PERM[rank]) {
    const modulePath = moduleSegments.join('/');
    const from = rank === 2 ? flattened[modulePath] : undefined;
    return { torchName: join(prefix, 'weight'), path, perm: KERNEL_PERM[rank], ...(from ? { flattenedFrom: from } : {}) };
  }
  if (leaf === 'scale' || leaf === 'embedding') return { torchName: join(prefix, 'weight'), path };
  return { torchName: join(prefix, leaf), path };
}

/** One recurrent cell's gates in PyTorch's order, and which flaxen bias each torch bias feeds. @internal */
export interface CellLayout {
  /** The flaxen input-kernel submodules, in torch's gate order. */
  readonly input: readonly string[];
  /** The flaxen hidden-kernel submodules, in torch's gate order. */
  readonly hidden: readonly string[];
  /**
   * Per gate, where the biases live in flaxen: `input` (the input kernel has the bias),
   * `hidden` (the hidden one has it), or `both` (GRU's `n` gate: `in` and `hn` each have one).
   */
  readonly biasAt: ReadonlyArray<'input' | 'hidden' | 'both'>;
  /** The PyTorch module type, for messages. */
  readonly torchType: string;
}

/** The cells of `fx.nn` (LSTMCell, GRUCell, SimpleCell) in PyTorch's gate order. @internal */
export const CELLS: ReadonlyArray<CellLayout> = [
  { torchType: 'nn.LSTM', input: ['ii', 'if', 'ig', 'io'], hidden: ['hi', 'hf', 'hg', 'ho'], biasAt: ['hidden', 'hidden', 'hidden', 'hidden'] },
  { torchType: 'nn.GRU', input: ['ir', 'iz', 'in'], hidden: ['hr', 'hz', 'hn'], biasAt: ['input', 'input', 'both'] },
  { torchType: 'nn.RNN', input: ['i'], hidden: ['h'], biasAt: ['input'] },
];

/** The cell layout whose submodule names are exactly `names`, if any. @internal */
export function cellLayout(names: ReadonlySet<string>): CellLayout | undefined {
  return CELLS.find((c) => c.input.length + c.hidden.length === names.size && [...c.input, ...c.hidden].every((n) => names.has(n)));
}
