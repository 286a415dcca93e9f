/**
 * Flat safetensors files with the names as they are: the `state_dict` files of PyTorch
 * (`model.0.weight`, `bn.running_mean`, …) written by the Python `safetensors` package, and
 * read by it. {@link tensorsFromBytes} / {@link tensorsToBytes} work in memory (browser and
 * Node); {@link loadTensors} / {@link saveTensors} on files (Node).
 *
 * Reading converts what tfjs has no type for, as `load` does: F16, BF16 and F64 become float32,
 * I64 and the other integers int32 (a value outside the int32 range is an error). Writing stores
 * float32 as F32, bool as BOOL, int32 as I32, except integer scalars, which are written as I64 as
 * PyTorch stores them (`num_batches_tracked`), so `load_state_dict` sees the dtype it expects.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { describeValue } from '../errors.js';
import { isNode } from '../tree/index.js';
import { checkFile, readWholeFile, writeAtomically } from './atomic.js';
import { DTYPES, SafeDtype, decodeArray, encodeArray, safeDtypeOf } from './dtypes.js';
import { CheckpointError, formatEntry } from './errors.js';
import { type Metadata, headerWithMetadata, layOutFile } from './format.js';
import { MAX_ENTRIES, parseHeader, pathProblem } from './header.js';

/** The safetensors dtype a tensor is written as: integer scalars as I64, as PyTorch writes them. */
function writtenDtype(tensor: tf.Tensor): SafeDtype | undefined {
  if (tensor.dtype === 'int32' && tensor.rank === 0) return 'I64';
  return safeDtypeOf(tensor.dtype);
}

function checkRecord(record: unknown, what: string): Array<[string, tf.Tensor, SafeDtype]> {
  if (!isNode(record)) throw new CheckpointError('', `${what} needs a flat record of tensors such as { '0.weight': tensor }, found ${describeValue(record)}`);
  const out: Array<[string, tf.Tensor, SafeDtype]> = [];
  const names = Object.keys(record);
  if (names.length > MAX_ENTRIES) throw new CheckpointError('', `${what}: the record has ${names.length.toLocaleString('en-US')} tensors; a safetensors file holds at most ${MAX_ENTRIES.toLocaleString('en-US')} here (readers refuse more)`);
  for (const name of names.sort()) {
    const problem = pathProblem(name);
    if (problem) throw new CheckpointError(name, `${what}: ${problem}`);
    if (name === '__metadata__') throw new CheckpointError(name, `${what}: __metadata__ is reserved by the safetensors format`);
    const tensor = record[name];
    if (!(tensor instanceof tf.Tensor)) throw new CheckpointError(name, `${what}: every value must be a tensor, found ${describeValue(tensor)}`);
    if (tensor.isDisposed) throw new CheckpointError(name, `${what}: this tensor was disposed`);
    const dtype = writtenDtype(tensor);
    if (!dtype) throw new CheckpointError(name, `${what}: a ${tensor.dtype} tensor cannot be stored; safetensors files hold float32, int32 and bool here`);
    out.push([name, tensor, dtype]);
  }
  return out;
}

/** The little-endian bytes of an int32 scalar as I64 (sign-extended). */
function int64Bytes(value: number): Uint8Array {
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  view.setInt32(0, value, true);
  view.setInt32(4, value < 0 ? -1 : 0, true);
  return out;
}

/**
 * Encodes a flat record of tensors as a safetensors file, the names kept as they are (no
 * `/`-joined tree paths). Integer scalars are stored as I64 (as PyTorch does), other tensors as
 * F32, I32 or BOOL. The tensors are only read.
 *
 * @param record - names to tensors, e.g. the output of `fx.interop.toTorch`.
 * @param metadata - optional strings stored in `__metadata__`.
 * @example
 * ```ts
 * const bytes = fx.checkpoint.tensorsToBytes({ '0.weight': tf.ones([2, 3]), 'bn.num_batches_tracked': tf.scalar(0, 'int32') });
 * fx.checkpoint.readInfo(bytes).tensors.map((t) => t.dtype); // ['F32', 'I64']
 * ```
 */
export function tensorsToBytes(record: Readonly<Record<string, tf.Tensor>>, metadata?: Metadata): Uint8Array {
  const entries = checkRecord(record, 'tensorsToBytes');
  if (metadata !== undefined && (!isNode(metadata) || Object.values(metadata).some((v) => typeof v !== 'string'))) {
    throw new CheckpointError('', `tensorsToBytes: metadata must be an object of strings such as { step: '100' }, found ${describeValue(metadata)}`);
  }
  // Larger elements first (then by name) keeps every tensor aligned to its element size, as the
  // Python package orders them.
  const ordered = [...entries].sort(([a, , da], [b, , db]) => DTYPES[db].bytes - DTYPES[da].bytes || (a < b ? -1 : a > b ? 1 : 0));
  const header = headerWithMetadata(metadata);
  let offset = 0;
  const placed = ordered.map(([name, tensor, dtype]) => {
    const begin = offset;
    offset += tensor.size * DTYPES[dtype].bytes;
    Object.defineProperty(header, name, { value: { dtype, shape: tensor.shape, data_offsets: [begin, offset] }, enumerable: true });
    return { tensor, dtype, begin };
  });
  const { out, dataStart } = layOutFile(header, offset);
  for (const { tensor, dtype, begin } of placed) {
    const values = tensor.dataSync() as Float32Array | Int32Array | Uint8Array;
    if (dtype === 'I64') out.set(int64Bytes(values[0]!), dataStart + begin);
    else encodeArray(values, out, dataStart + begin);
  }
  return out;
}

/**
 * Decodes a safetensors file into a flat, frozen record of tensors with the names as they are
 * (`'0.weight'`, `'encoder/kernel'` alike). F16/BF16/F64 become float32, I64 and the other
 * integer types int32, BOOL bool. Damaged data is a `CheckpointError`; the caller owns the
 * tensors, and a failed call leaves none behind.
 *
 * @param bytes - the file's bytes.
 * @param source - how messages name the data (default `safetensors data`).
 * @example
 * ```ts
 * const bytes = fx.checkpoint.tensorsToBytes({ 'fc.weight': tf.ones([2, 3]) });
 * const record = fx.checkpoint.tensorsFromBytes(bytes);
 * record['fc.weight']!.shape; // [2, 3]
 * ```
 */
export function tensorsFromBytes(bytes: Uint8Array | ArrayBuffer, source = 'safetensors data'): Readonly<Record<string, tf.Tensor>> {
  const data = bytes instanceof Uint8Array ? bytes : bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : undefined;
  if (!data) throw new CheckpointError('', `tensorsFromBytes: expected the bytes of a safetensors file (a Uint8Array or ArrayBuffer), found ${describeValue(bytes)}`);
  const header = parseHeader(data, source);
  const out: Record<string, tf.Tensor> = {};
  const made: tf.Tensor[] = [];
  try {
    for (const entry of header.entries) {
      // A private, aligned copy: the tensor never aliases the caller's bytes.
      const raw = data.slice(header.dataStart + entry.begin, header.dataStart + entry.end);
      const values = decodeArray(entry.dtype, raw, entry.size);
      if ('outOfRange' in values) {
        throw new CheckpointError(entry.path, `${source}: element ${values.outOfRange} of this ${entry.dtype} tensor does not fit in int32 (tfjs has no 64-bit integers)`);
      }
      const loaded = DTYPES[entry.dtype].loaded;
      let tensor: tf.Tensor;
      try {
        tensor = tf.tensor(values, [...entry.shape], loaded);
      } catch (error) {
        throw new CheckpointError(entry.path, `${source}: could not create the ${formatEntry(loaded, entry.shape)} tensor (${(error as Error)?.message ?? String(error)})`, { cause: error });
      }
      made.push(tensor);
      Object.defineProperty(out, entry.path, { value: tensor, enumerable: true });
    }
  } catch (error) {
    for (const t of made) t.dispose();
    throw error;
  }
  return Object.freeze(out);
}

/**
 * Loads a flat safetensors file (a PyTorch `state_dict` written by the `safetensors` package, or
 * a file from {@link saveTensors}) into a frozen record of tensors, the names as they are. See
 * {@link tensorsFromBytes} for the dtype conversions.
 *
 * @param file - the path.
 * @returns a promise of the record (the caller owns its tensors); rejects with a `FlaxenError`.
 * @example
 * ```ts
 * await fx.checkpoint.saveTensors('/tmp/linear.safetensors', { weight: tf.ones([2, 3]), bias: tf.zeros([2]) });
 * const stateDict = await fx.checkpoint.loadTensors('/tmp/linear.safetensors');
 * Object.keys(stateDict); // ['bias', 'weight']
 * ```
 */
export async function loadTensors(file: string): Promise<Readonly<Record<string, tf.Tensor>>> {
  const bytes = await readWholeFile(file, 'loadTensors');
  return tensorsFromBytes(bytes, `safetensors file '${file}'`);
}

/**
 * Saves a flat record of tensors to `file` as safetensors, the names as they are (see
 * {@link tensorsToBytes}), crash-safely as `save` does. The file loads in Python with
 * `safetensors.torch.load_file` and then `model.load_state_dict(..., strict=True)`.
 *
 * @param file - the path.
 * @param record - names to tensors.
 * @param metadata - optional strings stored in `__metadata__`.
 * @example
 * ```ts
 * const net = fx.nn.Sequential([fx.nn.Dense(4), fx.nn.relu, fx.nn.Dense(2)]);
 * await fx.checkpoint.saveTensors('/tmp/mlp.safetensors', fx.interop.toTorch(net.init(fx.random.key(0), [1, 3])));
 * ```
 */
export async function saveTensors(file: string, record: Readonly<Record<string, tf.Tensor>>, metadata?: Metadata): Promise<void> {
  checkFile(file, 'saveTensors');
  const bytes = tensorsToBytes(record, metadata);
  await writeAtomically(file, bytes);
}
