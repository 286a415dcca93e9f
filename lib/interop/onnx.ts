/**
 * ONNX export: {@link toOnnx} writes an ONNX model (opset 13) of a flaxen model's
 * inference-mode `apply`, with a free batch size, for ONNX Runtime and every other ONNX engine.
 *
 * How: `apply` runs twice, at the given batch size and one more, while the tfjs kernels it
 * runs are recorded (`onnx-trace.ts`); each kernel becomes ONNX nodes (`onnx-ops.ts`);
 * variables and constants become initializers. Comparing the two runs tells which sizes are
 * the batch: a reshape keeps them free, anything else that depends on the batch size is
 * refused. So any model built from flaxen's layers and tfjs ops exports, custom modules
 * included, as long as each kernel it runs has a translation; what cannot be exported is
 * refused with an {@link OnnxExportError} naming the module.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { Module } from '../core/module.js';
import { FlaxenError, describeValue, formatShape } from '../errors.js';
import { flatten, isNode } from '../tree/index.js';
import { ATTRIBUTE_TYPE, ONNX_DTYPE, OnnxAttribute, OnnxNode, OnnxTensor, OnnxValueInfo, encodeModel } from './onnx-proto.js';
import { Trace, TracedKernel, TracedTensor, traceKernels } from './onnx-trace.js';
import { AttrValue, OpContext, TRANSLATORS } from './onnx-ops.js';
import { OnnxExportError } from './onnx-error.js';
import { InputSpec, OnnxInput, checkInputs, makeInputs } from './model-inputs.js';

const OPSET = 13;
const IR_VERSION = 7;

function rawBytes(values: ArrayLike<number> | tf.TypedArray, dtype: string): Uint8Array {
  if (dtype === 'float32') return new Uint8Array(Float32Array.from(values as ArrayLike<number>).buffer);
  if (dtype === 'int32') return new Uint8Array(Int32Array.from(values as ArrayLike<number>).buffer);
  if (dtype === 'bool') return Uint8Array.from(values as ArrayLike<number>, (v) => (v ? 1 : 0));
  if (dtype === 'int64') return new Uint8Array(BigInt64Array.from(Array.from(values as ArrayLike<number>, (v) => BigInt(v))).buffer);
  throw new FlaxenError('', `toOnnx: no ONNX encoding for ${dtype} values`);
}

function onnxType(dtype: string, where: string): number {
  const t = (ONNX_DTYPE as Record<string, number>)[dtype];
  if (t === undefined) throw new OnnxExportError(where, `toOnnx: ${dtype} tensors have no ONNX type here`);
  return t;
}

function attribute(name: string, value: AttrValue): OnnxAttribute {
  if ('i' in value) return { name, type: ATTRIBUTE_TYPE.INT, i: value.i };
  if ('f' in value) return { name, type: ATTRIBUTE_TYPE.FLOAT, f: value.f };
  if ('ints' in value) return { name, type: ATTRIBUTE_TYPE.INTS, ints: value.ints };
  if ('floats' in value) return { name, type: ATTRIBUTE_TYPE.FLOATS, floats: value.floats };
  if ('s' in value) return { name, type: ATTRIBUTE_TYPE.STRING, s: new TextEncoder().encode(value.s) };
  const { dtype, values } = value.tensor;
  return { name, type: ATTRIBUTE_TYPE.TENSOR, t: { name: '', dataType: onnxType(dtype, ''), dims: [values.length], rawData: rawBytes(values, dtype) } };
}

/**
 * The slice at index 0 along `axes` of a row-major array of `shape`, when every other slice
 * along those axes holds the same values (so broadcasting the slice gives the array back).
 */
function firstSlice(values: ArrayLike<number>, shape: readonly number[], axes: readonly number[]): number[] | undefined {
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const out: number[] = [];
  for (let flat = 0; flat < values.length; flat++) {
    let base = 0;
    let inSlice = true;
    for (let i = 0; i < shape.length; i++) {
      const coordinate = Math.floor(flat / strides[i]!) % shape[i]!;
      if (axes.includes(i)) inSlice &&= coordinate === 0;
      else base += coordinate * strides[i]!;
    }
    if (inSlice) out.push(values[flat]!);
    else if (!Object.is(values[flat], values[base])) return undefined;
  }
  return out;
}

/** Kernels that broadcast their inputs elementwise: a constant of one value may be a scalar there. */
const ELEMENTWISE = new Set(['Add', 'Sub', 'Multiply', 'RealDiv', 'Maximum', 'Minimum', 'Pow', 'Select', 'Greater', 'GreaterEqual', 'Less', 'LessEqual', 'Equal', 'NotEqual', 'LogicalAnd', 'LogicalOr', 'SquaredDifference']);
/** Kernels whose translators read both runs' attributes and keep the batch free themselves. */
const BATCH_AWARE = new Set(['Reshape', 'Slice']);
const sameValues = (a: ArrayLike<number>, b: ArrayLike<number>): boolean => a.length === b.length && Array.prototype.every.call(a, (v: number, i: number) => Object.is(v, b[i]));
const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);
const moduleName = (k: TracedKernel): string => (k.modulePath === '' ? `the root ${k.moduleType}` : `this ${k.moduleType}`);

/** Every kernel of the second run must be the first run's, with the same attributes (a Reshape's may differ: it is where the batch goes). */
function checkRunsAgree(a: Trace, b: Trace, batch: number): void {
  const n = Math.min(a.kernels.length, b.kernels.length);
  for (let i = 0; i < n; i++) {
    const ka = a.kernels[i]!;
    const kb = b.kernels[i]!;
    if (ka.name !== kb.name || ka.modulePath !== kb.modulePath) {
      throw new OnnxExportError(ka.modulePath, `toOnnx: ${moduleName(ka)} runs different tfjs kernels at batch sizes ${batch} and ${batch + 1} (kernel ${i}: ${ka.name}, then ${kb.name}); ONNX needs one graph for every batch size`);
    }
    // A folded kernel's attributes may follow the batch (a Fill of the logits' shape): its
    // output is then checked where it is used (see constantName).
    if (ka.dynamic && !BATCH_AWARE.has(ka.name) && JSON.stringify(ka.attrs) !== JSON.stringify(kb.attrs)) {
      throw new OnnxExportError(ka.modulePath, `toOnnx: the tfjs kernel ${ka.name} in ${moduleName(ka)} has attributes that depend on the batch size (${JSON.stringify(ka.attrs)} at batch ${batch}, ${JSON.stringify(kb.attrs)} at ${batch + 1}); only reshapes may depend on it`);
    }
  }
  if (a.kernels.length !== b.kernels.length || a.outputs.length !== b.outputs.length) {
    const last = a.kernels[n - 1] ?? b.kernels[n - 1];
    throw new OnnxExportError(last?.modulePath ?? '', `toOnnx: the model runs ${a.kernels.length} tfjs kernels at batch size ${batch} and ${b.kernels.length} at ${batch + 1}; ONNX needs one graph for every batch size`);
  }
}

/**
 * An ONNX model (opset 13, as bytes) of `model.apply(variables, ...inputs)` in inference mode:
 * dropout off, BatchNorm on its running averages. Inputs and outputs keep flaxen's layout
 * (NHWC for images) and the batch size (the first axis of every input) is free, so ONNX
 * Runtime runs it at any batch size. `inputShapes` are the inputs' shapes, batch first (`[1,
 * 28, 28, 1]`), or `{ shape, dtype }` for int32 token ids and bool masks. The graph's inputs
 * are named `input` (`input_0`, `input_1`, … for several), its outputs `output` (`output_0`, …).
 *
 * Exports the layers of `fx.nn` (Dense, Conv with any padding, strides, dilation and groups,
 * ConvTranspose, the pools, BatchNorm, LayerNorm, GroupNorm, RMSNorm, Embed, the attention
 * layers, the activations, Flatten, Dropout, Sequential, the recurrent layers unrolled over
 * their fixed length) and custom modules built from them and tfjs ops; a grouped Conv is one
 * ONNX `Conv` with `group`, whose weight is the layer's kernel. A part that cannot be
 * exported is refused with an {@link OnnxExportError} naming the module: a tfjs kernel with no
 * ONNX translation here (e.g. `TopK`), a value read out of tfjs inside `apply` (`dataSync`), or
 * a tensor whose shape follows the batch size without coming from the input (one that repeats
 * along the batch is expanded in the graph). `variables` is only read; nothing is left
 * allocated.
 *
 * @param model - the flaxen model.
 * @param variables - its variables (from `init`, `fromTorch`, a checkpoint, training).
 * @param inputShapes - one shape (or `{ shape, dtype }`) per input of `apply`.
 * @example
 * ```ts
 * const net = fx.nn.Sequential([fx.nn.Dense(8), fx.nn.relu, fx.nn.Dense(2)]);
 * const variables = net.init(fx.random.key(0), [1, 3]);
 * const bytes = fx.interop.toOnnx(net, variables, [1, 3]);
 * bytes instanceof Uint8Array; // true
 * // Node: writeFile('net.onnx', bytes); ONNX Runtime then takes `input` [batch, 3], gives `output` [batch, 2]
 * ```
 */
export function toOnnx(model: Module<any, any, any>, variables: unknown, ...inputShapes: OnnxInput[]): Uint8Array {
  if (!(model instanceof Module)) throw new FlaxenError('', `toOnnx(model, variables, ...inputShapes): model must be a flaxen module (e.g. fx.nn.Dense(4)), found ${describeValue(model)}`);
  if (!isNode(variables)) throw new FlaxenError('', `toOnnx: variables must be the tree from init (e.g. { params: {...} }), found ${describeValue(variables)}`);
  const specs = checkInputs(inputShapes, 'toOnnx', 'toOnnx(model, variables, ...inputShapes)');
  const leaves = flatten<unknown>(variables);
  const variablePaths = new Map<number, string>();
  const variableTensors = new Map<number, tf.Tensor>();
  for (const [path, leaf] of leaves) {
    if (!(leaf instanceof tf.Tensor)) throw new FlaxenError('', `toOnnx: variables must hold tensors, found ${describeValue(leaf)} at '${path}'`);
    if (leaf.isDisposed) throw new FlaxenError('', `toOnnx: the variable '${path}' was disposed`);
    variablePaths.set(leaf.id, path);
    variableTensors.set(leaf.id, leaf);
  }
  const batch = specs[0]!.shape[0]!;
  const runAt = (size: number, salt: number): { trace: Trace; inputIds: number[] } => {
    const inputs = makeInputs(specs, size, salt);
    try {
      const apply = model.apply as (v: unknown, ...a: unknown[]) => unknown;
      const trace = traceKernels(() => apply.call(model, variables, ...inputs), inputs, variablePaths);
      return { trace, inputIds: inputs.map((t) => t.id) };
    } finally {
      for (const t of inputs) t.dispose();
    }
  };
  const first = runAt(batch, 0);
  const second = runAt(batch + 1, 1);
  checkRunsAgree(first.trace, second.trace, batch);
  return encodeModel(buildGraph(model.type, specs, batch, first, second, variablePaths, variableTensors));
}

function buildGraph(
  graphName: string,
  specs: readonly InputSpec[],
  batch: number,
  first: { trace: Trace; inputIds: number[] },
  second: { trace: Trace; inputIds: number[] },
  variablePaths: ReadonlyMap<number, string>,
  variableTensors: ReadonlyMap<number, tf.Tensor>,
) {
  const { trace } = first;
  const names = new Map<number, string>();
  const dynamic = new Set<number>(first.inputIds);
  for (const k of trace.kernels) if (k.dynamic) for (const t of k.outputs) dynamic.add(t.id);
  const inputNames = specs.map((_, i) => (specs.length === 1 ? 'input' : `input_${i}`));
  first.inputIds.forEach((id, i) => names.set(id, inputNames[i]!));
  const outputNames = trace.outputs.map((_, i) => (trace.outputs.length === 1 ? 'output' : `output_${i}`));
  const produced = new Set<number>();
  for (const k of trace.kernels) if (k.dynamic) for (const t of k.outputs) produced.add(t.id);
  const aliased: Array<[number, string]> = [];
  trace.outputs.forEach((t, i) => {
    if (produced.has(t.id) && !names.has(t.id)) names.set(t.id, outputNames[i]!);
    else aliased.push([i, outputNames[i]!]);
  });

  const producers = new Map<number, TracedKernel>();
  for (const k of trace.kernels) for (const t of k.outputs) producers.set(t.id, k);
  const nodes: OnnxNode[] = [];
  const initializers = new Map<string, OnnxTensor>();
  const constantNames = new Map<number, string>();
  let counter = 0;

  const constantName = (t: TracedTensor, kernel: TracedKernel, key: string): string => {
    const known = constantNames.get(t.id);
    if (known) return known;
    let name: string;
    let values: ArrayLike<number>;
    const path = variablePaths.get(t.id);
    if (path !== undefined) {
      name = initializers.has(path) ? `${path}:${t.id}` : path;
      values = variableTensors.get(t.id)!.dataSync();
    } else {
      const found = trace.values.get(t.id);
      if (!found) throw new OnnxExportError(kernel.modulePath, `toOnnx: internal: no value recorded for an input '${key}' of the tfjs kernel ${kernel.name}`);
      // The same constant at the other batch size: the same shape, or one value broadcast.
      const twin = second.trace.kernels[kernel.index]!.inputs.find(([k]) => k === key)?.[1];
      if (!twin || !sameShape(twin.shape, t.shape)) {
        // A constant repeated along the batch (attention's mask and fill broadcast to the
        // logits' shape, an RNN's initial carry): the same slice at both batch sizes, every row.
        const axes = twin && twin.shape.length === t.shape.length ? t.shape.flatMap((d, i) => (d === twin.shape[i] ? [] : [i])) : undefined;
        const twinValues = twin && second.trace.values.get(twin.id);
        const slice = axes && firstSlice(found, t.shape, axes);
        const twinSlice = axes && twinValues && firstSlice(twinValues, twin!.shape, axes);
        const repeated = slice !== undefined && twinSlice !== undefined && sameValues(slice, twinSlice);
        // Next to a tensor of the output's shape in an elementwise kernel, the slice broadcasts as it is;
        // elsewhere it is expanded to the input's batch size in the graph.
        const broadcast = ELEMENTWISE.has(kernel.name) && kernel.inputs.some(([k, x]) => k !== key && dynamic.has(x.id) && sameShape(x.shape, kernel.outputs[0]!.shape));
        const batchAxes = axes !== undefined && axes.every((i) => t.shape[i] === batch && twin!.shape[i] === batch + 1);
        if (!repeated || (!broadcast && !batchAxes)) {
          throw new OnnxExportError(kernel.modulePath, `toOnnx: ${moduleName(kernel)} makes a tensor of shape ${formatShape(t.shape)} (at batch ${batch}) whose shape depends on the batch size without reading the input; ONNX cannot express it (derive it from the input, e.g. with tf.zerosLike)`);
        }
        const name = `const_${t.id}_slice`;
        initializers.set(name, { name, dataType: onnxType(t.dtype, kernel.modulePath), dims: t.shape.map((d, i) => (axes!.includes(i) ? 1 : d)), rawData: rawBytes(slice!, t.dtype) });
        return broadcast ? name : batchExpand(t, axes!, name, kernel);
      }
      if (trace.external.has(t.id)) {
        const twinValues = second.trace.values.get(twin.id);
        if (!twinValues || !sameValues(found, twinValues)) {
          throw new OnnxExportError(kernel.modulePath, `toOnnx: ${moduleName(kernel)} makes a tensor of shape ${formatShape(t.shape)} from the input's values outside tfjs's kernels (e.g. with dataSync); ONNX cannot follow it`);
        }
      }
      // A folded copy of a variable (a kernel reshaped for a product) keeps the variable's name.
      const source = producers.get(t.id)?.inputs.map(([, x]) => variablePaths.get(x.id)).find((p) => p !== undefined);
      name = source !== undefined && !initializers.has(source) ? source : `const_${t.id}`;
      values = found;
    }
    constantNames.set(t.id, name);
    initializers.set(name, { name, dataType: onnxType(t.dtype, kernel.modulePath), dims: [...t.shape], rawData: rawBytes(values, t.dtype) });
    return name;
  };

  /** The one variable that the folded constant `t` was made from, if exactly one (else undefined). */
  const variableBehind = (t: TracedTensor): TracedTensor | undefined => {
    const found = new Map<number, TracedTensor>();
    const seen = new Set<number>();
    const stack = [t];
    while (stack.length > 0) {
      const x = stack.pop()!;
      if (seen.has(x.id)) continue;
      seen.add(x.id);
      if (variablePaths.has(x.id)) found.set(x.id, x);
      else if (dynamic.has(x.id)) return undefined;
      else for (const [, input] of producers.get(x.id)?.inputs ?? []) stack.push(input);
    }
    return found.size === 1 ? [...found.values()][0] : undefined;
  };

  /**
   * A constant repeated along its batch `axes` (an RNN's initial carry): its slice `sliceName`
   * expanded in the graph to the first input's batch size.
   */
  const batchExpand = (t: TracedTensor, axes: readonly number[], sliceName: string, kernel: TracedKernel): string => {
    const known = constantNames.get(t.id);
    if (known) return known;
    const name = `expand_${t.id}`;
    const int64 = (values: number[], suffix: string): string => {
      const n = `${name}/${suffix}`;
      initializers.set(n, { name: n, dataType: ONNX_DTYPE.int64, dims: [values.length], rawData: rawBytes(values, 'int64') });
      return n;
    };
    const push = (opType: string, input: string[], output: string, attribute: OnnxAttribute[] = []) =>
      nodes.push({ opType, input, output: [output], name: `${name}/${opType}`, attribute, docString: `flaxen module '${kernel.modulePath}' (${kernel.moduleType}): a constant ${formatShape(t.shape)} repeated over the input's batch size` });
    push('Shape', [inputNames[0]!], `${name}/input_shape`);
    push('Slice', [`${name}/input_shape`, int64([0], 'start'), int64([1], 'end')], `${name}/batch`);
    const pieces = t.shape.map((d, i) => (axes.includes(i) ? `${name}/batch` : int64([d], `dim${i}`)));
    push('Concat', pieces, `${name}/shape`, [attribute('axis', { i: 0 })]);
    push('Expand', [sliceName, `${name}/shape`], name);
    constantNames.set(t.id, name);
    return name;
  };

  trace.kernels.forEach((kernel, index) => {
    if (!kernel.dynamic) return;
    const translate = TRANSLATORS[kernel.name];
    const base = `${kernel.modulePath === '' ? 'root' : kernel.modulePath}/${kernel.name}_${index}`;
    const refuse = (why: string): never => {
      throw new OnnxExportError(kernel.modulePath, `toOnnx cannot export ${why} (tfjs kernel ${kernel.name} in ${moduleName(kernel)})`);
    };
    if (!translate) refuse(`the tfjs kernel '${kernel.name}': it has no ONNX translation here`);
    const doc = `flaxen module '${kernel.modulePath}' (${kernel.moduleType}), tfjs kernel ${kernel.name}`;
    let part = 0;
    const ctx: OpContext = {
      kernel,
      other: second.trace.kernels[index]!,
      has: (key) => kernel.inputs.find(([k]) => k === key)?.[1],
      input(key) {
        const t = ctx.has(key) ?? refuse(`a kernel without its input '${key}'`);
        if (dynamic.has(t.id)) {
          const name = names.get(t.id);
          if (name === undefined) refuse(`an input '${key}' made by nothing recorded`);
          return name!;
        }
        return constantName(t, kernel, key);
      },
      output(i = 0) {
        const t = kernel.outputs[i]!;
        const known = names.get(t.id);
        if (known) return known;
        const name = `t${t.id}`;
        names.set(t.id, name);
        return name;
      },
      temp: (hint) => `${base}/${hint}_${part++}`,
      node(opType, inputs, outputs, attrs = {}) {
        nodes.push({
          opType,
          input: inputs,
          output: outputs,
          name: `${base}/${opType}_${part++}`,
          attribute: Object.entries(attrs).map(([name, value]) => attribute(name, value)),
          docString: doc,
        });
      },
      int64(values, scalar = false) {
        const name = `${base}/ints_${part++}`;
        initializers.set(name, { name, dataType: ONNX_DTYPE.int64, dims: scalar ? [] : [values.length], rawData: rawBytes(values, 'int64') });
        return name;
      },
      scalar(value, dtype) {
        const name = `scalar_${dtype}_${counter++}`;
        initializers.set(name, { name, dataType: onnxType(dtype, kernel.modulePath), dims: [], rawData: rawBytes([value], dtype) });
        return name;
      },
      constantValues(key) {
        const t = ctx.has(key);
        if (!t || dynamic.has(t.id)) return undefined;
        return variablePaths.has(t.id) ? variableTensors.get(t.id)!.dataSync() : trace.values.get(t.id);
      },
      sourceVariable(key) {
        const t = ctx.has(key);
        const source = t && !dynamic.has(t.id) ? variableBehind(t) : undefined;
        if (!source) return undefined;
        return { shape: source.shape, values: variableTensors.get(source.id)!.dataSync(), use: () => constantName(source, kernel, key) };
      },
      refuse,
    };
    translate!(ctx);
  });

  // Outputs that are inputs, variables, constants or repeated: an Identity each.
  for (const [i, name] of aliased) {
    const t = trace.outputs[i]!;
    const from = names.get(t.id) ?? constantNameFor(t);
    nodes.push({ opType: 'Identity', input: [from], output: [name], name: `output/Identity_${i}`, attribute: [] });
  }
  function constantNameFor(t: TracedTensor): string {
    const path = variablePaths.get(t.id);
    const values = path !== undefined ? variableTensors.get(t.id)!.dataSync() : trace.values.get(t.id);
    if (!values) throw new OnnxExportError('', 'toOnnx: an output of the model was made outside tfjs\'s kernels; ONNX cannot follow it');
    const name = path ?? `const_${t.id}`;
    initializers.set(name, { name, dataType: onnxType(t.dtype, ''), dims: [...t.shape], rawData: rawBytes(values, t.dtype) });
    return name;
  }

  // Keep only what the outputs need (a kernel run inside another leaves nodes nobody reads).
  const needed = new Set(outputNames);
  const kept: OnnxNode[] = [];
  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = nodes[i]!;
    if (!node.output.some((o) => needed.has(o))) continue;
    kept.push(node);
    for (const name of node.input) needed.add(name);
  }
  kept.reverse();

  const inputs: OnnxValueInfo[] = specs.map((s, i) => ({ name: inputNames[i]!, elemType: onnxType(s.dtype, ''), dims: ['batch', ...s.shape.slice(1)] }));
  const outputs: OnnxValueInfo[] = trace.outputs.map((t, i) => {
    const other = second.trace.outputs[i]!;
    const dims = t.shape.map((d, axis) => (d === other.shape[axis] ? d : d === batch && other.shape[axis] === batch + 1 ? 'batch' : `${outputNames[i]}_dim${axis}`));
    return { name: outputNames[i]!, elemType: onnxType(t.dtype, ''), dims };
  });
  return {
    opset: OPSET,
    irVersion: IR_VERSION,
    producerVersion: '0.1.0',
    docString: `Exported by flaxen's fx.interop.toOnnx: inference-mode apply of ${graphName}, NHWC layout, free batch size.`,
    graphName,
    nodes: kept,
    initializers: [...initializers.values()].filter((t) => needed.has(t.name)),
    inputs,
    outputs,
  };
}
