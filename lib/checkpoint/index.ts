/**
 * Checkpoints in the safetensors format (`fx.checkpoint`), readable by PyTorch, JAX/Flax and
 * the Python `safetensors` package.
 *
 * - In memory (browser and Node): {@link toBytes}, {@link fromBytes}, {@link readInfo}, and the
 *   fp-ts `Either` forms {@link encode} / {@link decode}.
 * - Files (Node): {@link save} (crash-safe), {@link load}, {@link loadInfo}. They return
 *   Promises that resolve or reject with a `FlaxenError`; {@link saveTask} / {@link loadTask}
 *   are the same operations as fp-ts `TaskEither`s, for code that composes with `pipe`.
 *
 * Whole training states: a tree's leaves may be tensors, finite JS numbers (an optimizer's
 * `count`, a `step`) and random keys, so every `fx.optim` state, a `fx.train.TrainState`
 * (a {@link Checkpointable}) and records such as `{ params, opt, batch_stats, step }` are
 * stored; numbers come back as numbers, bit for bit. `{ config }` stores the run's
 * configuration, which `loadInfo`/`readInfo` return.
 *
 * A `target` (variables, `initShapes` output, an optimizer state, a `TrainState`) is checked
 * before anything is allocated, and every difference is reported at once
 * ({@link CheckpointMismatchError}); the result has the target's kind. `{ prefix }` restores
 * one subtree. Damaged or hostile data is refused with a {@link CheckpointError}.
 *
 * @example
 * ```ts
 * const net = fx.nn.Sequential([fx.nn.Dense(256), fx.nn.relu, fx.nn.Dense(10)]);
 * const vars = net.init(fx.random.key(0), [1, 784]);
 * await fx.checkpoint.save('mlp.safetensors', vars, { step: '0' });
 * const back = await fx.checkpoint.load('mlp.safetensors', net.initShapes(fx.random.key(0), [1, 784]));
 * ```
 *
 * @module
 */
export { toBytes, fromBytes, readInfo, encode, decode } from './format.js';
export type { Metadata, ReadOptions, Restored, TensorInfo, CheckpointInfo, WriteOptions } from './format.js';
export type { Checkpointable } from './state-dict.js';
export { save, load, loadInfo, saveTask, loadTask } from './io.js';
export { saveBytes } from './atomic.js';
export { CheckpointError, CheckpointMismatchError } from './errors.js';
export type { CheckpointProblem } from './errors.js';
export { CheckpointManager, METRICS_LOG } from './manager.js';
export type { CheckpointManagerOptions, BestOptions, ManagerSaveOptions, ManagerRestoreOptions, MetricsRecord } from './manager.js';
export { loadTensors, saveTensors, tensorsFromBytes, tensorsToBytes } from './tensors.js';
