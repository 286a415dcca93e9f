/**
 * tfjs kernels as ONNX nodes (opset 13), one translator per kernel name. A translator sees the
 * kernel as recorded at two batch sizes (`kernel`, `other`) and writes nodes through an
 * {@link OpContext}. Layout: tfjs's convolutions and pools are NHWC, ONNX's NCHW, so each is
 * wrapped in two Transposes (ONNX Runtime folds them away where it can); kernels are HWIO in
 * tfjs, OIHW in ONNX.
 *
 * @module
 * @internal
 */
import type { TracedKernel, TracedTensor } from './onnx-trace.js';

/** An attribute value: `{ i }`, `{ f }`, `{ ints }`, `{ floats }` or `{ s }`. @internal */
export type AttrValue =
  | { readonly i: number }
  | { readonly f: number }
  | { readonly ints: readonly number[] }
  | { readonly floats: readonly number[] }
  | { readonly s: string }
  | { readonly tensor: { readonly dtype: 'float32' | 'int32' | 'bool'; readonly values: readonly number[] } };

/** What a translator writes through. @internal */
export interface OpContext {
  /** The kernel at the first batch size. */
  readonly kernel: TracedKernel;
  /** The same kernel at the second batch size. */
  readonly other: TracedKernel;
  /** The ONNX name of input `key` (throws when the kernel has no such input). */
  input(key: string): string;
  /** The traced input `key`, if given. */
  has(key: string): TracedTensor | undefined;
  /** The ONNX name of output `i`. */
  output(i?: number): string;
  /** A fresh name for an intermediate value. */
  temp(hint: string): string;
  /** Adds a node. */
  node(opType: string, inputs: readonly string[], outputs: readonly string[], attrs?: Readonly<Record<string, AttrValue>>): void;
  /** An int64 constant of shape `[values.length]` (or a scalar with `scalar: true`). */
  int64(values: readonly number[], scalar?: boolean): string;
  /** A scalar constant of `dtype`. */
  scalar(value: number, dtype: 'float32' | 'int32' | 'bool'): string;
  /** The values of the constant input `key` (undefined for an input that depends on the model's inputs). */
  constantValues(key: string): ArrayLike<number> | undefined;
  /**
   * The one variable that the constant input `key` was folded from (through reshapes, pads,
   * concatenations: a grouped kernel made block-diagonal), if there is exactly one: its shape,
   * values, and `use()`, which gives its ONNX name (an initializer named by its path).
   */
  sourceVariable(key: string): { readonly shape: readonly number[]; readonly values: ArrayLike<number>; use(): string } | undefined;
  /** Refuses the kernel with a reason (an `OnnxExportError` naming the module). */
  refuse(why: string): never;
}

type Translator = (ctx: OpContext) => void;

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));
const pair = (v: unknown): [number, number] => (Array.isArray(v) ? [num(v[0]), num(v[1] ?? v[0])] : [num(v), num(v)]);
const axesOf = (v: unknown): number[] | undefined => (v === undefined || v === null ? undefined : Array.isArray(v) ? v.map(num) : [num(v)]);

function unary(opType: string): Translator {
  return (ctx) => ctx.node(opType, [ctx.input('x')], [ctx.output()]);
}

function binary(opType: string): Translator {
  return (ctx) => ctx.node(opType, [ctx.input('a'), ctx.input('b')], [ctx.output()]);
}

/** The permutation that swaps the last two axes of a rank-`rank` tensor. */
function swapLast(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1]!, perm[rank - 2]!];
  return perm;
}

/** Applies a fused activation of tfjs (`linear`, `relu`, ...) from `from` to `to`. */
function activation(ctx: OpContext, from: string, to: string): void {
  const name = (ctx.kernel.attrs['activation'] as string | undefined) ?? 'linear';
  switch (name) {
    case 'linear':
      return ctx.node('Identity', [from], [to]);
    case 'relu':
      return ctx.node('Relu', [from], [to]);
    case 'relu6':
      return ctx.node('Clip', [from, ctx.scalar(0, 'float32'), ctx.scalar(6, 'float32')], [to]);
    case 'elu':
      return ctx.node('Elu', [from], [to], { alpha: { f: 1 } });
    case 'sigmoid':
      return ctx.node('Sigmoid', [from], [to]);
    case 'leakyrelu':
      return ctx.node('LeakyRelu', [from], [to], { alpha: { f: num(ctx.kernel.attrs['leakyreluAlpha'] ?? 0.2) } });
    case 'prelu':
      return ctx.node('PRelu', [from, ctx.input('preluActivationWeights')], [to]);
    default:
      return ctx.refuse(`the fused activation '${name}' has no ONNX translation here`);
  }
}

/** ONNX `pads` `[top, left, bottom, right]` of a tfjs NHWC window op. */
function spatialPads(ctx: OpContext, window: [number, number], strides: [number, number], dilations: [number, number]): number[] {
  const pad = ctx.kernel.attrs['pad'];
  if (ctx.kernel.attrs['dimRoundingMode'] !== undefined && ctx.kernel.attrs['dimRoundingMode'] !== null) ctx.refuse('dimRoundingMode has no ONNX counterpart');
  if (pad === 'valid') return [0, 0, 0, 0];
  if (typeof pad === 'number') return [pad, pad, pad, pad];
  if (Array.isArray(pad)) {
    const [, [t, b], [l, r]] = pad as number[][];
    return [t!, l!, b!, r!];
  }
  if (pad !== 'same') ctx.refuse(`the padding ${JSON.stringify(pad)} is not understood`);
  const x = ctx.kernel.inputs[0]![1].shape;
  const y = ctx.kernel.outputs[0]!.shape;
  const before: number[] = [];
  const after: number[] = [];
  for (let i = 0; i < 2; i++) {
    const effective = (window[i]! - 1) * dilations[i]! + 1;
    const total = Math.max(0, (y[i + 1]! - 1) * strides[i]! + effective - x[i + 1]!);
    before.push(Math.floor(total / 2));
    after.push(total - Math.floor(total / 2));
  }
  return [...before, ...after];
}

/**
 * A grouped convolution's filter as ONNX wants it: flaxen runs a grouped Conv as one dense
 * convolution with the block-diagonal spread of its kernel `[kh, kw, in/groups, out]` (zeros
 * between groups, `ops/conv.ts`); ONNX's Conv takes the kernel itself with a `group` attribute.
 * The filter is recognized from the variable it was folded from, and only when its values are
 * exactly that spread. Returns the kernel's ONNX name (HWIO, `[kh, kw, in/groups, out]`) and
 * the number of groups; undefined for an ordinary filter.
 */
function groupedFilter(ctx: OpContext, kh: number, kw: number, inChannels: number, out: number): { name: string; groups: number } | undefined {
  const source = ctx.sourceVariable('filter');
  const values = ctx.constantValues('filter');
  if (!source || !values) return undefined;
  // A 1-D kernel [k, in/groups, out] runs as a 2-D one of height 1.
  const shape = source.shape.length === 3 ? [1, ...source.shape] : source.shape;
  const perGroupIn = shape[2]!;
  if (shape.length !== 4 || shape[0] !== kh || shape[1] !== kw || shape[3] !== out || perGroupIn >= inChannels || inChannels % perGroupIn !== 0) return undefined;
  const groups = inChannels / perGroupIn;
  if (out % groups !== 0) return undefined;
  const perGroupOut = out / groups;
  for (let pixel = 0; pixel < kh * kw; pixel++) {
    for (let i = 0; i < inChannels; i++) {
      const group = Math.floor(i / perGroupIn);
      for (let o = 0; o < out; o++) {
        const want = Math.floor(o / perGroupOut) === group ? source.values[(pixel * perGroupIn + (i - group * perGroupIn)) * out + o]! : 0;
        if (values[(pixel * inChannels + i) * out + o] !== want) return undefined;
      }
    }
  }
  let name = source.use();
  if (source.shape.length !== 4) {
    const reshaped = ctx.temp('grouped_filter');
    ctx.node('Reshape', [name, ctx.int64([kh, kw, perGroupIn, out])], [reshaped]);
    name = reshaped;
  }
  return { name, groups };
}

const TO_NCHW = [0, 3, 1, 2];
const TO_NHWC = [0, 2, 3, 1];

function conv(depthwise: boolean): Translator {
  return (ctx) => {
    const filter = ctx.has('filter')!;
    const [kh, kw, inChannels, last] = filter.shape as [number, number, number, number];
    // (With a grouped filter, the Conv's weight is [out, in/groups, kh, kw] after the Transpose below.)
    if (ctx.kernel.attrs['dataFormat'] !== undefined && ctx.kernel.attrs['dataFormat'] !== 'NHWC') ctx.refuse(`dataFormat ${String(ctx.kernel.attrs['dataFormat'])}`);
    const strides = pair(ctx.kernel.attrs['strides'] ?? 1);
    const dilations = pair(ctx.kernel.attrs['dilations'] ?? 1);
    const x = ctx.temp('nchw');
    ctx.node('Transpose', [ctx.input('x')], [x], { perm: { ints: TO_NCHW } });
    const grouped = depthwise ? undefined : groupedFilter(ctx, kh, kw, inChannels, last);
    let w = grouped ? grouped.name : ctx.input('filter');
    let outChannels = last;
    if (depthwise) {
      // [kh, kw, in, multiplier] → [kh, kw, 1, in·multiplier]: output c·multiplier + m reads channel c, as one group per channel.
      outChannels = inChannels * last;
      const reshaped = ctx.temp('depthwise_filter');
      ctx.node('Reshape', [w, ctx.int64([kh, kw, 1, outChannels])], [reshaped]);
      w = reshaped;
    }
    const oihw = ctx.temp('oihw');
    ctx.node('Transpose', [w], [oihw], { perm: { ints: [3, 2, 0, 1] } });
    const inputs = [x, oihw];
    const bias = ctx.has('bias');
    if (bias) {
      if (bias.shape.length !== 1 || bias.shape[0] !== outChannels) ctx.refuse(`a convolution bias of shape [${bias.shape.join(', ')}]`);
      inputs.push(ctx.input('bias'));
    }
    const y = ctx.temp('conv');
    ctx.node('Conv', inputs, [y], {
      kernel_shape: { ints: [kh, kw] },
      strides: { ints: strides },
      dilations: { ints: dilations },
      pads: { ints: spatialPads(ctx, [kh, kw], strides, dilations) },
      group: { i: depthwise ? inChannels : grouped ? grouped.groups : 1 },
    });
    const nhwc = ctx.temp('nhwc');
    ctx.node('Transpose', [y], [nhwc], { perm: { ints: TO_NHWC } });
    activation(ctx, nhwc, ctx.output());
  };
}

function pool(opType: 'MaxPool' | 'AveragePool'): Translator {
  return (ctx) => {
    const window = pair(ctx.kernel.attrs['filterSize']);
    const strides = pair(ctx.kernel.attrs['strides'] ?? 1);
    const pads = spatialPads(ctx, window, strides, [1, 1]);
    if (opType === 'AveragePool' && ctx.kernel.attrs['pad'] !== 'same' && pads.some((p) => p !== 0)) ctx.refuse('an average pool with explicit padding');
    const x = ctx.temp('nchw');
    ctx.node('Transpose', [ctx.input('x')], [x], { perm: { ints: TO_NCHW } });
    const y = ctx.temp('pool');
    // tfjs's 'same' average pool divides by the number of real pixels in the window.
    ctx.node(opType, [x], [y], { kernel_shape: { ints: window }, strides: { ints: strides }, pads: { ints: pads }, ...(opType === 'AveragePool' ? { count_include_pad: { i: 0 } } : {}) });
    ctx.node('Transpose', [y], [ctx.output()], { perm: { ints: TO_NHWC } });
  };
}

function matMul(fused: boolean): Translator {
  return (ctx) => {
    let a = ctx.input('a');
    let b = ctx.input('b');
    if (ctx.kernel.attrs['transposeA']) {
      const t = ctx.temp('aT');
      ctx.node('Transpose', [a], [t], { perm: { ints: swapLast(ctx.has('a')!.shape.length) } });
      a = t;
    }
    if (ctx.kernel.attrs['transposeB']) {
      const t = ctx.temp('bT');
      ctx.node('Transpose', [b], [t], { perm: { ints: swapLast(ctx.has('b')!.shape.length) } });
      b = t;
    }
    if (!fused) return ctx.node('MatMul', [a, b], [ctx.output()]);
    let y = ctx.temp('matmul');
    ctx.node('MatMul', [a, b], [y]);
    if (ctx.has('bias')) {
      const biased = ctx.temp('biased');
      ctx.node('Add', [y, ctx.input('bias')], [biased]);
      y = biased;
    }
    activation(ctx, y, ctx.output());
  };
}

function reduce(opType: string, axisAttr: string): Translator {
  return (ctx) => {
    const axes = axesOf(ctx.kernel.attrs[axisAttr]);
    const keepdims = { i: ctx.kernel.attrs['keepDims'] ? 1 : 0 };
    if (opType === 'ReduceSum') {
      // opset 13 takes ReduceSum's axes as an input, the other reductions' as an attribute.
      return ctx.node(opType, axes ? [ctx.input('x'), ctx.int64(axes)] : [ctx.input('x')], [ctx.output()], { keepdims });
    }
    ctx.node(opType, [ctx.input('x')], [ctx.output()], axes ? { axes: { ints: axes }, keepdims } : { keepdims });
  };
}

const ONNX_CAST: Readonly<Record<string, number>> = { float32: 1, int32: 6, bool: 9 };

/** The translators, by tfjs kernel name. @internal */
export const TRANSLATORS: Readonly<Record<string, Translator>> = {
  Abs: unary('Abs'),
  Ceil: unary('Ceil'),
  Cos: unary('Cos'),
  Erf: unary('Erf'),
  Exp: unary('Exp'),
  Floor: unary('Floor'),
  IsNan: unary('IsNaN'),
  Log: unary('Log'),
  Neg: unary('Neg'),
  Reciprocal: unary('Reciprocal'),
  Relu: unary('Relu'),
  Round: unary('Round'),
  Sigmoid: unary('Sigmoid'),
  Sign: unary('Sign'),
  Sin: unary('Sin'),
  Softplus: unary('Softplus'),
  Sqrt: unary('Sqrt'),
  Tanh: unary('Tanh'),
  LogicalNot: unary('Not'),
  Identity: unary('Identity'),
  Elu: (ctx) => ctx.node('Elu', [ctx.input('x')], [ctx.output()], { alpha: { f: 1 } }),
  Selu: (ctx) =>
    // tfjs: scale 1.0507009873554805, scale·alpha 1.7580993408473769.
    ctx.node('Selu', [ctx.input('x')], [ctx.output()], { alpha: { f: 1.7580993408473769 / 1.0507009873554805 }, gamma: { f: 1.0507009873554805 } }),
  Relu6: (ctx) => ctx.node('Clip', [ctx.input('x'), ctx.scalar(0, 'float32'), ctx.scalar(6, 'float32')], [ctx.output()]),
  LeakyRelu: (ctx) => ctx.node('LeakyRelu', [ctx.input('x')], [ctx.output()], { alpha: { f: num(ctx.kernel.attrs['alpha']) } }),
  Prelu: (ctx) => ctx.node('PRelu', [ctx.input('x'), ctx.input('alpha')], [ctx.output()]),
  Square: (ctx) => ctx.node('Mul', [ctx.input('x'), ctx.input('x')], [ctx.output()]),
  Rsqrt: (ctx) => {
    const root = ctx.temp('sqrt');
    ctx.node('Sqrt', [ctx.input('x')], [root]);
    ctx.node('Reciprocal', [root], [ctx.output()]);
  },
  Log1p: (ctx) => {
    const shifted = ctx.temp('plus1');
    ctx.node('Add', [ctx.input('x'), ctx.scalar(1, 'float32')], [shifted]);
    ctx.node('Log', [shifted], [ctx.output()]);
  },
  Expm1: (ctx) => {
    const e = ctx.temp('exp');
    ctx.node('Exp', [ctx.input('x')], [e]);
    ctx.node('Sub', [e, ctx.scalar(1, 'float32')], [ctx.output()]);
  },
  Step: (ctx) => {
    const positive = ctx.temp('positive');
    ctx.node('Greater', [ctx.input('x'), ctx.scalar(0, 'float32')], [positive]);
    ctx.node('Where', [positive, ctx.scalar(1, 'float32'), ctx.scalar(num(ctx.kernel.attrs['alpha'] ?? 0), 'float32')], [ctx.output()]);
  },
  ClipByValue: (ctx) =>
    ctx.node('Clip', [ctx.input('x'), ctx.scalar(num(ctx.kernel.attrs['clipValueMin']), 'float32'), ctx.scalar(num(ctx.kernel.attrs['clipValueMax']), 'float32')], [ctx.output()]),
  Cast: (ctx) => {
    const to = ONNX_CAST[String(ctx.kernel.attrs['dtype'])];
    if (to === undefined) ctx.refuse(`a cast to ${String(ctx.kernel.attrs['dtype'])}`);
    ctx.node('Cast', [ctx.input('x')], [ctx.output()], { to: { i: to } });
  },
  Add: binary('Add'),
  Sub: binary('Sub'),
  Multiply: binary('Mul'),
  RealDiv: binary('Div'),
  Maximum: binary('Max'),
  Minimum: binary('Min'),
  Pow: binary('Pow'),
  Greater: binary('Greater'),
  GreaterEqual: binary('GreaterOrEqual'),
  Less: binary('Less'),
  LessEqual: binary('LessOrEqual'),
  Equal: binary('Equal'),
  LogicalAnd: binary('And'),
  LogicalOr: binary('Or'),
  NotEqual: (ctx) => {
    const equal = ctx.temp('equal');
    ctx.node('Equal', [ctx.input('a'), ctx.input('b')], [equal]);
    ctx.node('Not', [equal], [ctx.output()]);
  },
  SquaredDifference: (ctx) => {
    const d = ctx.temp('difference');
    ctx.node('Sub', [ctx.input('a'), ctx.input('b')], [d]);
    ctx.node('Mul', [d, d], [ctx.output()]);
  },
  Select: (ctx) => ctx.node('Where', [ctx.input('condition'), ctx.input('t'), ctx.input('e')], [ctx.output()]),
  Softmax: (ctx) => ctx.node('Softmax', [ctx.input('logits')], [ctx.output()], { axis: { i: num(ctx.kernel.attrs['dim'] ?? -1) } }),
  Sum: reduce('ReduceSum', 'axis'),
  Mean: reduce('ReduceMean', 'axis'),
  Max: reduce('ReduceMax', 'reductionIndices'),
  Min: reduce('ReduceMin', 'axis'),
  Prod: reduce('ReduceProd', 'axis'),
  ArgMax: (ctx) => {
    const index = ctx.temp('argmax');
    ctx.node('ArgMax', [ctx.input('x')], [index], { axis: { i: axesOf(ctx.kernel.attrs['axis'])![0]! }, keepdims: { i: 0 } });
    ctx.node('Cast', [index], [ctx.output()], { to: { i: ONNX_CAST['int32']! } });
  },
  Transpose: (ctx) => ctx.node('Transpose', [ctx.input('x')], [ctx.output()], { perm: { ints: (ctx.kernel.attrs['perm'] as number[]).map(num) } }),
  Reshape: (ctx) => ctx.node('Reshape', [ctx.input('x'), ctx.int64(reshapeTarget(ctx))], [ctx.output()]),
  Concat: (ctx) => {
    const keys = ctx.kernel.inputs.map(([k]) => k);
    ctx.node('Concat', keys.map((k) => ctx.input(k)), [ctx.output()], { axis: { i: num(ctx.kernel.attrs['axis']) } });
  },
  Pack: (ctx) => {
    const axis = num(ctx.kernel.attrs['axis'] ?? 0);
    const parts = ctx.kernel.inputs.map(([k]) => {
      const t = ctx.temp('unsqueezed');
      ctx.node('Unsqueeze', [ctx.input(k), ctx.int64([axis])], [t]);
      return t;
    });
    ctx.node('Concat', parts, [ctx.output()], { axis: { i: axis } });
  },
  Slice: (ctx) => {
    const begin = (ctx.kernel.attrs['begin'] as number[]).map(num);
    const size = (ctx.kernel.attrs['size'] as number[]).map(num);
    const inA = ctx.kernel.inputs[0]![1].shape;
    const inB = ctx.other.inputs[0]![1].shape;
    const sizeB = (ctx.other.attrs['size'] as number[]).map(num);
    const beginB = (ctx.other.attrs['begin'] as number[]).map(num);
    // A size that follows the batch is only allowed as "the whole axis" (to its end).
    const whole = size.map((d, i) => d < 0 || (d !== sizeB[i] && begin[i] === 0 && beginB[i] === 0 && d === inA[i] && sizeB[i] === inB[i]));
    size.forEach((d, i) => {
      if ((d !== sizeB[i] || begin[i] !== beginB[i]) && !whole[i]) ctx.refuse(`a slice whose axis ${i} depends on the batch size other than as the whole axis`);
    });
    const ends = begin.map((b, i) => (whole[i] ? Number.MAX_SAFE_INTEGER : b + size[i]!));
    ctx.node('Slice', [ctx.input('x'), ctx.int64(begin), ctx.int64(ends), ctx.int64(begin.map((_, i) => i))], [ctx.output()]);
  },
  Unpack: (ctx) => {
    const x = ctx.has('value')!;
    const axis = num(ctx.kernel.attrs['axis'] ?? 0);
    const n = x.shape[axis < 0 ? axis + x.shape.length : axis]!;
    const parts = Array.from({ length: n }, () => ctx.temp('part'));
    ctx.node('Split', [ctx.input('value'), ctx.int64(Array.from({ length: n }, () => 1))], parts, { axis: { i: axis } });
    parts.forEach((part, i) => ctx.node('Squeeze', [part, ctx.int64([axis])], [ctx.output(i)]));
  },
  SplitV: (ctx) => {
    const x = ctx.has('x')!;
    const given = num(ctx.kernel.attrs['axis'] ?? 0);
    const axis = given < 0 ? given + x.shape.length : given;
    if (axis === 0) ctx.refuse('a split along the batch axis');
    const sizes = ctx.kernel.outputs.map((t) => t.shape[axis]!);
    ctx.node('Split', [ctx.input('x'), ctx.int64(sizes)], sizes.map((_, i) => ctx.output(i)), { axis: { i: axis } });
  },
  Tile: (ctx) => ctx.node('Tile', [ctx.input('x'), ctx.int64((ctx.kernel.attrs['reps'] as number[]).map(num))], [ctx.output()]),
  PadV2: (ctx) => {
    const paddings = ctx.kernel.attrs['paddings'] as number[][];
    const x = ctx.has('x')!;
    if (x.dtype !== 'float32') ctx.refuse(`padding a ${x.dtype} tensor`);
    ctx.node('Pad', [ctx.input('x'), ctx.int64([...paddings.map((p) => p[0]!), ...paddings.map((p) => p[1]!)]), ctx.scalar(num(ctx.kernel.attrs['constantValue'] ?? 0), 'float32')], [ctx.output()], {
      mode: { s: 'constant' },
    });
  },
  GatherV2: (ctx) => {
    if (num(ctx.kernel.attrs['batchDims'] ?? 0) !== 0) ctx.refuse('a gather with batchDims');
    ctx.node('Gather', [ctx.input('x'), ctx.input('indices')], [ctx.output()], { axis: { i: num(ctx.kernel.attrs['axis'] ?? 0) } });
  },
  ZerosLike: (ctx) => constantLike(ctx, 0),
  OnesLike: (ctx) => constantLike(ctx, 1),
  Cumsum: (ctx) =>
    ctx.node('CumSum', [ctx.input('x'), ctx.int64([num(ctx.kernel.attrs['axis'])], true)], [ctx.output()], {
      exclusive: { i: ctx.kernel.attrs['exclusive'] ? 1 : 0 },
      reverse: { i: ctx.kernel.attrs['reverse'] ? 1 : 0 },
    }),
  BatchMatMul: matMul(false),
  _FusedMatMul: matMul(true),
  Conv2D: conv(false),
  FusedConv2D: conv(false),
  DepthwiseConv2dNative: conv(true),
  FusedDepthwiseConv2D: conv(true),
  MaxPool: pool('MaxPool'),
  AvgPool: pool('AveragePool'),
};

function constantLike(ctx: OpContext, value: number): void {
  const x = ctx.has('x')!;
  const shape = ctx.temp('shape');
  ctx.node('Shape', [ctx.input('x')], [shape]);
  if (x.dtype !== 'float32' && x.dtype !== 'int32' && x.dtype !== 'bool') ctx.refuse(`a ${x.dtype} tensor`);
  ctx.node('ConstantOfShape', [shape], [ctx.output()], { value: { tensor: { dtype: x.dtype, values: [value] } } });
}

/**
 * The target shape of a Reshape with the batch left free: sizes equal at both batch sizes are
 * kept; a size that changes is `0` (copy the input's size) when it is the input's size at the
 * same axis at both batch sizes, else `-1` (inferred), which ONNX allows once.
 * @internal
 */
export function reshapeTarget(ctx: OpContext): number[] {
  const inA = ctx.kernel.inputs[0]![1].shape;
  const inB = ctx.other.inputs[0]![1].shape;
  const outA = ctx.kernel.outputs[0]!.shape;
  const outB = ctx.other.outputs[0]!.shape;
  const target = outA.map((d, i) => (d === outB[i] ? d : i < inA.length && inA[i] === d && inB[i] === outB[i] ? 0 : -1));
  if (target.filter((d) => d === -1).length > 1) {
    ctx.refuse(`a reshape to [${outA.join(', ')}] (at batch ${inA[0]}) and [${outB.join(', ')}] (at batch ${inB[0]}): more than one size depends on the batch`);
  }
  return target;
}
