/**
 * Argument checks shared by the layers, so every layer words its errors the same way.
 * @module
 */
import { FlaxenError, describeValue } from '../errors.js';
import { checkOptions as checkOptionKinds, type OptionKind } from '../check-options.js';
import type { Variables } from '../core/module.js';
import { isNode } from '../tree/index.js';

/** Checks a positive integer size argument such as `features`. */
export function checkFeatures(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new FlaxenError('', `${what} must be a positive integer, found ${describeValue(value)}`);
  }
  return value;
}

/**
 * Checks a layer's options with the shared checker (`lib/check-options.ts`). Layers pass an
 * `OptionKinds<TheirOptions>` record, so the names follow the interface and booleans are checked;
 * a plain list of names (kept for layers not converted yet) checks the names only.
 */
export function checkOptions(opts: unknown, known: readonly string[] | { readonly [name: string]: OptionKind }, layer: string): void {
  if (opts === undefined) throw new FlaxenError('', `${layer}: options must be an object, found undefined`);
  const kinds: { readonly [name: string]: OptionKind } = Array.isArray(known)
    ? Object.fromEntries((known as readonly string[]).map((k) => [k, 'any' as const]))
    : (known as { readonly [name: string]: OptionKind });
  checkOptionKinds(layer, opts, kinds);
}

/** The shape of `variables[collection][name]`, if present (for `describe`). */
export function shapeOfLeaf(variables: Variables | undefined, collection: string, name: string): readonly number[] | undefined {
  const sub = variables?.[collection];
  if (!isNode(sub) || !Object.prototype.hasOwnProperty.call(sub, name)) return undefined;
  const shape = (sub[name] as { shape?: unknown } | undefined)?.shape;
  return Array.isArray(shape) ? (shape as number[]) : undefined;
}
