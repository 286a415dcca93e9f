// Compares what a snippet computed with what its comment claims (see claims.ts). A tensor
// matches a claim about its values or about its shape; numbers agree to the last digit shown.
import * as tf from '@tensorflow/tfjs-core';
import { inspect } from 'node:util';
import type { Expected } from './claims.js';

/** `…` in a claimed text matches any run of characters within a line. */
export function textMatches(actual: string, claimed: string): boolean {
  const norm = (s: string) => s.split('\n').map((l) => l.trimEnd()).join('\n').trim();
  const a = norm(actual);
  const c = norm(claimed);
  if (!c.includes('…')) return a === c;
  const pattern = c.split('…').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('[^\\n]*');
  return new RegExp(`^${pattern}$`).test(a);
}

function show(v: unknown): string {
  if (v instanceof tf.Tensor) return `Tensor ${v.dtype}[${v.shape.join(', ')}] ${JSON.stringify(v.arraySync())}`;
  return inspect(v, { depth: 6, breakLength: Infinity });
}

function isShapeClaim(e: Expected): boolean {
  return 'arr' in e && !e.more && e.arr.every((x) => 'num' in x && Number.isInteger(x.num) && x.num >= 0);
}

function compare(actual: unknown, e: Expected, path: string): string | undefined {
  const here = path === '' ? '' : ` at ${path}`;
  if (actual instanceof tf.Tensor) {
    if (actual.isDisposed) return `a disposed tensor${here}`;
    if (isShapeClaim(e) && 'arr' in e && e.arr.length === actual.rank && e.arr.every((x, i) => 'num' in x && x.num === actual.shape[i])) return undefined;
    const values = actual.arraySync();
    if ('num' in e && actual.size === 1) return compare(actual.dataSync()[0], e, path);
    return compare(values, e, path);
  }
  if (ArrayBuffer.isView(actual) && !(actual instanceof DataView)) return compare(Array.from(actual as unknown as ArrayLike<number>), e, path);
  if ('num' in e) {
    const v = typeof actual === 'bigint' ? Number(actual) : actual;
    if (typeof v !== 'number') return `expected the number ${e.num}${here}, found ${show(actual)}`;
    if (Number.isNaN(e.num) ? Number.isNaN(v) : Math.abs(v - e.num) <= e.tol) return undefined;
    return `expected ${e.num}${here} (±${e.tol.toPrecision(2)}), found ${v}`;
  }
  if ('str' in e) {
    if (typeof actual === 'string' && textMatches(actual, e.str)) return undefined;
    return `expected ${JSON.stringify(e.str)}${here}, found ${show(actual)}`;
  }
  if ('lit' in e) {
    const want = e.lit === 'undefined' ? undefined : e.lit;
    return actual === want ? undefined : `expected ${String(want)}${here}, found ${show(actual)}`;
  }
  if ('arr' in e) {
    if (!Array.isArray(actual)) return `expected an array${here}, found ${show(actual)}`;
    if (e.more ? actual.length < e.arr.length : actual.length !== e.arr.length) {
      return `expected ${e.more ? 'at least ' : ''}${e.arr.length} elements${here}, found ${actual.length}: ${show(actual)}`;
    }
    for (let i = 0; i < e.arr.length; i++) {
      const problem = compare(actual[i], e.arr[i]!, `${path}[${i}]`);
      if (problem) return problem;
    }
    return undefined;
  }
  if (actual === null || typeof actual !== 'object') return `expected an object${here}, found ${show(actual)}`;
  const keys = Object.keys(actual).sort();
  const want = e.obj.map(([k]) => k).sort();
  if (keys.join('\u0000') !== want.join('\u0000')) return `expected the keys [${want.join(', ')}]${here}, found [${keys.join(', ')}]`;
  for (const [k, sub] of e.obj) {
    const problem = compare((actual as Record<string, unknown>)[k], sub, path === '' ? k : `${path}.${k}`);
    if (problem) return problem;
  }
  return undefined;
}

/** Undefined when `actual` matches the claim; otherwise what differs. */
export function checkValue(actual: unknown, text: string, expected: Expected | undefined): string | undefined {
  if (typeof actual === 'string' && textMatches(actual, text)) return undefined;
  if (!expected) return `expected the text ${JSON.stringify(text)}, found ${show(actual)}`;
  return compare(actual, expected, '');
}
