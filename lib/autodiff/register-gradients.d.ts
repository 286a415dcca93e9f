/**
 * Side-effect module: registers tfjs-core's gradient functions in the shared gradient
 * registry. The JavaScript is bundled at build time by `scripts/bundle-gradients.mjs`.
 * @module
 */
export {};
