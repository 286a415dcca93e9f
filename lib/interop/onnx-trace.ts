/**
 * Records the tfjs kernels that one `apply` runs: each kernel's name, attributes, input and
 * output tensors (by id, shape and dtype) and the flaxen module it ran in. The ONNX exporter
 * turns the record into a graph.
 *
 * How: for the duration of the run, the engine's `runKernel` (through which every tfjs op
 * reaches its kernel) is wrapped by an own property of the engine object, removed afterwards,
 * and flaxen's own WebAssembly kernels are turned off so that products and convolutions go
 * through tfjs's kernels too, whose attributes say everything (strides, padding, activation).
 * The module comes from `runningModules` in `core/scope.ts`.
 *
 * Values: a tensor that no recorded kernel made and that is not an input or a variable (a
 * scalar made by `tf.scalar`, a mask made by `tf.ones`) is a constant of the graph, and its
 * values are read when a kernel first takes it. Kernels whose inputs are all constants are
 * folded: their outputs' values are read too.
 *
 * @module
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { runningModules } from '../core/scope.js';
import { setOwnGemm } from '../ops/gemm.js';
import { OnnxExportError } from './onnx-error.js';

/** A tensor as the record sees it. @internal */
export interface TracedTensor {
  readonly id: number;
  readonly shape: readonly number[];
  readonly dtype: tf.DataType;
}

/** One kernel run. @internal */
export interface TracedKernel {
  readonly index: number;
  readonly name: string;
  /** The inputs by the kernel's names for them (`x`, `a`, `filter`, ...), in the order given; absent optional inputs are left out. */
  readonly inputs: ReadonlyArray<readonly [string, TracedTensor]>;
  readonly attrs: Readonly<Record<string, unknown>>;
  readonly outputs: readonly TracedTensor[];
  /** The module it ran in (`''`: the root). */
  readonly modulePath: string;
  readonly moduleType: string;
  /** True when an input depends on the model's inputs (else the kernel is folded into a constant). */
  readonly dynamic: boolean;
}

/** What one traced run gives. @internal */
export interface Trace {
  readonly kernels: readonly TracedKernel[];
  /** Values of constants: tensors made outside the recorded kernels, and outputs of folded kernels. */
  readonly values: ReadonlyMap<number, tf.TypedArray>;
  /** The ids of tensors made outside the recorded kernels (neither inputs nor variables). */
  readonly external: ReadonlySet<number>;
  /** The model's output tensors. */
  readonly outputs: readonly TracedTensor[];
}

const traced = (t: tf.Tensor): TracedTensor => ({ id: t.id, shape: [...t.shape], dtype: t.dtype });

interface EngineWithRunKernel {
  runKernel(name: string, inputs: Record<string, tf.Tensor | null | undefined>, attrs?: Record<string, unknown>): tf.Tensor | tf.Tensor[];
}

/**
 * Runs `run` (an `apply` of the model on `inputs`) while recording its kernels. `variables`
 * maps the ids of the variables' tensors to their paths. The outputs of `run` are disposed.
 * @internal
 */
export function traceKernels(run: () => unknown, inputs: readonly tf.Tensor[], variables: ReadonlyMap<number, string>): Trace {
  const engine = tf.engine() as unknown as EngineWithRunKernel;
  const hadOwn = Object.prototype.hasOwnProperty.call(engine, 'runKernel');
  const original = engine.runKernel;
  const kernels: TracedKernel[] = [];
  const values = new Map<number, tf.TypedArray>();
  const external = new Set<number>();
  const made = new Set<number>();
  const dynamic = new Set<number>(inputs.map((t) => t.id));
  engine.runKernel = function (name, kernelInputs, attrs) {
    const result = original.call(this, name, kernelInputs, attrs);
    const outs = Array.isArray(result) ? result : [result];
    const entries: Array<readonly [string, TracedTensor]> = [];
    let isDynamic = false;
    for (const [key, t] of Object.entries(kernelInputs ?? {})) {
      if (!(t instanceof tf.Tensor)) continue;
      entries.push([key, traced(t)]);
      if (dynamic.has(t.id)) isDynamic = true;
      else if (!made.has(t.id) && !variables.has(t.id) && !values.has(t.id)) {
        external.add(t.id);
        values.set(t.id, t.dataSync().slice());
      }
    }
    for (const t of outs) {
      made.add(t.id);
      if (isDynamic) dynamic.add(t.id);
      else values.set(t.id, t.dataSync().slice());
    }
    const module = runningModules[runningModules.length - 1] ?? { path: '', type: 'root' };
    kernels.push({
      index: kernels.length,
      name,
      inputs: entries,
      attrs: { ...(attrs ?? {}) },
      outputs: outs.map(traced),
      modulePath: module.path,
      moduleType: module.type,
      dynamic: isDynamic,
    });
    return result;
  };
  const ownGemm = setOwnGemm(false);
  let output: unknown;
  try {
    output = run();
  } finally {
    setOwnGemm(ownGemm);
    if (hadOwn) engine.runKernel = original;
    else delete (engine as Partial<EngineWithRunKernel>).runKernel;
  }
  const outputs = Array.isArray(output) ? output : [output];
  try {
    outputs.forEach((t, i) => {
      if (!(t instanceof tf.Tensor)) {
        throw new OnnxExportError('', `toOnnx exports models whose apply returns a tensor or an array of tensors; output ${i} is ${t === null ? 'null' : typeof t}`);
      }
    });
    return { kernels, values, external, outputs: (outputs as tf.Tensor[]).map(traced) };
  } finally {
    const keep = new Set([...inputs.map((t) => t.id), ...variables.keys()]);
    for (const t of outputs) if (t instanceof tf.Tensor && !keep.has(t.id)) t.dispose();
  }
}
