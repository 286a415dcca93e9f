/**
 * Optax-style optimizers (`fx.optim`): gradient transformations, their chains and schedules.
 *
 * @module
 */
export {};
