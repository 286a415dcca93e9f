/**
 * The error of the ONNX exporter.
 *
 * @module
 */
import { FlaxenError } from '../errors.js';

/**
 * `fx.interop.toOnnx` cannot export part of a model: a tfjs kernel with no ONNX counterpart
 * here, a tensor made outside tfjs's kernels from the input's values, or a shape that depends
 * on the batch size in a way ONNX cannot express. `path` names the module that ran it (`''`:
 * the root module's own body).
 *
 * @example
 * ```ts
 * const e = new fx.interop.OnnxExportError('layers_1', "toOnnx cannot export the tfjs kernel 'Einsum'");
 * e.message; // "layers_1: toOnnx cannot export the tfjs kernel 'Einsum'"
 * ```
 */
export class OnnxExportError extends FlaxenError {}
