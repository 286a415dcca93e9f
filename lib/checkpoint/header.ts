/**
 * Reading and checking a safetensors header before anything is allocated for its tensors.
 * Every claim of the file (header length, offsets, shapes) is checked against the bytes that
 * are really there, so a lying file costs no memory beyond its own size, and the parsed JSON
 * is only read through own properties, so keys like `__proto__` reach no prototype.
 *
 * @module
 * @internal
 */
import { describeValue, formatShape } from '../errors.js';
import { DTYPES, SafeDtype, isSafeDtype } from './dtypes.js';
import { CheckpointError } from './errors.js';

/** Header sizes above this are refused outright (the limit of the reference implementation). @internal */
export const MAX_HEADER_BYTES = 100_000_000;

/**
 * Entries (tensors, numbers, keys) a header may list: far above real models (a large language
 * model has a few thousand tensors), far below what costs seconds to check. @internal
 */
export const MAX_ENTRIES = 65_536;

/** Path segments that are refused: they name prototype machinery in JavaScript. */
const FORBIDDEN_SEGMENTS = new Set(['__proto__', 'constructor', 'prototype']);

/** One tensor of a checked header. @internal */
export interface HeaderEntry {
  readonly path: string;
  readonly dtype: SafeDtype;
  readonly shape: readonly number[];
  /** Element count. */
  readonly size: number;
  /** Offsets relative to the start of the data section. */
  readonly begin: number;
  readonly end: number;
}

/** A checked header. @internal */
export interface Header {
  /** The `__metadata__` strings (an own-property object; empty when absent). */
  readonly metadata: Readonly<Record<string, string>>;
  /** The tensors, in path order. */
  readonly entries: readonly HeaderEntry[];
  /** Where the data section starts in the file. */
  readonly dataStart: number;
  /** The length of the data section. */
  readonly dataLength: number;
}

const hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);
const isPlainObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const bytesText = (n: number): string => `${n.toLocaleString('en-US')} byte${n === 1 ? '' : 's'}`;

/**
 * A short JSON-like preview of a parsed value for messages: at most `limit` characters and a
 * few levels deep, so a hostile header nested thousands of levels cannot overflow the stack
 * (`JSON.stringify` would).
 */
function preview(value: unknown, limit = 80): string {
  let budget = limit;
  const show = (v: unknown, depth: number): string => {
    if (budget <= 0) return '…';
    let text: string;
    if (Array.isArray(v)) {
      if (depth >= 4) text = v.length ? '[…]' : '[]';
      else {
        const parts: string[] = [];
        for (const item of v) {
          if (budget <= 0) {
            parts.push('…');
            break;
          }
          parts.push(show(item, depth + 1));
        }
        text = `[${parts.join(',')}]`;
      }
    } else if (v !== null && typeof v === 'object') text = '{…}';
    else text = typeof v === 'string' ? JSON.stringify(v.slice(0, 40)) : String(v);
    budget -= text.length;
    return text;
  };
  const out = show(value, 0);
  return out.length > limit ? `${out.slice(0, limit)}…` : out;
}

/**
 * Checks a tensor path: `/`-separated, non-empty segments, none of them `__proto__`,
 * `constructor` or `prototype`. Returns the reason when refused.
 * @internal
 */
export function pathProblem(path: string): string | undefined {
  if (path === '') return 'the empty string is not a tensor path';
  const segments = path.split('/');
  if (segments.some((s) => s === '')) return `the path ${JSON.stringify(path)} has an empty segment`;
  const bad = segments.find((s) => FORBIDDEN_SEGMENTS.has(s));
  if (bad !== undefined) return `the path ${JSON.stringify(path)} has the segment '${bad}', which is refused (it names JavaScript prototype machinery)`;
  return undefined;
}

/**
 * Returns the first key that appears twice in one object of a (valid) JSON text, which
 * `JSON.parse` would silently merge. Iterative, so deep nesting cannot overflow the stack.
 */
function findDuplicateKey(text: string): string | undefined {
  const stack: Array<Set<string> | null> = []; // a Set of keys per object, null per array
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1;
      let escaped = false;
      for (;;) {
        const d = text.charCodeAt(j);
        if (d === 0x5c /* \ */) {
          escaped = true;
          j += 2;
        } else if (d === 0x22) break;
        else j++;
      }
      const keys = stack[stack.length - 1];
      if (keys && expectKey) {
        const key = escaped ? (JSON.parse(text.slice(i, j + 1)) as string) : text.slice(i + 1, j);
        if (keys.has(key)) return key;
        keys.add(key);
        expectKey = false;
      }
      i = j;
    } else if (c === 0x7b /* { */) {
      stack.push(new Set());
      expectKey = true;
    } else if (c === 0x5b /* [ */) {
      stack.push(null);
      expectKey = false;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
      expectKey = false;
    } else if (c === 0x2c /* , */) {
      expectKey = stack[stack.length - 1] instanceof Set;
    }
  }
  return undefined;
}

/**
 * Reads the 8-byte header length at the start of `bytes` and checks it against the
 * `totalLength` of the file: it must leave room for itself, stay under {@link MAX_HEADER_BYTES}
 * and hold at least `{}`.
 * @internal
 */
export function readHeaderLength(bytes: Uint8Array, source: string, totalLength = bytes.length): number {
  const fail = (detail: string): never => {
    throw new CheckpointError('', `${source}: ${detail}`);
  };
  if (totalLength < 8 || bytes.length < 8) {
    fail(totalLength === 0 ? 'the data is empty; a safetensors file starts with an 8-byte header length' : `the data is ${bytesText(totalLength)} long; a safetensors file starts with an 8-byte header length`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const low = view.getUint32(0, true);
  const high = view.getUint32(4, true);
  const available = totalLength - 8;
  if (high !== 0 || low > available) {
    const claimed = (BigInt(high) << 32n) | BigInt(low);
    fail(`the header length field says ${claimed.toLocaleString('en-US')} bytes, but only ${bytesText(available)} follow it (truncated or not a safetensors file)`);
  }
  if (low > MAX_HEADER_BYTES) fail(`the header length ${bytesText(low)} exceeds the limit of ${bytesText(MAX_HEADER_BYTES)}`);
  if (low < 2) fail(`the header length is ${bytesText(low)}; the smallest header, {}, has 2`);
  return low;
}

/**
 * Reads and checks the header of safetensors `bytes`: the length field, the JSON, every entry's
 * path, dtype, shape and offsets, and that the tensors tile the data section exactly (no
 * overlap, no gap, nothing past the end). `source` names the data in messages.
 * @internal
 */
export function parseHeader(bytes: Uint8Array, source: string, totalLength = bytes.length): Header {
  const fail = (detail: string, path = ''): never => {
    throw new CheckpointError(path, `${source}: ${detail}`);
  };
  const headerLength = readHeaderLength(bytes, source, totalLength);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, 8 + headerLength));
  } catch {
    return fail('the header is not valid UTF-8');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return fail(`the header is not valid JSON (${(error as Error).message})`);
  }
  if (!isPlainObject(parsed)) fail(`the header must be a JSON object, found ${Array.isArray(parsed) ? 'an array' : describeValue(parsed)}`);
  const header = parsed as Record<string, unknown>;
  const count = Object.keys(header).length - (hasOwn(header, '__metadata__') ? 1 : 0);
  if (count > MAX_ENTRIES) fail(`the header lists ${count.toLocaleString('en-US')} entries; flaxen reads at most ${MAX_ENTRIES.toLocaleString('en-US')}`);
  const duplicate = findDuplicateKey(text);
  if (duplicate !== undefined) fail(`the key ${JSON.stringify(duplicate)} appears twice in one object of the header`);

  const metadata: Record<string, string> = {};
  if (hasOwn(header, '__metadata__')) {
    const meta = header['__metadata__'];
    if (!isPlainObject(meta)) fail(`__metadata__ must be an object of strings, found ${describeValue(meta)}`);
    for (const key of Object.keys(meta as object)) {
      const value = (meta as Record<string, unknown>)[key];
      if (typeof value !== 'string') fail(`__metadata__[${JSON.stringify(key)}] must be a string, found ${describeValue(value)}`);
      Object.defineProperty(metadata, key, { value, enumerable: true });
    }
  }

  const dataStart = 8 + headerLength;
  const dataLength = totalLength - dataStart;
  const entries: HeaderEntry[] = [];
  for (const path of Object.keys(header)) {
    if (path === '__metadata__') continue;
    const problem = pathProblem(path);
    if (problem) fail(problem, path);
    const info = header[path];
    if (!isPlainObject(info)) fail(`the entry must be an object {dtype, shape, data_offsets}, found ${describeValue(info)}`, path);
    const entry = info as Record<string, unknown>;
    const dtype = hasOwn(entry, 'dtype') ? entry['dtype'] : undefined;
    if (!isSafeDtype(dtype)) {
      fail(`unknown or unsupported dtype ${typeof dtype === 'string' ? JSON.stringify(dtype.slice(0, 40)) : describeValue(dtype)}; flaxen reads ${Object.keys(DTYPES).join(', ')}`, path);
    }
    const shape = hasOwn(entry, 'shape') ? entry['shape'] : undefined;
    if (!Array.isArray(shape) || shape.some((d) => typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0)) {
      fail(`the shape must be an array of non-negative integers, found ${Array.isArray(shape) ? preview(shape) : describeValue(shape)}`, path);
    }
    const offsets = hasOwn(entry, 'data_offsets') ? entry['data_offsets'] : undefined;
    if (!Array.isArray(offsets) || offsets.length !== 2 || offsets.some((o) => typeof o !== 'number' || !Number.isSafeInteger(o) || o < 0)) {
      fail(`data_offsets must be [begin, end] with non-negative integers, found ${Array.isArray(offsets) ? preview(offsets) : describeValue(offsets)}`, path);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end) fail(`data_offsets [${begin}, ${end}] end before they begin`, path);
    if (end > dataLength) fail(`data_offsets [${begin}, ${end}] reach past the end of the data section (${bytesText(dataLength)})`, path);
    const itemBytes = DTYPES[dtype as SafeDtype].bytes;
    // Multiply dimension by dimension and stop as soon as the size exceeds the real bytes, so a
    // lying shape can neither overflow nor make anything large.
    let size = (shape as number[]).includes(0) ? 0 : 1;
    for (const d of shape as number[]) {
      if (size === 0) break;
      size *= d;
      if (size * itemBytes > end - begin) break;
    }
    if (size * itemBytes !== end - begin) {
      const elements = (shape as number[]).reduce((a, b) => a * b, 1);
      fail(`the shape ${formatShape(shape as number[])} of ${dtype} needs ${Number.isSafeInteger(elements * itemBytes) ? bytesText(elements * itemBytes) : 'an impossible number of bytes'}, but data_offsets [${begin}, ${end}] hold ${bytesText(end - begin)}`, path);
    }
    entries.push(Object.freeze({ path, dtype: dtype as SafeDtype, shape: Object.freeze([...(shape as number[])]), size, begin, end }));
  }

  // Structure: no path may be both a tensor and the parent of another.
  const paths = new Set(entries.map((e) => e.path));
  for (const { path } of entries) {
    for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) {
      const parent = path.slice(0, i);
      if (paths.has(parent)) fail(`'${parent}' is a tensor and also the parent of '${path}'`, parent);
    }
  }

  // Offsets: sorted by position, the tensors must tile the data section exactly.
  const byOffset = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let position = 0;
  let previous: HeaderEntry | undefined;
  for (const entry of byOffset) {
    if (entry.begin < position) fail(`data_offsets [${entry.begin}, ${entry.end}] overlap those of '${previous!.path}' [${previous!.begin}, ${previous!.end}]`, entry.path);
    if (entry.begin > position) fail(`bytes ${position} to ${entry.begin} of the data section belong to no tensor (the offsets leave a gap)`, entry.path);
    position = entry.end;
    previous = entry;
  }
  if (position !== dataLength) fail(`the data section has ${bytesText(dataLength)}, but the tensors cover only ${bytesText(position)} (trailing bytes)`);

  entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { metadata: Object.freeze(metadata), entries, dataStart, dataLength };
}
