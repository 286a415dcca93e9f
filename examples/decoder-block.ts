/**
 * A causal Transformer decoder written as custom compact modules: a pre-norm decoder block
 * (masked self-attention and an MLP, each behind a LayerNorm and a residual connection) and a
 * small language model built from it, with the masks made by `fx.nn.makeCausalMask`,
 * `fx.nn.makeAttentionMask` and `fx.nn.combineMasks` as Flax's lm1b decoder makes them.
 * `examples/char-lm.ts` trains `CausalLM` on characters.
 *
 *     npm run build && node dist/examples/decoder-block.js
 *
 * @module
 */
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../lib/index.js';

/** Options of {@link DecoderBlock}. */
export interface DecoderBlockOptions {
  /** Attention heads; must divide the model width (default 4). */
  readonly numHeads?: number;
  /** Width of the MLP's hidden layer as a multiple of the model width (default 4). */
  readonly mlpRatio?: number;
  /** Dropout after attention and after the MLP, in training (default 0). */
  readonly dropoutRate?: number;
}

/**
 * One pre-norm decoder block: `h = x + SelfAttention(LayerNorm(x), mask)`, then
 * `h + MLP(LayerNorm(h))` with MLP = Dense(ratio·width) → GELU → Dense(width). Apply it to
 * `(x, mask)`: x `[batch, length, width]` and a mask that broadcasts to
 * `[batch, heads, length, length]`; a causal mask makes position `i` see only `0 … i`.
 *
 * @example
 * ```ts
 * const block = DecoderBlock({ numHeads: 2 });
 * const vars = block.init(fx.random.key(0), [1, 5, 16], fx.nn.makeCausalMask(tf.zeros([1, 5])));
 * vars.params.Dense_0.kernel.shape; // [16, 64]
 * ```
 */
export function DecoderBlock(opts: DecoderBlockOptions = {}) {
  const { numHeads = 4, mlpRatio = 4, dropoutRate = 0 } = opts;
  return fx.nn.module('DecoderBlock', (scope, x: tf.Tensor, mask: tf.Tensor) => {
    const width = x.shape[x.shape.length - 1]!;
    const attended = scope.call(fx.nn.SelfAttention({ numHeads }), scope.call(fx.nn.LayerNorm(), x), mask);
    const h = tf.add(x, scope.call(fx.nn.Dropout(dropoutRate), attended));
    const hidden = fx.nn.gelu(scope.call(fx.nn.Dense(mlpRatio * width), scope.call(fx.nn.LayerNorm(), h)));
    return tf.add(h, scope.call(fx.nn.Dropout(dropoutRate), scope.call(fx.nn.Dense(width), hidden)));
  });
}

/** Options of {@link CausalLM}. */
export interface CausalLMOptions {
  /** The number of token ids. */
  readonly vocab: number;
  /** The model width. */
  readonly width: number;
  /** The number of decoder blocks. */
  readonly depth: number;
  /** The longest sequence (the size of the learned position table). */
  readonly maxLength: number;
  /** Attention heads (default 4). */
  readonly numHeads?: number;
  /** Dropout in the blocks, in training (default 0). */
  readonly dropoutRate?: number;
  /** A token id that is padding: no position attends to it (default: none). */
  readonly padId?: number;
}

/**
 * A causal language model: token embeddings plus learned position embeddings
 * (`pos_embedding` `[maxLength, width]`), `depth` decoder blocks under one mask, a final
 * LayerNorm and a Dense layer to `vocab` logits. Apply it to int32 tokens `[batch, length]`;
 * the logits `[batch, length, vocab]` at position `i` predict token `i + 1` from tokens `0 … i`.
 *
 * @example
 * ```ts
 * const lm = CausalLM({ vocab: 30, width: 16, depth: 1, maxLength: 8, numHeads: 2 });
 * const vars = lm.init(fx.random.key(0), tf.zeros([1, 8], 'int32'));
 * vars.params.pos_embedding.shape; // [8, 16]
 * ```
 */
export function CausalLM(o: CausalLMOptions) {
  return fx.nn.module('CausalLM', (scope, tokens: tf.Tensor) => {
    const length = tokens.shape[1]!;
    if (length > o.maxLength) throw new fx.ShapeError(scope.path, `CausalLM: a sequence of length ${length} is longer than maxLength ${o.maxLength} (the position table's size)`);
    let mask = fx.nn.makeCausalMask(tokens); // [batch, 1, length, length]; abstract during shape inference
    if (o.padId !== undefined) {
      const real = tf.notEqual(tokens, o.padId);
      mask = fx.nn.combineMasks([mask, fx.nn.makeAttentionMask(real, real)])!;
    }
    const positions = scope.param('pos_embedding', fx.initializers.normal(0.02), [o.maxLength, o.width]);
    let h = tf.add(scope.call(fx.nn.Embed(o.vocab, o.width), tokens), tf.slice(positions, [0, 0], [length, o.width]));
    for (let i = 0; i < o.depth; i++) h = scope.call(DecoderBlock({ numHeads: o.numHeads, dropoutRate: o.dropoutRate }), h, mask);
    return scope.call(fx.nn.Dense(o.vocab), scope.call(fx.nn.LayerNorm(), h));
  });
}

/** What {@link demo} found, for the spec. */
export interface DecoderDemoResult {
  /** Parameters of the model. */
  readonly parameters: number;
  /** True when changing the last token left every earlier position's logits bit for bit unchanged. */
  readonly causal: boolean;
  /** True when the last position's logits did change. */
  readonly lastChanged: boolean;
  /** The causal-and-padding mask of `[3, 5, 7, pad, pad]`, row by row. */
  readonly paddedMask: number[][];
  /** True when every logit of the padded sequence is finite (the pads' rows see no key at all). */
  readonly paddedFinite: boolean;
  /** Tensors left alive by the demo (0). */
  readonly leaked: number;
}

/**
 * Builds a two-block `CausalLM`, prints its parameters, and checks what the masks promise:
 * a later token never changes an earlier position's logits, and padding rows stay finite.
 */
export async function demo(log: (line: string) => void = console.log): Promise<DecoderDemoResult> {
  await fx.ready();
  const before = tf.memory().numTensors;
  const lm = CausalLM({ vocab: 20, width: 32, depth: 2, maxLength: 8, numHeads: 4, padId: 0 });
  const tokens = tf.tensor2d([[3, 5, 7, 9, 2, 4, 6, 8]], [1, 8], 'int32');
  const variables = lm.init(fx.random.key(0), tokens);
  const parameters = fx.tree.count(variables);
  log(`CausalLM (2 decoder blocks, width 32, 4 heads): ${parameters.toLocaleString('en-US')} parameters`);
  for (const [path, leaf] of fx.tree.flatten<tf.Tensor>(variables.params)) if (!path.startsWith('DecoderBlock_1')) log(`  ${path.padEnd(44)} [${leaf.shape.join(', ')}]`);
  log('  DecoderBlock_1/…  (as DecoderBlock_0)');

  const mask = fx.nn.makeCausalMask(tokens);
  log(`causal mask [${mask.shape.join(', ')}], row by row:`);
  const rows = mask.arraySync() as number[][][][];
  for (const row of rows[0]![0]!) log(`  ${row.map((v) => (v ? '1' : '·')).join(' ')}`);

  const logitsOf = (ids: number[]) => tf.tidy(() => lm.apply(variables, tf.tensor2d([ids], [1, ids.length], 'int32')).arraySync() as number[][][]);
  const a = logitsOf([3, 5, 7, 9, 2, 4, 6, 8]);
  const b = logitsOf([3, 5, 7, 9, 2, 4, 6, 1]); // only the last token differs
  const same = (x: number[], y: number[]) => x.every((v, i) => Object.is(v, y[i]));
  const causal = a[0]!.slice(0, 7).every((row, i) => same(row, b[0]![i]!));
  const lastChanged = !same(a[0]![7]!, b[0]![7]!);
  log(`changing the last token: positions 0-6 unchanged bit for bit: ${causal}; position 7 changed: ${lastChanged}`);
  // Padding (id 0) at the end: the combined mask hides the pads as keys, so a pad's own row sees
  // nothing at all, and its logits must still be finite.
  const padded = tf.tensor2d([[3, 5, 7, 0, 0]], [1, 5], 'int32');
  const combined = tf.tidy(() => fx.nn.combineMasks([fx.nn.makeCausalMask(padded), fx.nn.makeAttentionMask(tf.notEqual(padded, 0), tf.notEqual(padded, 0))])!);
  log('causal and padding mask for [3, 5, 7, pad, pad]:');
  const combinedRows = (combined.arraySync() as number[][][][])[0]![0]!;
  for (const row of combinedRows) log(`  ${row.map((v) => (v ? '1' : '·')).join(' ')}`);
  const paddedLogits = logitsOf([3, 5, 7, 0, 0]);
  const paddedFinite = paddedLogits[0]!.every((row) => row.every(Number.isFinite));
  log(`logits of the padded sequence all finite: ${paddedFinite}`);
  tf.dispose([padded, combined]);
  fx.tree.dispose(variables);
  tf.dispose([tokens, mask]);
  const leaked = tf.memory().numTensors - before;
  log(`tensors left: ${leaked}`);
  return { parameters, causal, lastChanged, paddedMask: combinedRows, paddedFinite, leaked };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await demo();
}
