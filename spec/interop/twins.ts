// The flaxen twins of the PyTorch models in spec/fixtures/torch_twins.py, with the inputs
// they are initialized on and the interop options they need.
import type * as tf from '@tensorflow/tfjs-core';
import * as fx from '../../lib/index.js';

export interface Twin {
  readonly model: fx.Module<any, any, any>;
  /** An input shape for init (the batch size is free). */
  readonly initShape: number[];
  readonly intInput?: boolean;
  readonly opts?: fx.interop.TorchOptions;
}

/** A recurrent layer named `rnn` (single layer, batch first) and a Dense `head` on its outputs, as the PyTorch twins. */
const recurrentHead = (type: string, cell: fx.nn.RecurrentCell) =>
  fx.nn.module(type, (scope, x: tf.Tensor) => scope.call(fx.nn.Dense(2), scope.call(fx.nn.RNN(cell), x, { name: 'rnn' }), { name: 'head' }));

/** A twin whose options name its model and input shape (for a model with ConvTranspose layers). */
const withModel = (model: fx.Module<any, any, any>, initShape: number[]): Twin => ({ model, initShape, opts: { model, inputShapes: [initShape] } });

export const TWINS: Readonly<Record<'mlp' | 'cnn' | 'embed_norm' | 'lstm' | 'gru' | 'rnn' | 'deconv' | 'deconv1d', Twin>> = {
  mlp: { model: fx.nn.Sequential([fx.nn.Dense(16), fx.nn.relu, fx.nn.Dense(4)]), initShape: [1, 6] },
  cnn: {
    model: fx.nn.Sequential([
      fx.nn.Conv(8, [3, 3]),
      fx.nn.BatchNorm(),
      fx.nn.relu,
      fx.nn.MaxPool([2, 2], { strides: [2, 2] }),
      // PyTorch's padding=1 with stride 2 pads both sides; 'SAME' would pad [0, 1] here.
      fx.nn.Conv(12, [3, 3], { strides: 2, padding: [[1, 1], [1, 1]], featureGroupCount: 4 }),
      fx.nn.relu,
      fx.nn.Flatten(),
      fx.nn.Dense(5),
    ]),
    initShape: [1, 8, 8, 3],
    // The Linear reads a flattened [2, 2, 12] map: PyTorch flattens it channel-first.
    opts: { flattenedFrom: { layers_7: [2, 2, 12] } },
  },
  embed_norm: {
    model: fx.nn.module('EmbedNorm', (scope, ids) => {
      const h = scope.call(fx.nn.Embed(20, 8), ids, { name: 'embed' });
      const n = scope.call(fx.nn.LayerNorm({ epsilon: 1e-5 }), h, { name: 'norm' });
      return scope.call(fx.nn.Dense(3), n, { name: 'head' });
    }),
    initShape: [1, 5],
    intInput: true,
  },
  lstm: { model: recurrentHead('LSTMHead', fx.nn.LSTMCell(7)), initShape: [1, 4, 5] },
  gru: { model: recurrentHead('GRUHead', fx.nn.GRUCell(6)), initShape: [1, 4, 5] },
  rnn: { model: recurrentHead('RNNHead', fx.nn.SimpleCell(4)), initShape: [1, 4, 5] },
  // The paddings that match PyTorch's are derived in spec/fixtures/torch_twins.py. The second
  // layer stores its kernel transposed, with as many input as output channels, so only the
  // model can tell how.
  deconv: withModel(
    fx.nn.Sequential([
      fx.nn.ConvTranspose(6, [4, 4], { strides: 2 }),
      fx.nn.relu,
      fx.nn.ConvTranspose(6, [3, 3], { kernelDilation: 2, transposeKernel: true }),
      fx.nn.tanh,
      fx.nn.ConvTranspose(2, [2, 2], { strides: 2, padding: 'VALID', useBias: false }),
    ]),
    [1, 4, 4, 3],
  ),
  deconv1d: withModel(
    fx.nn.Sequential([fx.nn.ConvTranspose(4, 3, { strides: 2, padding: 'VALID' }), fx.nn.relu, fx.nn.ConvTranspose(4, 3, { transposeKernel: true })]),
    [1, 5, 3],
  ),
};
