/**
 * Training helpers (`fx.train`): the train state and a training step.
 *
 * @module
 */
export {};
