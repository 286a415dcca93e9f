/**
 * Inspection (`fx.tabulate`): a table of a model's modules, shapes and parameter counts.
 *
 * @module
 */
export {};
