/**
 * Explaining variables that do not fit the model. When `apply` finds a missing or mis-shaped
 * variable, the first difference alone often blames the wrong thing (the input, when the
 * variables belong to another model). This module rewrites such an error to say that the
 * variables do not match, to show the expected and the given subtree of the module concerned,
 * and, for a tree of the wrong level (`variables.params` instead of `variables`), the fix.
 *
 * @module
 */
import type * as tf from '@tensorflow/tfjs-core';
import { FlaxenError, MissingVariableError, ShapeError, formatShape } from '../errors.js';
import type { VariableRecord } from './scope.js';

type Leaf = { readonly shape: readonly number[]; readonly dtype: string };

function leafText(leaf: Leaf): string {
  return `${leaf.dtype}${formatShape(leaf.shape)}`;
}

function sameLeaf(a: Leaf, b: Leaf): boolean {
  return a.dtype === b.dtype && a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);
}

/** `{ bias: float32[32], kernel: float32[4, 32] }`: the leaves under `prefix`, by relative path. */
function subtreeText(leaves: ReadonlyMap<string, Leaf>, prefix: string): string {
  const rows = [...leaves]
    .filter(([path]) => path.startsWith(prefix))
    .map(([path, leaf]) => `${path.slice(prefix.length)}: ${leafText(leaf)}`)
    .sort();
  return rows.length ? `{ ${rows.join(', ')} }` : 'nothing';
}

function listText(items: readonly string[], max = 6): string {
  return items.length <= max ? items.join(', ') : `${items.slice(0, max).join(', ')}, … (${items.length} in all)`;
}

/** Keys a user may have meant for `params`. */
function looksLikeParams(key: string): boolean {
  return /^(param|parameters?|weights?|vars?|variables)$/i.test(key) || key.toLowerCase() === 'params';
}

/**
 * The error to throw instead of `error`, raised by `apply` while looking up a variable: a
 * clearer one when the given variables do not fit the model, or `error` itself. `expected`
 * runs the model's shape inference on the same inputs (it may throw; then `error` stands).
 * @internal
 */
export function explainMismatch(error: unknown, given: ReadonlyMap<string, tf.Tensor>, topKeys: readonly string[], expected: () => ReadonlyMap<string, VariableRecord>): unknown {
  if (!(error instanceof MissingVariableError || error instanceof ShapeError) || error.treePath === undefined) return error;
  let records: ReadonlyMap<string, VariableRecord>;
  try {
    records = expected();
  } catch {
    return error;
  }
  const treePath = error.treePath;
  const collection = treePath.split('/')[0]!;
  const model = new Map<string, Leaf>([...records].map(([path, rec]) => [path, { shape: rec.shape, dtype: rec.dtype }]));
  const collections = [...new Set([...records.values()].map((r) => r.collection))].sort();
  const Cls = error instanceof ShapeError ? ShapeError : MissingVariableError;

  // A tree of the wrong level: no expected collection at the top.
  if (!topKeys.includes(collection)) {
    const inner = [...records.keys()].map((p) => p.split('/')[1]).filter((k): k is string => k !== undefined);
    const wrongLevel = topKeys.some((k) => inner.includes(k));
    const misspelt = topKeys.find(looksLikeParams);
    const fix = wrongLevel
      ? `it looks like one collection was passed (e.g. variables.params): pass the whole tree init returned, or { ${collection}: ... }`
      : misspelt !== undefined
        ? `did you mean '${collection}' for '${misspelt}'?`
        : `pass the tree init returned for this model`;
    return new Cls(
      '',
      `apply needs the variables tree init returned, with the collections [${collections.join(', ')}] at its top level, but the given tree has [${listText(topKeys)}]; ${fix}`,
      { treePath },
    );
  }

  const modulePrefix = treePath.slice(0, treePath.lastIndexOf('/') + 1);
  const differing: string[] = [];
  for (const [path, leaf] of model) {
    const found = given.get(path);
    if (!found || !sameLeaf(leaf, found)) differing.push(path);
  }
  const extra = [...given.keys()].filter((p) => !model.has(p));
  const summary = [
    differing.length ? `${differing.length} of the model's ${model.size} entries are missing or shaped otherwise (${listText(differing)})` : '',
    extra.length ? `${extra.length} given entries are not in the model (${listText(extra)})` : '',
  ]
    .filter((s) => s !== '')
    .join('; ');
  const detail = error.message.slice(error.path === '' ? 0 : error.path.length + 2);
  return new Cls(
    error.path,
    `the variables do not match the model: ${detail}.\n` +
      `  the model expects ${modulePrefix.slice(0, -1)}: ${subtreeText(model, modulePrefix)}\n` +
      `  the variables hold ${modulePrefix.slice(0, -1)}: ${subtreeText(new Map([...given].map(([p, t]) => [p, { shape: t.shape, dtype: t.dtype }])), modulePrefix)}\n` +
      `  in all, ${summary}. Were the variables made for another model, or does the input have another size?`,
    { treePath },
  );
}
