/**
 * The recurrent section of the benchmark: what its parent (`bench/rnn.ts`) and its two worker
 * processes say to each other, and the sizes both sides train at. Imports nothing from flaxen
 * (the tfjs-layers worker loads it too).
 *
 * @module
 */

/** The sizes of issue 13's LSTM row: batch 32, 64 steps, 128 hidden units, a 64-symbol vocabulary. */
export const LSTM_SIZES = { batch: 32, time: 64, hidden: 128, vocab: 64 } as const;

/** The causal Transformer block's sizes: the same batch, steps and vocabulary, width 128, 4 heads, MLP 512. */
export const BLOCK_SIZES = { batch: 32, time: 64, width: 128, heads: 4, mlp: 512, vocab: 64 } as const;

/** A measurement the parent asks a recurrent-bench worker for (one round). */
export type RnnTask =
  | { readonly kind: 'peak' }
  /** LSTM training steps; `cell` picks flaxen's cell (the tfjs-layers worker ignores it). */
  | { readonly kind: 'lstm'; readonly steps: number; readonly cell?: 'LSTMCell' | 'OptimizedLSTMCell' }
  | { readonly kind: 'block'; readonly steps: number }
  | { readonly kind: 'exit' };

/**
 * A fixed pool of token sequences `[batch, time]` and their next tokens (the same in both
 * processes: a linear congruential sequence), as one-hot inputs are made from them.
 */
export function tokenBatches(count: number): Array<{ tokens: Int32Array; targets: Int32Array }> {
  const { batch, time, vocab } = LSTM_SIZES;
  let s = 2024;
  const next = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296);
  const out: Array<{ tokens: Int32Array; targets: Int32Array }> = [];
  for (let b = 0; b < count; b++) {
    const seq = new Int32Array(batch * (time + 1));
    for (let i = 0; i < seq.length; i++) seq[i] = Math.floor(next() * vocab);
    const tokens = new Int32Array(batch * time);
    const targets = new Int32Array(batch * time);
    for (let i = 0; i < batch; i++) {
      for (let t = 0; t < time; t++) {
        tokens[i * time + t] = seq[i * (time + 1) + t]!;
        targets[i * time + t] = seq[i * (time + 1) + t + 1]!;
      }
    }
    out.push({ tokens, targets });
  }
  return out;
}

/**
 * The floating-point operations of one causal Transformer block training step at
 * {@link BLOCK_SIZES} (matrix products only): per token the four attention projections
 * (4·d²) and the MLP (2·d·mlp) multiply-adds, the scores and the weighted values (2·T·d, the
 * full square although half is masked), and the output layer (d·vocab); forward 2 FLOPs per
 * multiply-add, and the backward pass twice the forward (input and weight gradients).
 */
export function blockStepFlops(): number {
  const { batch, time, width: d, mlp, vocab } = BLOCK_SIZES;
  const macsPerToken = 4 * d * d + 2 * d * mlp + 2 * time * d + d * vocab;
  return 3 * 2 * macsPerToken * batch * time;
}
