// The models that the ONNX specs export: every layer kind of fx.nn, by group. onnx.spec.ts runs
// each in ONNX Runtime; onnx-checker.spec.ts runs onnx.checker (full_check) on each.
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../../lib/index.js';

export interface OnnxCase {
  readonly name: string;
  readonly model: fx.Module<any, any, any>;
  readonly inputs: fx.interop.OnnxInput[];
  /** Token ids are drawn below this (int32 inputs). */
  readonly vocab?: number;
}

const nn = fx.nn;

const block = nn.module('Block', (scope, x: tf.Tensor) => {
  const attended = scope.call(nn.SelfAttention({ numHeads: 2 }), scope.call(nn.LayerNorm(), x), nn.causalMask(x.shape[1]!));
  const h = tf.add(x, attended);
  const hidden = nn.gelu(scope.call(nn.Dense(32), scope.call(nn.LayerNorm(), h)));
  return tf.add(h, scope.call(nn.Dense(8), hidden));
});

export const ONNX_CASES = {
  dense: [
    { name: 'Dense', model: nn.Dense(5), inputs: [[1, 7]] },
    { name: 'Dense no bias, gelu', model: nn.Dense(4, { useBias: false, activation: nn.gelu }), inputs: [[1, 6]] },
    { name: 'Dense on [batch, length, features]', model: nn.Dense(3, { activation: nn.relu }), inputs: [[1, 4, 6]] },
  ],
  mlp: [
    {
      name: 'MLP',
      model: nn.Sequential([nn.Dense(16), nn.relu, nn.Dense(16), nn.gelu, nn.Dense(12), nn.sigmoid, nn.Dense(12), nn.tanh, nn.Dense(10), nn.silu, nn.Dense(8), nn.softmax, nn.Dense(6), nn.logSoftmax]),
      inputs: [[1, 9]],
    },
  ],
  conv: [
    { name: 'Conv SAME', model: nn.Conv(6, [3, 3]), inputs: [[1, 7, 7, 3]] },
    { name: 'Conv VALID stride 2', model: nn.Conv(4, [3, 3], { padding: 'VALID', strides: 2 }), inputs: [[1, 9, 8, 3]] },
    { name: 'Conv SAME stride 2 (odd pixel after)', model: nn.Conv(4, [4, 3], { strides: [2, 3] }), inputs: [[1, 8, 10, 2]] },
    { name: 'Conv explicit padding, dilation', model: nn.Conv(5, [3, 3], { padding: [[2, 1], [0, 3]], kernelDilation: 2, useBias: false }), inputs: [[1, 8, 8, 2]] },
    { name: 'Conv depthwise', model: nn.Conv(8, [3, 3], { featureGroupCount: 4 }), inputs: [[1, 6, 6, 4]] },
    { name: 'Conv 1-D causal', model: nn.Conv(3, 3, { padding: 'CAUSAL' }), inputs: [[1, 10, 2]] },
  ],
  /** Grouped (not depthwise) convolutions, with the number of groups each must export with. */
  grouped: [
    { name: 'Conv 2 groups, relu', model: nn.Conv(8, [3, 3], { featureGroupCount: 2, activation: nn.relu }), inputs: [[1, 6, 6, 4]] },
    { name: 'Conv 3 groups, VALID stride 2', model: nn.Conv(6, [3, 3], { featureGroupCount: 3, strides: 2, padding: 'VALID' }), inputs: [[1, 7, 7, 6]] },
    { name: 'Conv 3 groups, dilation, no bias, 2 outputs per group', model: nn.Conv(6, [2, 2], { featureGroupCount: 3, kernelDilation: 2, useBias: false }), inputs: [[1, 6, 6, 9]] },
    { name: 'Conv 1-D 2 groups', model: nn.Conv(4, 3, { featureGroupCount: 2 }), inputs: [[1, 9, 6]] },
  ],
  pools: [
    { name: 'MaxPool VALID', model: nn.MaxPool([2, 2], { strides: [2, 2] }), inputs: [[1, 6, 6, 3]] },
    { name: 'MaxPool SAME', model: nn.MaxPool([3, 3], { strides: 2, padding: 'SAME' }), inputs: [[1, 7, 6, 2]] },
    { name: 'AvgPool VALID', model: nn.AvgPool([2, 3], { strides: [1, 2] }), inputs: [[1, 6, 7, 3]] },
    { name: 'AvgPool SAME, countIncludePad false', model: nn.AvgPool([3, 3], { padding: 'SAME', countIncludePad: false }), inputs: [[1, 5, 5, 2]] },
    { name: 'AvgPool SAME, countIncludePad true', model: nn.AvgPool([3, 3], { padding: 'SAME' }), inputs: [[1, 5, 5, 2]] },
    { name: 'GlobalAvgPool', model: nn.GlobalAvgPool(), inputs: [[1, 5, 4, 3]] },
    { name: 'Flatten then Dense', model: nn.Sequential([nn.Flatten(), nn.Dense(4)]), inputs: [[1, 3, 4, 2]] },
  ],
  norms: [
    { name: 'BatchNorm', model: nn.BatchNorm(), inputs: [[1, 4, 4, 6]] },
    { name: 'BatchNorm on features', model: nn.BatchNorm({ epsilon: 1e-3 }), inputs: [[1, 5]] },
    { name: 'LayerNorm', model: nn.LayerNorm(), inputs: [[1, 6, 10]] },
    { name: 'GroupNorm', model: nn.GroupNorm(4), inputs: [[1, 3, 3, 8]] },
    { name: 'RMSNorm', model: nn.RMSNorm({ epsilon: 1e-5 }), inputs: [[1, 4, 12]] },
  ],
  embed: [{ name: 'Embed', model: nn.Sequential([nn.Embed(11, 6), nn.Dropout(0.5), nn.LayerNorm()]), inputs: [{ shape: [1, 7], dtype: 'int32' }], vocab: 11 }],
  attention: [
    { name: 'SelfAttention', model: nn.SelfAttention({ numHeads: 2 }), inputs: [[1, 5, 8]] },
    { name: 'MultiHeadDotProductAttention', model: nn.MultiHeadDotProductAttention({ numHeads: 3, qkvFeatures: 6 }), inputs: [[1, 4, 5], [1, 6, 5], { shape: [1, 1, 4, 6], dtype: 'bool' }] },
  ],
  cnn: [
    {
      name: 'CNN',
      model: nn.Sequential([
        nn.Conv(8, [3, 3]),
        nn.BatchNorm(),
        nn.relu,
        nn.MaxPool([2, 2], { strides: [2, 2] }),
        nn.Conv(12, [3, 3], { strides: 2, padding: [[1, 1], [1, 1]], featureGroupCount: 4 }),
        nn.relu,
        nn.Flatten(),
        nn.Dense(10),
        nn.logSoftmax,
      ]),
      inputs: [[1, 12, 12, 3]],
    },
  ],
  transformer: [{ name: 'Block', model: nn.Sequential([block, block, nn.Dense(5)]), inputs: [[1, 6, 8]] }],
  transposedAndRecurrent: [
    { name: 'ConvTranspose', model: nn.ConvTranspose(3, [3, 3], { strides: 2 }), inputs: [[1, 4, 5, 2]] },
    { name: 'LSTM', model: nn.Sequential([nn.Dense(4), nn.RNN(nn.LSTMCell(3))]), inputs: [[1, 5, 2]] },
    { name: 'GRU', model: nn.RNN(nn.GRUCell(4)), inputs: [[1, 3, 2]] },
    { name: 'SimpleCell', model: nn.RNN(nn.SimpleCell(4)), inputs: [[1, 4, 3]] },
  ],
  expanded: [{ name: 'Padded', model: nn.module('Padded', (scope, x: tf.Tensor) => tf.concat([scope.call(nn.Dense(3), x), tf.zeros([x.shape[0]!, 2])], 1)), inputs: [[1, 4]] }],
} satisfies Record<string, OnnxCase[]>;

/** Every case, each once. */
export const ALL_ONNX_CASES: readonly OnnxCase[] = Object.values(ONNX_CASES).flat();

/** The variables init draws for a case's inputs (ShapeDtype for typed inputs). */
export function initCase(c: OnnxCase, seed: number): fx.Variables {
  const examples = c.inputs.map((s) => ('shape' in s ? new fx.ShapeDtype([...s.shape], s.dtype) : [...s]));
  return (c.model.init as (k: fx.random.Key, ...a: unknown[]) => fx.Variables)(fx.random.key(seed), ...examples);
}
