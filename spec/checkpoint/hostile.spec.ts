// Damaged and hostile files: each is refused with a CheckpointError naming the problem, before
// anything proportional to the file's claims is allocated, and Object.prototype stays untouched.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../../lib/index.js';
import { assertThrows } from '../setup.js';
import { concat, fileOf, headerOf, le, prototypeSnapshot, rawFile } from './raw.js';

const { CheckpointError } = fx.checkpoint;
const PROTOTYPE = prototypeSnapshot();
const f32 = (n: number) => le('f32', Array.from({ length: n }, (_, i) => i));
const entry = (dtype: string, shape: unknown, offsets: unknown) => ({ dtype, shape, data_offsets: offsets });

/** Asserts that loading `bytes` fails cleanly: a CheckpointError with the fragments, no tensor made, prototype intact. */
function refused(bytes: Uint8Array, ...fragments: string[]): void {
  const before = tf.memory().numTensors;
  assertThrows(() => fx.checkpoint.fromBytes(bytes), CheckpointError, ...fragments);
  assertThrows(() => fx.checkpoint.readInfo(bytes), CheckpointError, ...fragments);
  assert.is(tf.memory().numTensors, before, 'no tensor left behind');
  assert.is(prototypeSnapshot(), PROTOTYPE, 'Object.prototype unchanged');
  assert.is(({} as Record<string, unknown>)['polluted'], undefined);
}

test('empty and too-short data', () => {
  refused(new Uint8Array(0), 'the data is empty');
  refused(new Uint8Array([1, 0, 0]), 'the data is 3 bytes long', '8-byte header length');
});

test('a header length larger than the file, or absurd (2^60), is refused without reading or allocating it', () => {
  const header = JSON.stringify({ a: entry('F32', [1], [0, 4]) });
  const ok = rawFile(header, f32(1));
  refused(rawFile(header, f32(1), BigInt(header.length + 5)), `says ${(header.length + 5).toLocaleString('en-US')} bytes`, 'follow it');
  refused(rawFile(header, f32(1), 2n ** 60n), 'says 1,152,921,504,606,846,976 bytes', 'truncated or not a safetensors file');
  refused(rawFile(header, f32(1), 2n ** 64n - 1n), 'header length field');
  refused(ok.subarray(0, 20), 'follow it');
  refused(rawFile('', new Uint8Array(0)), 'the smallest header, {}, has 2');
  refused(rawFile('x', new Uint8Array(0)), 'the smallest header');
});

test('a header that is not UTF-8, not JSON, or not an object', () => {
  const bad = new Uint8Array(8 + 4);
  new DataView(bad.buffer).setUint32(0, 4, true);
  bad.set([0x7b, 0xc3, 0x28, 0x7d], 8);
  refused(bad, 'not valid UTF-8');
  refused(rawFile('{"a": '), 'not valid JSON');
  refused(rawFile('{"a":1}garbage'), 'not valid JSON');
  refused(rawFile('[]'), 'must be a JSON object', 'an array');
  refused(rawFile('null'), 'must be a JSON object', 'null');
  refused(rawFile('"x"'), 'must be a JSON object');
  refused(rawFile('12'), 'must be a JSON object');
  refused(rawFile({ a: 1 }), 'a:', 'must be an object {dtype, shape, data_offsets}');
  refused(rawFile({ a: [] }), 'must be an object');
});

test('unknown and missing dtypes', () => {
  refused(rawFile({ a: entry('F8_E4M3', [1], [0, 1]) }, new Uint8Array(1)), 'a:', 'unsupported dtype "F8_E4M3"', 'flaxen reads F64, F32, F16, BF16');
  refused(rawFile({ a: entry('__proto__', [1], [0, 4]) }, f32(1)), 'unsupported dtype "__proto__"');
  refused(rawFile({ a: entry('toString', [1], [0, 4]) }, f32(1)), 'unsupported dtype');
  refused(rawFile({ a: { shape: [1], data_offsets: [0, 4] } }, f32(1)), 'unsupported dtype undefined');
  refused(rawFile({ a: entry(5 as any, [1], [0, 4]) }, f32(1)), 'unsupported dtype number 5');
});

test('negative, fractional, non-numeric and mismatched shapes', () => {
  refused(rawFile({ a: entry('F32', [-1], [0, 4]) }, f32(1)), 'a:', 'non-negative integers', '[-1]');
  refused(rawFile({ a: entry('F32', [1.5], [0, 4]) }, f32(1)), 'non-negative integers');
  refused(rawFile({ a: entry('F32', ['1'], [0, 4]) }, f32(1)), 'non-negative integers');
  refused(rawFile({ a: entry('F32', 4, [0, 4]) }, f32(1)), 'non-negative integers');
  refused(rawFile({ a: entry('F32', [2 ** 53], [0, 4]) }, f32(1)), 'non-negative integers');
  refused(rawFile({ a: entry('F32', [2, 3], [0, 20]) }, f32(5)), 'a:', 'shape [2, 3] of F32 needs 24 bytes', 'hold 20 bytes');
  refused(rawFile({ a: entry('F32', [1e9, 1e9, 1e9], [0, 4]) }, f32(1)), 'impossible number of bytes');
  refused(rawFile({ a: entry('F16', [3], [0, 4]) }, f32(1)), 'needs 6 bytes');
});

test('a shape that claims 400 MB over 4 bytes of data allocates nothing', () => {
  const bytes = rawFile({ a: entry('F32', [100_000_000], [0, 4]) }, f32(1));
  const before = process.memoryUsage().arrayBuffers;
  refused(bytes, 'needs 400,000,000 bytes');
  assert.ok(process.memoryUsage().arrayBuffers - before < 10_000_000, 'no large buffer was allocated');
});

test('offsets outside the data, reversed, malformed, overlapping, leaving gaps or trailing bytes', () => {
  refused(rawFile({ a: entry('F32', [25], [0, 100]) }, f32(2)), 'a:', 'reach past the end of the data section (8 bytes)');
  refused(rawFile({ a: entry('F32', [1], [8, 4]) }, f32(2)), 'end before they begin');
  refused(rawFile({ a: entry('F32', [1], [0]) }, f32(1)), 'data_offsets must be [begin, end]');
  refused(rawFile({ a: entry('F32', [1], [0, 4, 8]) }, f32(1)), 'data_offsets must be [begin, end]');
  refused(rawFile({ a: entry('F32', [1], [-4, 0]) }, f32(1)), 'data_offsets must be [begin, end]');
  refused(rawFile({ a: entry('F32', [1], [0.5, 4.5]) }, f32(2)), 'data_offsets must be [begin, end]');
  refused(rawFile({ a: entry('F32', [1], '0-4') }, f32(1)), 'data_offsets must be [begin, end]');
  refused(rawFile({ a: entry('F32', [2], [0, 8]), b: entry('F32', [2], [4, 12]) }, f32(3)), 'b:', "overlap those of 'a' [0, 8]");
  refused(rawFile({ a: entry('F32', [2], [0, 8]), b: entry('F32', [2], [0, 8]) }, f32(2)), 'overlap');
  refused(rawFile({ a: entry('F32', [1], [0, 4]), b: entry('F32', [1], [8, 12]) }, f32(3)), 'bytes 4 to 8 of the data section belong to no tensor');
  refused(rawFile({ a: entry('F32', [1], [0, 4]) }, f32(2)), 'the tensors cover only 4 bytes (trailing bytes)');
  refused(rawFile({}, f32(1)), 'cover only 0 bytes');
});

test('keys that reach for prototypes, empty segments, duplicates, and a path both leaf and subtree', () => {
  const one = (key: string) => rawFile(`{${JSON.stringify(key)}: {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}`, f32(1));
  refused(one('__proto__'), '__proto__', 'prototype machinery');
  refused(one('params/__proto__/x'), '__proto__');
  refused(one('constructor/prototype'), "'constructor'");
  refused(one('a/prototype'), "'prototype'");
  refused(one('a//b'), 'empty segment');
  refused(one('/a'), 'empty segment');
  refused(one('a/'), 'empty segment');
  refused(one(''), 'the empty string is not a tensor path');
  refused(rawFile('{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}', f32(2)), 'the key "a" appears twice');
  refused(rawFile('{"a": {"dtype": "F32", "dtype": "I32", "shape": [1], "data_offsets": [0, 4]}}', f32(1)), 'the key "dtype" appears twice');
  refused(rawFile('{"\\u0061": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}', f32(2)), 'appears twice');
  refused(rawFile({ a: entry('F32', [1], [0, 4]), 'a/b': entry('F32', [1], [4, 8]) }, f32(2)), "'a' is a tensor and also the parent of 'a/b'");
});

test('__metadata__ must hold strings; its keys stay plain data, even __proto__', () => {
  refused(rawFile({ __metadata__: 'x' }), '__metadata__ must be an object of strings');
  refused(rawFile({ __metadata__: { step: 3 } }), '__metadata__["step"] must be a string');
  refused(rawFile({ __metadata__: { a: { b: 'c' } } }), 'must be a string');
  const bytes = rawFile('{"__metadata__": {"__proto__": "x", "constructor": "y"}, "w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}', f32(1));
  const info = fx.checkpoint.readInfo(bytes);
  assert.ok(Object.prototype.hasOwnProperty.call(info.metadata, '__proto__'));
  assert.is(Object.getOwnPropertyDescriptor(info.metadata, '__proto__')!.value, 'x');
  assert.is(Object.getPrototypeOf(info.metadata), Object.prototype);
  assert.is(prototypeSnapshot(), PROTOTYPE);
});

test('deeply nested JSON is refused without overflowing the stack', () => {
  const deep = '{"a": ' + '['.repeat(200_000) + ']'.repeat(200_000) + '}';
  refused(rawFile(deep), 'a:', 'must be an object');
});

test('a shape or data_offsets nested 5,000 levels deep is a CheckpointError, and decode gives a Left, not a RangeError', () => {
  const deep = '['.repeat(5000) + ']'.repeat(5000);
  for (const header of [`{"a": {"dtype": "F32", "shape": ${deep}, "data_offsets": [0, 4]}}`, `{"a": {"dtype": "F32", "shape": [1], "data_offsets": ${deep}}}`]) {
    const bytes = rawFile(header, f32(1));
    refused(bytes, 'a:', 'found [[[[[…]');
    const either = fx.checkpoint.decode(bytes);
    assert.ok(either._tag === 'Left' && either.left instanceof CheckpointError);
  }
});

test('a header of 200,000 zero-size tensors is refused at once for its entry count', () => {
  const entries: string[] = [];
  for (let i = 0; i < 200_000; i++) entries.push(`"t${i}": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}`);
  const bytes = rawFile(`{${entries.join(', ')}}`);
  refused(bytes, 'the header lists 200,000 entries; flaxen reads at most 65,536');
  // The bound holds on writing too, so flaxen never writes a file it refuses to read.
  const many: Record<string, number> = {};
  for (let i = 0; i < 65_537; i++) many[`n${i}`] = i;
  assertThrows(() => fx.checkpoint.toBytes(many), CheckpointError, '65,537 leaves', 'at most 65,536');
});

test('fuzz: thousands of byte flips, truncations and header edits of a valid file end in a clean load or a CheckpointError', () => {
  const tensors = {
    'params/dense/kernel': { dtype: 'F32', shape: [3, 4], data: f32(12) },
    'params/dense/bias': { dtype: 'F16', shape: [4], data: le('u16', [0x3c00, 0xc000, 0x7c00, 0x0001]) },
    'params/emb/table': { dtype: 'BF16', shape: [2, 2], data: le('u16', [0x3f80, 0x4049, 0xff80, 0]) },
    'batch_stats/bn/count': { dtype: 'I64', shape: [2], data: le('i64', [3n, -4n]) },
    'batch_stats/bn/mask': { dtype: 'BOOL', shape: [3], data: le('u8', [1, 0, 1]) },
    'opt/step': { dtype: 'I32', shape: [], data: le('i32', [7]) },
  };
  const base = fileOf(tensors, { step: '100', model: 'fuzz' });
  const headerEnd = 8 + headerOf(base).length;
  const next = fx.random.generator(fx.random.key(20261126));
  const int = (n: number) => Math.floor(next() * n);
  const alphabet = '{}[]":,0123456789-.eE aAFIUBOL16_/\\_proto';
  const encoder = new TextEncoder();
  const outcomes = { loaded: 0, refused: 0 };
  const seen = new Set<string>();
  const before = tf.memory().numTensors;
  const CASES = 4000;
  for (let c = 0; c < CASES; c++) {
    let bytes: Uint8Array = base.slice();
    const kind = c % 6;
    if (kind === 0 || kind === 1) {
      // Bit flips, mostly in the header (flips in the data just change values).
      for (let k = 1 + int(3); k > 0; k--) {
        const at = next() < 0.85 ? int(headerEnd) : int(bytes.length);
        bytes[at] = bytes[at]! ^ (1 << int(8));
      }
    } else if (kind === 2) {
      bytes = bytes.slice(0, int(bytes.length));
    } else if (kind === 3) {
      // A header character replaced by a JSON-ish one: often still JSON, with a lie inside.
      const at = 8 + int(headerEnd - 8);
      bytes[at] = encoder.encode(alphabet[int(alphabet.length)]!)[0]!;
    } else if (kind === 4) {
      // A byte inserted into or removed from the header, the length field unchanged or adjusted.
      const at = 8 + int(headerEnd - 8);
      const insert = next() < 0.5;
      bytes = insert ? concat(bytes.subarray(0, at), encoder.encode(alphabet[int(alphabet.length)]!), bytes.subarray(at)) : concat(bytes.subarray(0, at), bytes.subarray(at + 1));
      if (next() < 0.5) new DataView(bytes.buffer).setUint32(0, headerEnd - 8 + (insert ? 1 : -1), true);
    } else {
      // A random length field or a random run of bytes.
      if (next() < 0.5) new DataView(bytes.buffer).setUint32(int(2) * 4, Math.floor(next() * 2 ** 32), true);
      else {
        const at = int(bytes.length);
        for (let k = 0; k < 1 + int(16) && at + k < bytes.length; k++) bytes[at + k] = int(256);
      }
    }
    try {
      const tree = fx.checkpoint.fromBytes(bytes);
      for (const leaf of fx.tree.leaves<unknown>(tree)) assert.ok(leaf instanceof tf.Tensor, `case ${c}: leaves are tensors`);
      fx.tree.dispose(tree);
      outcomes.loaded++;
    } catch (error) {
      if (!(error instanceof CheckpointError)) assert.unreachable(`case ${c} (kind ${kind}) threw ${(error as Error)?.constructor?.name}: ${(error as Error)?.message}`);
      seen.add((error as Error).message.replace(/^[^:]*: checkpoint: /, '').replace(/[\d,]+/g, 'N').slice(0, 30));
      outcomes.refused++;
    }
  }
  assert.is(tf.memory().numTensors, before, 'no tensor leaked');
  assert.is(prototypeSnapshot(), PROTOTYPE, 'Object.prototype unchanged');
  assert.is(outcomes.loaded + outcomes.refused, CASES);
  assert.ok(outcomes.loaded > 100 && outcomes.refused > 1000, `both outcomes happen: ${JSON.stringify(outcomes)}`);
  assert.ok(seen.size >= 12, `many different refusals: ${seen.size}`);
  if (process.env["FLAXEN_FUZZ_REPORT"]) console.log(outcomes, [...seen].sort());
});

test.run();
