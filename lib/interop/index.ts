/**
 * Interop with the engines users grow into (`fx.interop`): PyTorch `state_dict`s in both
 * directions ({@link toTorch}, {@link fromTorch}) and ONNX export ({@link toOnnx}). Flax reads
 * flaxen's own checkpoints as they are (see `docs/interop.md`).
 *
 * @module
 */
export { toTorch, fromTorch, TorchMismatchError } from './torch.js';
export type { TorchOptions, TorchProblem } from './torch.js';
export { toOnnx } from './onnx.js';
export type { OnnxInput } from './model-inputs.js';
export { OnnxExportError } from './onnx-error.js';
