/**
 * Checkpoints in the safetensors format (`fx.checkpoint`).
 *
 * @module
 */
export {};
