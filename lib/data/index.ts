/**
 * Bundled datasets (`fx.data`): the real MNIST digits shipped by the `mnist` package.
 *
 * @module
 */
export {};
