/**
 * The element types of safetensors files and their conversion to tfjs tensors' arrays.
 * Written: `F32` (float32), `I32` (int32), `BOOL` (bool). Read: also `F16`, `BF16` and `F64`
 * (converted to float32), `I64`, `U32`, `I16`, `U16`, `I8`, `U8` (converted to int32; a value
 * outside the int32 range is an error). Pure: no tfjs, no Node.
 *
 * @module
 * @internal
 */

/** A safetensors dtype that flaxen reads. @internal */
export type SafeDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'U32' | 'I16' | 'U16' | 'I8' | 'U8' | 'BOOL';

/** The tfjs dtype a safetensors dtype becomes. @internal */
export type LoadedDtype = 'float32' | 'int32' | 'bool';

/** @internal */
export interface DtypeInfo {
  readonly bytes: number;
  readonly loaded: LoadedDtype;
}

/** Byte size and tfjs dtype of every readable safetensors dtype. @internal */
export const DTYPES: Readonly<Record<SafeDtype, DtypeInfo>> = Object.freeze({
  F64: { bytes: 8, loaded: 'float32' },
  F32: { bytes: 4, loaded: 'float32' },
  F16: { bytes: 2, loaded: 'float32' },
  BF16: { bytes: 2, loaded: 'float32' },
  I64: { bytes: 8, loaded: 'int32' },
  I32: { bytes: 4, loaded: 'int32' },
  U32: { bytes: 4, loaded: 'int32' },
  I16: { bytes: 2, loaded: 'int32' },
  U16: { bytes: 2, loaded: 'int32' },
  I8: { bytes: 1, loaded: 'int32' },
  U8: { bytes: 1, loaded: 'int32' },
  BOOL: { bytes: 1, loaded: 'bool' },
});

/** True for a dtype name flaxen reads (own keys only: `__proto__` is not a dtype). @internal */
export function isSafeDtype(name: unknown): name is SafeDtype {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(DTYPES, name);
}

/** The safetensors dtype written for a tfjs dtype, or undefined when it cannot be stored. @internal */
export function safeDtypeOf(dtype: string): SafeDtype | undefined {
  return dtype === 'float32' ? 'F32' : dtype === 'int32' ? 'I32' : dtype === 'bool' ? 'BOOL' : undefined;
}

/** True on little-endian hosts (all common ones); big-endian hosts swap bytes. @internal */
export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Reverses the byte order of every `size`-byte element of `bytes` in place (big-endian hosts). */
function swapBytes(bytes: Uint8Array, size: number): void {
  if (size === 1) return;
  for (let i = 0; i < bytes.length; i += size) {
    for (let a = i, b = i + size - 1; a < b; a++, b--) {
      const t = bytes[a]!;
      bytes[a] = bytes[b]!;
      bytes[b] = t;
    }
  }
}

let halfTable: Float32Array | undefined;

/**
 * The float32 value of an IEEE 754 half-precision bit pattern (exact: every half is a float).
 * @internal
 */
export function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24; // zero and subnormals
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

function halfToFloatTable(): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) halfTable[i] = halfToFloat(i);
  }
  return halfTable;
}

/**
 * Decodes `count` little-endian elements of `dtype` from `raw` (a private copy the function may
 * reuse) into the array type of its tfjs dtype. Integers outside the int32 range return the
 * index of the first one instead, so the caller can name it.
 * @internal
 */
export function decodeArray(dtype: SafeDtype, raw: Uint8Array, count: number): Float32Array | Int32Array | Uint8Array | { outOfRange: number } {
  const size = DTYPES[dtype].bytes;
  if (!LITTLE_ENDIAN) swapBytes(raw, size);
  // `raw` is a fresh copy starting at offset 0 of its own buffer, so every view is aligned.
  const buffer = raw.buffer;
  switch (dtype) {
    case 'F32':
      return new Float32Array(buffer, raw.byteOffset, count);
    case 'I32':
      return new Int32Array(buffer, raw.byteOffset, count);
    case 'F64':
      return Float32Array.from(new Float64Array(buffer, raw.byteOffset, count));
    case 'F16': {
      const table = halfToFloatTable();
      const halves = new Uint16Array(buffer, raw.byteOffset, count);
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = table[halves[i]!]!;
      return out;
    }
    case 'BF16': {
      // A bfloat16 is the upper half of a float32.
      const halves = new Uint16Array(buffer, raw.byteOffset, count);
      const words = new Uint32Array(count);
      for (let i = 0; i < count; i++) words[i] = halves[i]! << 16;
      return new Float32Array(words.buffer);
    }
    case 'I64': {
      const words = new Int32Array(buffer, raw.byteOffset, count * 2);
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const lo = words[2 * i]!;
        const hi = words[2 * i + 1]!;
        // In range when the high word is the sign extension of the low one.
        if (hi !== lo >> 31) return { outOfRange: i };
        out[i] = lo;
      }
      return out;
    }
    case 'U32': {
      const words = new Uint32Array(buffer, raw.byteOffset, count);
      for (let i = 0; i < count; i++) if (words[i]! > 0x7fffffff) return { outOfRange: i };
      return new Int32Array(buffer, raw.byteOffset, count);
    }
    case 'I16':
      return Int32Array.from(new Int16Array(buffer, raw.byteOffset, count));
    case 'U16':
      return Int32Array.from(new Uint16Array(buffer, raw.byteOffset, count));
    case 'I8':
      return Int32Array.from(new Int8Array(buffer, raw.byteOffset, count));
    case 'U8':
      return Int32Array.from(raw.subarray(0, count));
    case 'BOOL': {
      const out = new Uint8Array(count);
      for (let i = 0; i < count; i++) out[i] = raw[i] ? 1 : 0;
      return out;
    }
  }
}

/**
 * Writes the values of a tensor (float32, int32 or bool data) little-endian into `out` at `offset`.
 * @internal
 */
export function encodeArray(values: Float32Array | Int32Array | Uint8Array, out: Uint8Array, offset: number): void {
  const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  out.set(bytes, offset);
  if (!LITTLE_ENDIAN) swapBytes(out.subarray(offset, offset + bytes.length), values.BYTES_PER_ELEMENT);
}
