/**
 * Argument checks shared by the layers, so every layer words its errors the same way.
 * @module
 */
import { FlaxenError, describeValue } from '../errors.js';
import type { Variables } from '../core/module.js';
import { isNode } from '../tree/index.js';

/** Checks a positive integer size argument such as `features`. */
export function checkFeatures(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new FlaxenError('', `${what} must be a positive integer, found ${describeValue(value)}`);
  }
  return value;
}

/** Checks that an options argument is an object with only known keys. */
export function checkOptions(opts: unknown, known: readonly string[], layer: string): void {
  if (!isNode(opts)) throw new FlaxenError('', `${layer}: options must be an object, found ${describeValue(opts)}`);
  const unknown = Object.keys(opts).filter((k) => !known.includes(k));
  if (unknown.length) throw new FlaxenError('', `${layer}: unknown option ${unknown.map((k) => `'${k}'`).join(', ')}; known options are ${known.join(', ')}`);
}

/** The shape of `variables[collection][name]`, if present (for `describe`). */
export function shapeOfLeaf(variables: Variables | undefined, collection: string, name: string): readonly number[] | undefined {
  const sub = variables?.[collection];
  if (!isNode(sub) || !Object.prototype.hasOwnProperty.call(sub, name)) return undefined;
  const shape = (sub[name] as { shape?: unknown } | undefined)?.shape;
  return Array.isArray(shape) ? (shape as number[]) : undefined;
}
