/**
 * Convolutions (`Conv`, `ConvTranspose`), 1-D and 2-D, NHWC, with Flax's parameter names,
 * layouts and defaults. The number of input channels is read from the first input `init` sees.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { FlaxenError, ShapeError, formatShape } from '../errors.js';
import { Module } from '../core/module.js';
import type { Initializer } from '../core/scope.js';
import { lecunNormal, zeros } from '../initializers/index.js';
import { ConvGeometry, PadPair, convGeneral, convOutputSize, dilateSize, padForType } from '../ops/conv.js';
import { asShape } from '../ops/reshape.js';
import { relu as reluActivation } from './activations.js';
import { activationText, declareActivationOption } from './fusion.js';
import { isAbstract } from '../core/shapes.js';
import { Input, Padding, abstractOr, checkInput, checkPadding, toTuple } from './layer-util.js';
import { checkFeatures, checkOptions, shapeOfLeaf } from './util.js';
import type { OptionKinds } from '../check-options.js';

/**
 * Options of {@link Conv}.
 *
 * @example
 * ```ts
 * const opts: fx.nn.ConvOptions = { strides: 2, padding: 'VALID', useBias: false };
 * ```
 */
export interface ConvOptions {
  /** Window strides: one number for every axis or one per axis (default 1). */
  readonly strides?: number | readonly number[];
  /**
   * `'SAME'` (default: output `ceil(in / stride)`, the odd pixel of padding after), `'VALID'`
   * (no padding), `'CAUSAL'` (1-D only: all padding before), an integer for every side, or
   * `[before, after]` pairs per spatial axis.
   */
  readonly padding?: Padding | 'CAUSAL';
  /** Input (lhs) dilation: `d - 1` zeros between input pixels (default 1). Needs `'VALID'` or explicit padding. */
  readonly inputDilation?: number | readonly number[];
  /** Kernel (atrous) dilation (default 1). */
  readonly kernelDilation?: number | readonly number[];
  /** Feature groups (default 1); equal to the input channels for a depthwise convolution. */
  readonly featureGroupCount?: number;
  /** Add a bias (default true). */
  readonly useBias?: boolean;
  /** Kernel initializer (default `lecunNormal()`, as in Flax). */
  readonly kernelInit?: Initializer;
  /** Bias initializer (default `zeros`). */
  readonly biasInit?: Initializer;
  /**
   * An elementwise function applied to the output, e.g. `fx.nn.relu` (default none). The relu is
   * fused into the convolution: faster than a separate relu, with the same numbers.
   */
  readonly activation?: (x: tf.Tensor) => tf.Tensor;
  /** A fixed name inside a parent module (default `Conv_<k>`). */
  readonly name?: string;
}

const CONV_OPTIONS: OptionKinds<ConvOptions> = {
  strides: 'any',
  padding: 'any',
  inputDilation: 'any',
  kernelDilation: 'any',
  featureGroupCount: 'any',
  useBias: 'boolean',
  kernelInit: 'function',
  biasInit: 'function',
  activation: 'function',
  name: 'string',
};

/**
 * The variables of a `Conv` or `ConvTranspose` layer.
 *
 * @example
 * ```ts
 * const vars: fx.nn.ConvParams = fx.nn.Conv(8, [3, 3]).init(fx.random.key(0), [1, 5, 5, 2]);
 * ```
 */
export type ConvParams = {
  /** The trainable parameters. */
  params: {
    /** `[...kernelSize, inChannels / featureGroupCount, features]` (`ConvTranspose`: `[...kernelSize, inChannels, features]`, or `[..., features, inChannels]` with `transposeKernel`). */
    kernel: tf.Tensor;
    /** `[features]` (absent when `useBias` is false). */
    bias: tf.Tensor;
  };
};

function checkKernelSize(kernelSize: unknown, layer: string): number[] {
  const dims = typeof kernelSize === 'number' ? [kernelSize] : kernelSize;
  if (!Array.isArray(dims) || (dims.length !== 1 && dims.length !== 2) || dims.some((k) => !Number.isSafeInteger(k) || k < 1)) {
    throw new FlaxenError('', `${layer}: kernelSize must be a positive integer (1-D) or an array of 1 or 2 positive integers, found ${JSON.stringify(kernelSize)}`);
  }
  return [...dims] as number[];
}

/** Pads to a 2-D geometry: a 1-D convolution runs as a 2-D one of height 1. */
function to2d<T>(values: readonly T[], one: T): [T, T] {
  return values.length === 2 ? [values[0]!, values[1]!] : [one, values[0]!];
}

function resolvePadding(padding: Padding | 'CAUSAL', spatial: readonly number[], kernel: readonly number[], strides: readonly number[], kernelDilation: readonly number[]): PadPair[] {
  return spatial.map((size, i) => {
    const effective = dilateSize(kernel[i]!, kernelDilation[i]!);
    if (padding === 'SAME' || padding === 'VALID') return padForType(padding, size, effective, strides[i]!);
    if (padding === 'CAUSAL') return [effective - 1, 0] as PadPair;
    if (typeof padding === 'number') return [padding, padding] as PadPair;
    return [padding[i]![0], padding[i]![1]] as PadPair;
  });
}

function describePadding(padding: Padding | 'CAUSAL'): string {
  if (padding === 'SAME') return '';
  if (typeof padding === 'string') return `, ${padding}`;
  if (typeof padding === 'number') return `, padding ${padding}`;
  return `, padding ${JSON.stringify(padding)}`;
}

const tupleText = (name: string, v: readonly number[]) => (v.every((d) => d === 1) ? '' : `, ${name} ${formatShape(v)}`);

interface ConvCore {
  readonly layer: string;
  readonly features: number;
  readonly kernelSize: readonly number[];
  readonly strides: readonly number[];
  readonly inputDilation: readonly number[];
  readonly kernelDilation: readonly number[];
  readonly groups: number;
}

/**
 * Runs a 1-D or 2-D convolution on an input with any number of leading batch axes (or none):
 * returns the output shape, and the output when `x` is a tensor.
 */
function runConv(
  path: string,
  core: ConvCore,
  x: Input,
  kernel: tf.Tensor,
  bias: tf.Tensor | undefined,
  pads: readonly PadPair[],
  relu = false,
): tf.Tensor {
  const n = core.kernelSize.length;
  const shape = x.shape;
  const batch = shape.slice(0, shape.length - n - 1);
  const spatial = shape.slice(shape.length - n - 1, -1);
  const outSpatial = spatial.map((size, i) =>
    convOutputSize(size, core.kernelSize[i]!, { stride: core.strides[i]!, pad: pads[i]!, inputDilation: core.inputDilation[i]!, kernelDilation: core.kernelDilation[i]! }),
  );
  if (outSpatial.some((d) => d < 1)) {
    throw new ShapeError(
      path,
      `${core.layer}: the input's spatial size ${formatShape(spatial)} is too small for kernel ${formatShape(core.kernelSize)}` +
        ` (dilation ${formatShape(core.kernelDilation)}, padding ${JSON.stringify(pads)}): the output would be ${formatShape(outSpatial)}`,
    );
  }
  const outShape = [...batch, ...outSpatial, core.features];
  return abstractOr(x, outShape, () => {
    const t = x as tf.Tensor;
    const merged = batch.reduce((a, b) => a * b, 1);
    const x4 = asShape(t, [merged, ...(n === 1 ? [1] : []), ...spatial, shape[shape.length - 1]!]) as tf.Tensor4D;
    const k4 = (n === 1 ? tf.expandDims(kernel, 0) : kernel) as tf.Tensor4D;
    const geometry: ConvGeometry = {
      strides: to2d(core.strides, 1),
      padding: to2d<PadPair>(pads, [0, 0]),
      inputDilation: to2d(core.inputDilation, 1),
      kernelDilation: to2d(core.kernelDilation, 1),
      groups: core.groups,
    };
    // The bias is fused into the convolution op (one kernel, and a cheap lazy gradient).
    // convGeneral's output is new: asShape may return it as it is
    return asShape(convGeneral(x4, k4, geometry, bias as tf.Tensor1D | undefined, { relu }), outShape);
  });
}

function checkConvInput(x: unknown, core: ConvCore, path: string): { inChannels: number } {
  const n = core.kernelSize.length;
  const shape = checkInput(x, core.layer, path, n + 1, `a ${n}-D input ([batch..., ${n === 2 ? 'height, width' : 'length'}, channels])`);
  const inChannels = shape[shape.length - 1]!;
  if (inChannels % core.groups !== 0) {
    throw new ShapeError(path, `${core.layer}: featureGroupCount ${core.groups} must divide the input channels, found ${inChannels} channels (input shape ${formatShape(shape)})`);
  }
  return { inChannels };
}

/**
 * A convolution over 1 or 2 spatial axes, NHWC, as Flax's `nn.Conv`. The kernel is
 * `[...kernelSize, inChannels / featureGroupCount, features]` (LeCun-normal), the bias
 * `[features]` (zeros); `inChannels` comes from the input. Inputs are
 * `[batch..., height, width, channels]` (2-D) or `[batch..., length, channels]` (1-D), with any
 * number of batch axes (also none). A depthwise convolution is `featureGroupCount` equal to the
 * input channels (and `features` a multiple of it).
 *
 * Padding `'SAME'` (the default) gives `ceil(in / stride)` outputs, with the odd pixel of
 * padding after, as in JAX. Gradients with respect to the input and the kernel work on the
 * wasm backend (see `lib/ops/conv.ts`).
 *
 * @param features - the number of output channels.
 * @param kernelSize - `[kh, kw]` for 2-D, `[k]` or `k` for 1-D.
 * @example
 * ```ts
 * const conv = fx.nn.Conv(32, [3, 3]);
 * conv.describe();                                     // 'Conv(-1 -> 32, kernel [3, 3])'
 * const vars = conv.init(fx.random.key(0), [1, 28, 28, 3]);
 * vars.params.kernel.shape;                            // [3, 3, 3, 32]
 * conv.apply(vars, tf.zeros([8, 28, 28, 3])).shape;    // [8, 28, 28, 32]
 * ```
 */
export function Conv(features: number, kernelSize: number | readonly number[], opts: ConvOptions = {}): Module<ConvParams> {
  checkFeatures(features, 'Conv(features)');
  const ks = checkKernelSize(kernelSize, 'Conv');
  checkOptions(opts, CONV_OPTIONS, 'Conv');
  const activation = opts.activation;
  const fusedRelu = activation === reluActivation;
  const n = ks.length;
  const core: ConvCore = {
    layer: 'Conv',
    features,
    kernelSize: ks,
    strides: toTuple(opts.strides ?? 1, n, 'Conv: strides'),
    inputDilation: toTuple(opts.inputDilation ?? 1, n, 'Conv: inputDilation'),
    kernelDilation: toTuple(opts.kernelDilation ?? 1, n, 'Conv: kernelDilation'),
    groups: checkFeatures(opts.featureGroupCount ?? 1, 'Conv: featureGroupCount'),
  };
  const padding = checkPadding(opts.padding ?? 'SAME', n, 'Conv', n === 1 ? ['SAME', 'VALID', 'CAUSAL'] : ['SAME', 'VALID']) as Padding | 'CAUSAL';
  if (features % core.groups !== 0) throw new FlaxenError('', `Conv: featureGroupCount ${core.groups} must divide features, found ${features}`);
  if (padding === 'SAME' && core.inputDilation.some((d) => d !== 1)) {
    throw new FlaxenError('', `Conv: 'SAME' padding is not defined with inputDilation ${formatShape(core.inputDilation)} (as in JAX); give 'VALID' or explicit [before, after] pairs`);
  }
  const { useBias = true, kernelInit = lecunNormal(), biasInit = zeros } = opts;
  const layer: Module<ConvParams> = new Module({
    type: 'Conv',
    name: opts.name,
    abstractSafe: true,
    body: (scope, x: Input) => {
      const { inChannels } = checkConvInput(x, core, scope.path);
      const kernel = scope.param('kernel', kernelInit, [...ks, inChannels / core.groups, features]);
      const bias = useBias ? scope.param('bias', biasInit, [features]) : undefined;
      const spatial = x.shape.slice(x.shape.length - n - 1, -1);
      const pads = resolvePadding(padding, spatial, ks, core.strides, core.kernelDilation);
      const run = () => runConv(scope.path, core, x, kernel, bias, pads, fusedRelu);
      if (activation === undefined || fusedRelu || isAbstract(x)) return run();
      return tf.tidy(() => activation(run()));
    },
    summarize: (variables) => {
      const kernel = shapeOfLeaf(variables, 'params', 'kernel');
      const inSize = kernel ? kernel[kernel.length - 2]! * core.groups : -1;
      const extras =
        tupleText('strides', core.strides) +
        describePadding(padding) +
        tupleText('inputDilation', core.inputDilation) +
        tupleText('kernelDilation', core.kernelDilation) +
        (core.groups !== 1 ? `, groups ${core.groups}` : '') +
        (useBias ? '' : ', no bias') +
        activationText(activation);
      return { header: `Conv(${inSize} -> ${features}, kernel ${formatShape(ks)}${extras})` };
    },
  });
  // Sequential([Conv(...), relu]) runs Conv(..., { activation: relu }) (nn/fusion.ts).
  return activation === undefined ? declareActivationOption(layer, (act) => Conv(features, kernelSize, { ...opts, activation: act })) : layer;
}

/**
 * Options of {@link ConvTranspose}.
 *
 * @example
 * ```ts
 * const opts: fx.nn.ConvTransposeOptions = { strides: 2, padding: 'SAME' };
 * ```
 */
export interface ConvTransposeOptions {
  /** Strides of the transposed convolution: the upsampling factor (default 1). */
  readonly strides?: number | readonly number[];
  /**
   * `'SAME'` (default: output `in * stride`), `'VALID'` (output `in * stride + max(k - stride, 0)`),
   * or explicit pairs applied to the stride-dilated input, as in `lax.conv_transpose`.
   */
  readonly padding?: Padding;
  /** Kernel dilation (default 1). */
  readonly kernelDilation?: number | readonly number[];
  /** Add a bias (default true). */
  readonly useBias?: boolean;
  /** Flip the kernel spatially and swap its in/out axes (as the gradient of a `Conv`); default false, as in Flax. */
  readonly transposeKernel?: boolean;
  /** Kernel initializer (default `lecunNormal()`). */
  readonly kernelInit?: Initializer;
  /** Bias initializer (default `zeros`). */
  readonly biasInit?: Initializer;
  /** A fixed name inside a parent module (default `ConvTranspose_<k>`). */
  readonly name?: string;
}

const CONV_TRANSPOSE_OPTIONS: OptionKinds<ConvTransposeOptions> = {
  strides: 'any',
  padding: 'any',
  kernelDilation: 'any',
  useBias: 'boolean',
  transposeKernel: 'boolean',
  kernelInit: 'function',
  biasInit: 'function',
  name: 'string',
};

/** `lax._conv_transpose_padding`: the padding of the stride-dilated input for one axis. */
function transposePadding(kernel: number, stride: number, padding: 'SAME' | 'VALID'): PadPair {
  let padLen: number;
  let before: number;
  if (padding === 'SAME') {
    padLen = kernel + stride - 2;
    before = stride > kernel - 1 ? kernel - 1 : Math.ceil(padLen / 2);
  } else {
    padLen = kernel + stride - 2 + Math.max(kernel - stride, 0);
    before = kernel - 1;
  }
  return [before, padLen - before];
}

/**
 * A transposed convolution (an upsampling convolution), as Flax's `nn.ConvTranspose`: the
 * input is dilated by `strides` (zeros between pixels) and convolved with the kernel
 * `[...kernelSize, inChannels, features]` at stride 1. With `'SAME'` padding the output is
 * `in * stride` per spatial axis; with `'VALID'`, `in * stride + max(k - stride, 0)`.
 *
 * @param features - the number of output channels.
 * @param kernelSize - `[kh, kw]` for 2-D, `[k]` or `k` for 1-D.
 * @example
 * ```ts
 * const up = fx.nn.ConvTranspose(16, [3, 3], { strides: 2 });
 * const vars = up.init(fx.random.key(0), [1, 7, 7, 32]);
 * vars.params.kernel.shape;                       // [3, 3, 32, 16]
 * up.apply(vars, tf.zeros([1, 7, 7, 32])).shape;  // [1, 14, 14, 16]
 * ```
 */
export function ConvTranspose(features: number, kernelSize: number | readonly number[], opts: ConvTransposeOptions = {}): Module<ConvParams> {
  checkFeatures(features, 'ConvTranspose(features)');
  const ks = checkKernelSize(kernelSize, 'ConvTranspose');
  checkOptions(opts, CONV_TRANSPOSE_OPTIONS, 'ConvTranspose');
  const n = ks.length;
  const strides = toTuple(opts.strides ?? 1, n, 'ConvTranspose: strides');
  const core: ConvCore = {
    layer: 'ConvTranspose',
    features,
    kernelSize: ks,
    strides: new Array<number>(n).fill(1),
    inputDilation: strides,
    kernelDilation: toTuple(opts.kernelDilation ?? 1, n, 'ConvTranspose: kernelDilation'),
    groups: 1,
  };
  const padding = checkPadding(opts.padding ?? 'SAME', n, 'ConvTranspose');
  const { useBias = true, kernelInit = lecunNormal(), biasInit = zeros, transposeKernel = false } = opts;
  return new Module({
    type: 'ConvTranspose',
    name: opts.name,
    abstractSafe: true,
    body: (scope, x: Input) => {
      const { inChannels } = checkConvInput(x, core, scope.path);
      const kernelShape = transposeKernel ? [...ks, features, inChannels] : [...ks, inChannels, features];
      const stored = scope.param('kernel', kernelInit, kernelShape);
      const bias = useBias ? scope.param('bias', biasInit, [features]) : undefined;
      const pads: PadPair[] = ks.map((k, i) => {
        const effective = dilateSize(k, core.kernelDilation[i]!);
        if (padding === 'SAME' || padding === 'VALID') return transposePadding(effective, strides[i]!, padding);
        if (typeof padding === 'number') return [padding, padding] as PadPair;
        return [padding[i]![0], padding[i]![1]] as PadPair;
      });
      let kernel = stored;
      if (transposeKernel && stored instanceof tf.Tensor) {
        // Flip the spatial axes and swap in/out: [..., features, in] -> [..., in, features].
        const axes = ks.map((_, i) => i);
        kernel = tf.transpose(tf.reverse(stored, axes), [...axes, n + 1, n]);
      }
      return runConv(scope.path, core, x, kernel, bias, pads);
    },
    summarize: (variables) => {
      const kernel = shapeOfLeaf(variables, 'params', 'kernel');
      const inSize = kernel ? kernel[transposeKernel ? kernel.length - 1 : kernel.length - 2]! : -1;
      const extras = tupleText('strides', strides) + describePadding(padding) + tupleText('kernelDilation', core.kernelDilation) + (useBias ? '' : ', no bias');
      return { header: `ConvTranspose(${inSize} -> ${features}, kernel ${formatShape(ks)}${extras})` };
    },
  });
}
