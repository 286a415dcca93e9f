/**
 * The errors of `fx.checkpoint`: a damaged or hostile file ({@link CheckpointError}) and a
 * checkpoint that does not fit the model it is restored into ({@link CheckpointMismatchError}).
 *
 * @module
 */
import { FlaxenError, formatShape } from '../errors.js';

/**
 * A checkpoint could not be written or read: the file is damaged, truncated or hostile, an
 * entry is malformed, or the file system refused. `path` is the tensor path concerned
 * (`params/layers_0/kernel`), or `''` when the problem concerns the whole file.
 *
 * @example
 * ```ts
 * try { fx.checkpoint.fromBytes(new Uint8Array(3)); }
 * catch (e) { console.log(e instanceof fx.checkpoint.CheckpointError, (e as Error).message); }
 * // true checkpoint: the data is 3 bytes long; a safetensors file starts with an 8-byte header length
 * ```
 */
export class CheckpointError extends FlaxenError {
  /**
   * @param path - the tensor path, or `''` for the whole file.
   * @param detail - what was expected and what was found.
   * @param options - `cause`: the underlying error (e.g. from the file system).
   */
  constructor(path: string, detail: string, options?: { readonly cause?: unknown }) {
    super(path, detail);
    if (options && 'cause' in options) Object.defineProperty(this, 'cause', { value: options.cause, enumerable: false, writable: true, configurable: true });
  }
}

/**
 * One difference between a checkpoint and the target it is restored into.
 * `kind` is `missing` (the target has it, the file does not), `unexpected` (the file has it,
 * the target does not), `shape` or `dtype` (both have a tensor, but differently), or `type`
 * (one has a tensor, the other a JS number or a random key).
 *
 * @example
 * ```ts
 * const p: fx.checkpoint.CheckpointProblem = { kind: 'shape', path: 'params/kernel', expected: '[20, 10]', found: '[30, 10]' };
 * ```
 */
export interface CheckpointProblem {
  /** What differs: `missing`, `unexpected`, `shape`, `dtype` or `type` (see above). */
  readonly kind: 'missing' | 'unexpected' | 'shape' | 'dtype' | 'type';
  /** The `/`-joined path of the entry (relative to the prefix, if one was given). */
  readonly path: string;
  /** What the target has (absent for `unexpected`). */
  readonly expected?: string;
  /** What the checkpoint has (absent for `missing`). */
  readonly found?: string;
}

/** How many problems the message lists; all of them are in `problems`. */
const LISTED = 40;

function describeProblem(p: CheckpointProblem): string {
  switch (p.kind) {
    case 'missing':
      return `missing ${p.path} (the target expects ${p.expected})`;
    case 'unexpected':
      return `unexpected ${p.path} (${p.found} in the checkpoint, not in the target)`;
    case 'shape':
      return `shape of ${p.path}: the target expects ${p.expected}, the checkpoint has ${p.found}`;
    case 'dtype':
      return `dtype of ${p.path}: the target expects ${p.expected}, the checkpoint has ${p.found}`;
    case 'type':
      return `type of ${p.path}: the target expects ${p.expected}, the checkpoint has ${p.found}`;
  }
}

/**
 * A checkpoint does not fit the target it is restored into. Every difference is reported at
 * once, in `problems` (all of them) and in the message (one line each, the first 40).
 *
 * @example
 * ```ts
 * const net = fx.nn.Dense(10);
 * const bytes = fx.checkpoint.toBytes(net.init(fx.random.key(0), [1, 20]));
 * try { fx.checkpoint.fromBytes(bytes, net.initShapes(fx.random.key(0), [1, 30])); }
 * catch (e) {
 *   if (e instanceof fx.checkpoint.CheckpointMismatchError) console.log(e.problems);
 *   // [{ kind: 'shape', path: 'params/kernel', expected: 'float32[30, 10]', found: 'float32[20, 10]' }]
 * }
 * ```
 */
export class CheckpointMismatchError extends CheckpointError {
  /** Every difference, in path order. */
  readonly problems: readonly CheckpointProblem[];
  /**
   * @param problems - the differences (at least one).
   * @param source - what was read, for the message (e.g. `checkpoint file 'model.safetensors'`).
   */
  constructor(problems: readonly CheckpointProblem[], source = 'checkpoint') {
    const lines = problems.slice(0, LISTED).map((p) => `\n  - ${describeProblem(p)}`);
    const more = problems.length > LISTED ? `\n  … and ${problems.length - LISTED} more (see error.problems)` : '';
    const counts = (['missing', 'unexpected', 'shape', 'dtype', 'type'] as const)
      .map((kind) => [kind, problems.filter((p) => p.kind === kind).length] as const)
      .filter(([, n]) => n > 0)
      .map(([kind, n]) => `${n} ${kind === 'shape' || kind === 'dtype' || kind === 'type' ? `${kind} mismatch${n > 1 ? 'es' : ''}` : kind}`);
    super('', `${source} does not match the target: ${counts.join(', ')}:${lines.join('')}${more}`);
    this.problems = Object.freeze(problems.map((p) => Object.freeze({ ...p })));
  }
}

/** Formats a dtype and shape as in the messages, e.g. `float32[20, 10]`. @internal */
export function formatEntry(dtype: string, shape: readonly number[]): string {
  return `${dtype}${formatShape(shape)}`;
}
