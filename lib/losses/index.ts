/**
 * Losses and metrics (`fx.losses`), per example, numerically stable.
 *
 * @module
 */
export {};
