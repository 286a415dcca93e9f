/**
 * `tabulate`: a model's modules, shapes and parameter counts as an aligned text table, in the
 * manner of Flax's `nn.tabulate`.
 *
 * @module
 */
import type { Module, Rngs } from '../core/module.js';
import { ModelSummary, SummaryRow, modelSummary } from './summary.js';

/**
 * Formats a byte count with decimal units, as Flax does: `840 B`, `1.6 KB`, `4.0 GB`.
 * @internal
 */
export function formatBytes(bytes: number): string {
  const units: Array<[number, string]> = [[1e12, 'TB'], [1e9, 'GB'], [1e6, 'MB'], [1e3, 'KB']];
  for (const [size, unit] of units) {
    if (bytes > size) return `${(bytes / size).toLocaleString('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 1 })} ${unit}`;
  }
  return `${bytes.toLocaleString('en-US')} B`;
}

/** `count (bytes)`, e.g. `210 (840 B)`. @internal */
export function formatCount(count: number, bytes: number): string {
  return `${count.toLocaleString('en-US')} (${formatBytes(bytes)})`;
}

/** The lines of one collection's cell for a row: each variable, then its subtotal. */
function variableCell(row: SummaryRow, collection: string): string[] {
  if (row.shared) return row.variables.length === 0 && collection === 'params' ? ['(shared)'] : [];
  const own = row.variables.filter((v) => v.collection === collection);
  if (own.length === 0) return [];
  const lines = own.map((v) => `${v.name}: ${v.dtype}[${v.shape.join(', ')}]`);
  const count = own.reduce((n, v) => n + v.count, 0);
  const bytes = own.reduce((n, v) => n + v.bytes, 0);
  return [...lines, '', formatCount(count, bytes)];
}

/** Draws a table of multi-line cells with box-drawing characters. */
function drawTable(header: string[], rows: string[][][], footer: string[][]): string {
  const all = [[...header.map((h) => [h])], ...rows, footer];
  const widths = header.map((_, c) => Math.max(...all.map((row) => Math.max(0, ...row[c]!.map((line) => line.length)))));
  const rule = (left: string, mid: string, right: string) => left + widths.map((w) => '─'.repeat(w + 2)).join(mid) + right;
  const line = (cells: string[][]): string[] => {
    const height = Math.max(1, ...cells.map((cell) => cell.length));
    return Array.from({ length: height }, (_, i) => '│' + cells.map((cell, c) => ` ${(cell[i] ?? '').padEnd(widths[c]!)} `).join('│') + '│');
  };
  const out = [rule('┌', '┬', '┐'), ...line(header.map((h) => [h])), rule('├', '┼', '┤')];
  rows.forEach((row) => {
    out.push(...line(row), rule('├', '┼', '┤'));
  });
  out.push(...line(footer), rule('└', '┴', '┘'));
  return out.join('\n');
}

/**
 * Formats a {@link ModelSummary} as the table `tabulate` prints.
 *
 * @example
 * ```ts
 * const summary = fx.modelSummary(fx.nn.Dense(10), fx.random.key(0), [1, 20]);
 * console.log(fx.formatSummary(summary));
 * ```
 */
export function formatSummary(summary: ModelSummary): string {
  const collections = summary.collections.map((c) => c.collection);
  if (!collections.includes('params')) collections.unshift('params');
  const header = ['path', 'module', 'inputs', 'outputs', ...collections];
  const rows = summary.rows.map((row) => [
    [row.path],
    [row.type],
    row.inputs.length ? [...row.inputs] : [''],
    [row.output],
    ...collections.map((c) => variableCell(row, c)),
  ]);
  const totalOf = (collection: string) => summary.collections.find((c) => c.collection === collection) ?? { count: 0, bytes: 0 };
  const footer = [[''], [''], [''], ['Total'], ...collections.map((c) => [formatCount(totalOf(c).count, totalOf(c).bytes)])];
  const table = drawTable(header, rows, footer);
  const title = `${summary.type} summary`;
  const width = table.indexOf('\n');
  const centered = ' '.repeat(Math.max(0, Math.floor((width - title.length) / 2))) + title;
  const nameWidth = Math.max(...collections.map((c) => c.length), 'all'.length);
  const countTexts = collections.map((c) => formatCount(totalOf(c).count, totalOf(c).bytes));
  const lines = collections.map((c, i) => `  ${c.padEnd(nameWidth)}  ${countTexts[i]}`);
  if (collections.length > 1) lines.push(`  ${'all'.padEnd(nameWidth)}  ${formatCount(summary.total.count, summary.total.bytes)}`);
  return [centered, table, '', `Total parameters: ${formatCount(totalOf('params').count, totalOf('params').bytes)}`, 'By collection:', ...lines].join('\n');
}

/**
 * A table of a model's modules, one row per module run (parents before children): path, type,
 * input and output shapes, the variables the module declares (by collection, with count and
 * bytes), then a total line and the totals per collection (`params`, `batch_stats`, …).
 * Computed by shape inference alone (as `initShapes`): no parameter is allocated, so it is
 * instant even for billion-parameter models. Function layers in `Sequential` (like `relu`)
 * are not modules and have no row.
 *
 * @param model - the module.
 * @param rngs - a key or `{ params: key, ... }`, as for `init`.
 * @param inputs - example inputs: tensors or shapes such as `[1, 784]`.
 * @example
 * ```ts
 * const net = fx.nn.Sequential([fx.nn.Dense(3), fx.nn.relu, fx.nn.Dense(2)]);
 * console.log(fx.tabulate(net, fx.random.key(0), [1, 4]));
 * //                                Sequential summary
 * // ┌──────────┬────────────┬───────────────┬───────────────┬───────────────────────┐
 * // │ path     │ module     │ inputs        │ outputs       │ params                │
 * // ├──────────┼────────────┼───────────────┼───────────────┼───────────────────────┤
 * // │          │ Sequential │ float32[1, 4] │ float32[1, 2] │                       │
 * // ├──────────┼────────────┼───────────────┼───────────────┼───────────────────────┤
 * // │ layers_0 │ Dense      │ float32[1, 4] │ float32[1, 3] │ bias: float32[3]      │
 * // │          │            │               │               │ kernel: float32[4, 3] │
 * // │          │            │               │               │                       │
 * // │          │            │               │               │ 15 (60 B)             │
 * // ├──────────┼────────────┼───────────────┼───────────────┼───────────────────────┤
 * // │ layers_2 │ Dense      │ float32[1, 3] │ float32[1, 2] │ bias: float32[2]      │
 * // │          │            │               │               │ kernel: float32[3, 2] │
 * // │          │            │               │               │                       │
 * // │          │            │               │               │ 8 (32 B)              │
 * // ├──────────┼────────────┼───────────────┼───────────────┼───────────────────────┤
 * // │          │            │               │ Total         │ 23 (92 B)             │
 * // └──────────┴────────────┴───────────────┴───────────────┴───────────────────────┘
 * //
 * // Total parameters: 23 (92 B)
 * // By collection:
 * //   params  23 (92 B)
 * ```
 */
export function tabulate(model: Module<any, any, any>, rngs: Rngs, ...inputs: unknown[]): string {
  return formatSummary(modelSummary(model, rngs, ...inputs));
}
