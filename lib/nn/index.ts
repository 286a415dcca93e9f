/**
 * Layers and module building blocks (`fx.nn`).
 *
 * @module
 */
export { Dense } from './dense.js';
export type { DenseOptions, DenseParams, DenseParamsNoBias } from './dense.js';
export { Sequential } from './sequential.js';
export type { Layer, SequentialVars, ModuleVars, CollectionsOf, FirstInputs, LastOutput } from './sequential.js';
export { module } from './module.js';
export type { VariableDecl, VariableDeclEntry, DeclaredVariables, DeclaredEntry, DeclaredParamNames, CustomModuleOptions } from './module.js';
export { activation, relu, gelu, sigmoid, tanh, silu, softmax, logSoftmax } from './activations.js';
export type { Activation } from './activations.js';
export { Conv, ConvTranspose } from './conv.js';
export type { ConvOptions, ConvTransposeOptions, ConvParams } from './conv.js';
export { MaxPool, AvgPool, GlobalAvgPool, Flatten } from './pooling.js';
export type { PoolOptions, AvgPoolOptions } from './pooling.js';
export type { Padding } from './layer-util.js';
export { BatchNorm, LayerNorm, RMSNorm, GroupNorm } from './normalization.js';
export type { BatchNormOptions, BatchNormVars, NormOptions, NormParams } from './normalization.js';
export { Dropout } from './dropout.js';
export type { DropoutOptions } from './dropout.js';
export { Embed, EmbedModule } from './embed.js';
export type { EmbedOptions, EmbedParams } from './embed.js';
export { MultiHeadDotProductAttention, SelfAttention, dotProductAttention, causalMask } from './attention.js';
export type { AttentionOptions, AttentionParams, AttentionInputs, SelfAttentionInputs } from './attention.js';
export { makeAttentionMask, makeCausalMask, combineMasks } from './masks.js';
export type { MaskDtype, MaskOptions, AttentionMaskOptions, PairwiseFn } from './masks.js';
export { LSTMCell, OptimizedLSTMCell, GRUCell, SimpleCell, RecurrentCell, RNN, Bidirectional } from './recurrent/index.js';
export type { CellOptions, Carry, RNNOptions, BidirectionalOptions } from './recurrent/index.js';
