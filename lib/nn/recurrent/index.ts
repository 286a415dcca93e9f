/**
 * Recurrent layers: cells and the modules that run them over sequences.
 *
 * @module
 */
export { LSTMCell, OptimizedLSTMCell, GRUCell, SimpleCell, RecurrentCell } from './cells.js';
export type { CellOptions, Carry } from './cells.js';
export { RNN, Bidirectional } from './rnn.js';
export type { RNNOptions, BidirectionalOptions } from './rnn.js';
