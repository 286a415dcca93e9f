/**
 * A Transformer encoder block written as a custom compact module: pre-LayerNorm self-attention
 * and MLP with residual connections. No size is written anywhere: the model width, the
 * attention projections and the MLP all follow the input's last axis.
 *
 *     npm run build && node dist/examples/transformer-block.js
 *
 * @module
 */
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../lib/index.js';

/** Options of {@link TransformerBlock}. */
export interface TransformerBlockOptions {
  /** Attention heads; must divide the model width (default 4). */
  readonly numHeads?: number;
  /** Width of the MLP's hidden layer as a multiple of the model width (default 4). */
  readonly mlpRatio?: number;
  /** Dropout after attention and MLP, in training (default 0). */
  readonly dropoutRate?: number;
}

/**
 * One pre-norm Transformer encoder block:
 * `x + Attention(LayerNorm(x))`, then `h + MLP(LayerNorm(h))`, where MLP is
 * Dense(ratio·width) → GELU → Dense(width). Apply it to `(x, mask?)` with x
 * `[batch, length, width]`.
 *
 * @example
 * ```ts
 * const block = TransformerBlock({ numHeads: 4 });
 * const vars = block.init(fx.random.key(0), [2, 16, 64]);
 * vars.params.Dense_0.kernel.shape; // [64, 256]
 * ```
 */
export function TransformerBlock(opts: TransformerBlockOptions = {}) {
  const { numHeads = 4, mlpRatio = 4, dropoutRate = 0 } = opts;
  return fx.nn.module('TransformerBlock', (scope, x: tf.Tensor, mask?: tf.Tensor) => {
    const width = x.shape[x.shape.length - 1]!;
    const attended = scope.call(fx.nn.SelfAttention({ numHeads }), scope.call(fx.nn.LayerNorm(), x), mask);
    const h = tf.add(x, scope.call(fx.nn.Dropout(dropoutRate), attended));
    const hidden = fx.nn.gelu(scope.call(fx.nn.Dense(mlpRatio * width), scope.call(fx.nn.LayerNorm(), h)));
    const mlp = scope.call(fx.nn.Dense(width), hidden);
    return tf.add(h, scope.call(fx.nn.Dropout(dropoutRate), mlp));
  });
}

/**
 * A small encoder: token embeddings, `depth` blocks under a causal mask, a final LayerNorm, and
 * logits through the embedding table (`Embed.attend`, weight tying).
 *
 * @example
 * ```ts
 * const lm = TinyEncoder({ vocab: 100, width: 32, depth: 2 });
 * const vars = lm.init(fx.random.key(0), tf.zeros([1, 8], 'int32'));
 * ```
 */
export function TinyEncoder(o: { vocab: number; width: number; depth: number; numHeads?: number }) {
  const embed = fx.nn.Embed(o.vocab, o.width, { name: 'embed' });
  return fx.nn.module('TinyEncoder', (scope, tokens: tf.Tensor) => {
    const mask = fx.nn.causalMask(tokens); // abstract while shapes are inferred, so nothing leaks
    let h = scope.call(embed, tokens);
    for (let i = 0; i < o.depth; i++) h = scope.call(TransformerBlock({ numHeads: o.numHeads ?? 4 }), h, mask);
    return scope.call(embed.attend, scope.call(fx.nn.LayerNorm(), h));
  });
}

/** Shows the block's parameters at two widths, then runs the encoder forward and backward. */
export async function demo(): Promise<void> {
  await fx.ready();
  const block = TransformerBlock({ numHeads: 4 });
  for (const width of [32, 64]) {
    const shapes = block.initShapes(fx.random.key(0), [2, 10, width]);
    console.log(`\nTransformerBlock at width ${width}: ${fx.tree.count(shapes).toLocaleString('en-US')} parameters`);
    for (const [path, leaf] of fx.tree.flatten<fx.ShapeDtype>(shapes)) console.log(`  ${path.padEnd(46)} [${leaf.shape.join(', ')}]`);
  }

  const lm = TinyEncoder({ vocab: 50, width: 32, depth: 2 });
  const tokens = tf.tensor2d([[1, 5, 7, 9, 2, 3, 4, 8]], [1, 8], 'int32');
  const before = tf.memory().numTensors;
  const variables = lm.init(fx.random.key(0), tokens);
  console.log(`init made ${tf.memory().numTensors - before} tensors for ${fx.tree.leaves(variables).length} parameters`);
  const logits = lm.apply(variables, tokens);
  console.log(`\nTinyEncoder logits: [${logits.shape.join(', ')}], ${fx.tree.count(variables).toLocaleString('en-US')} parameters`);
  const loss = (params: (typeof variables)['params']) => {
    const out = lm.apply({ params }, tokens);
    return tf.mean(fx.losses.softmaxCrossEntropyWithIntegerLabels(tf.reshape(out, [8, 50]), tf.reshape(tokens, [8])));
  };
  const [value, grads] = fx.valueAndGrad(loss)(variables.params);
  console.log(`loss ${value.dataSync()[0]!.toFixed(4)} (ln 50 = ${Math.log(50).toFixed(4)}); gradient of the tied embedding: [${(grads as Record<string, Record<string, tf.Tensor>>)['embed']!['embedding']!.shape.join(', ')}]`);
  fx.tree.dispose([variables, logits, value, grads, tokens]);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await demo();
}
