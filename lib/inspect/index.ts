/**
 * Inspection: {@link tabulate} prints a table of a model's modules, shapes and parameter
 * counts; {@link modelSummary} gives the same as data. Both run shape inference only.
 *
 * @module
 */
export { tabulate, formatSummary } from './tabulate.js';
export { modelSummary } from './summary.js';
export type { ModelSummary, SummaryRow, VariableSummary, CollectionTotal } from './summary.js';
