// Types of the browser bundle written by scripts/build-browser.mjs: flaxen's public API, plus the
// bundled tfjs-core (`tf`) and the WASM backend's `setWasmPaths`.
export * from '../../lib/index.js';
export * as tf from '@tensorflow/tfjs-core';
export { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
