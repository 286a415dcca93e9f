/**
 * Fine-tune a PyTorch-trained model in flaxen, then hand it back to PyTorch.
 *
 * The file is a real PyTorch `state_dict` (`spec/fixtures/torch_twins/mlp.safetensors`, written
 * by `spec/fixtures/torch_twins.py` from `nn.Sequential(nn.Linear(6, 16), nn.ReLU(),
 * nn.Linear(16, 4))`, stored in float16). flaxen reads it into the twin model, fine-tunes it on a
 * new task for a few Adam steps, and writes a `state_dict` that PyTorch loads with
 * `load_state_dict(strict=True)`. Nothing here needs Node but the file reading: in a browser,
 * read the bytes with `fetch` and `fx.checkpoint.tensorsFromBytes`.
 *
 *     npm run build && node dist/examples/torch-finetune.js
 *
 * @module
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../lib/index.js';

/** The PyTorch-trained MLP. */
export const TORCH_FILE = fileURLToPath(new URL('../../spec/fixtures/torch_twins/mlp.safetensors', import.meta.url));

/** What {@link fineTune} reports. */
export interface FineTuneResult {
  /** The loss on the new task before fine-tuning and after. */
  readonly lossBefore: number;
  readonly lossAfter: number;
  /** The fine-tuned weights as a PyTorch `state_dict` (the caller owns the tensors). */
  readonly stateDict: Readonly<Record<string, tf.Tensor>>;
}

/**
 * Loads the PyTorch file into the flaxen twin and fine-tunes it for `steps` Adam steps on a new
 * task: tell which of the 4 classes is `argmax` of the first 4 features.
 *
 * @example
 * ```ts no-run
 * const { lossBefore, lossAfter } = await fineTune(40);
 * ```
 */
export async function fineTune(steps = 40, file = TORCH_FILE): Promise<FineTuneResult> {
  // The twin of the PyTorch model: Sequential indices become layers_<i>, Linear ↔ Dense.
  const net = fx.nn.Sequential([fx.nn.Dense(16), fx.nn.relu, fx.nn.Dense(4)]);
  const stateDict = await fx.checkpoint.loadTensors(file); // F16 entries arrive as float32
  const variables = fx.interop.fromTorch(stateDict, net.initShapes(fx.random.key(0), [1, 6]));
  fx.tree.dispose(stateDict);

  const x = fx.random.normal(fx.random.key(1), [128, 6]);
  const y = tf.tidy(() => tf.argMax(tf.slice(x, [0, 0], [-1, 4]), 1));
  const batch = { x, y };
  let state = fx.train.TrainState.create({ apply: net, params: variables.params, tx: fx.optim.adam(2e-2) });
  const lossFn = (params: typeof state.params, b: typeof batch, s: typeof state) =>
    tf.mean(fx.losses.softmaxCrossEntropyWithIntegerLabels(s.apply({ params }, b.x), b.y));

  let lossBefore = NaN;
  let lossAfter = NaN;
  for (let step = 0; step < steps; step++) {
    const result = fx.train.trainStep(state, lossFn, batch);
    if (step === 0) lossBefore = result.loss;
    lossAfter = result.loss;
    state = result.state;
  }
  // Back to PyTorch's names and layouts: save it with fx.checkpoint.saveTensors.
  const exported = fx.interop.toTorch({ params: state.params });
  state.dispose();
  tf.dispose([x, y]);
  return { lossBefore, lossAfter, stateDict: exported };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await fx.ready();
  const { lossBefore, lossAfter, stateDict } = await fineTune();
  console.log(`loss on the new task: ${lossBefore.toFixed(4)} -> ${lossAfter.toFixed(4)}`);
  await fx.checkpoint.saveTensors('mlp-finetuned.safetensors', stateDict);
  console.log(`wrote mlp-finetuned.safetensors: ${Object.keys(stateDict).join(', ')}`);
  console.log('in Python: model.load_state_dict(safetensors.torch.load_file("mlp-finetuned.safetensors"), strict=True)');
  fx.tree.dispose(stateDict);
}
