/**
 * The script each kernel worker runs (a Node `worker_threads` eval worker, or a browser Web
 * Worker from a `blob:` URL): it instantiates the kernels' WebAssembly module on the backend's
 * shared memory, reports ready, then serves jobs from its slot of the control block until the
 * process ends. Between jobs it sleeps in `Atomics.wait`: an idle pool takes no CPU.
 *
 * @module
 */

/** @internal Int32 words per worker slot in the control block (256 bytes: slots never share a cache line). */
export const SLOT_INTS = 64;
/** @internal Slot words: the job generation (written by the caller), the finished generation, the function, the argument count, a failure flag. */
export const GEN = 0;
/** @internal */
export const DONE = 1;
/** @internal */
export const FN = 2;
/** @internal */
export const NARGS = 3;
/** @internal */
export const FAILED = 4;
/**
 * @internal
 * Who runs the job: the caller writes the generation (open), and whoever first swaps it for its
 * negative runs the part: the worker, or the caller itself when the worker has not woken by the
 * time the caller's own part is done (a busy machine): a part never waits for a sleeping core.
 */
export const CLAIM = 5;
/** @internal Byte offset of a slot's float64 arguments. */
export const ARGS_BYTE = 32;
/** @internal The most arguments a job can have. */
export const MAX_ARGS = (SLOT_INTS * 4 - ARGS_BYTE) / 8;

/**
 * @internal
 * A short spin before sleeping: a job that follows the last one within microseconds (the next
 * kernel of a step) starts without a wake-up; anything longer sleeps.
 */
export const SPIN_CHECKS = 2000;

/** @internal The worker's source text (plain JavaScript, valid in Node's CommonJS eval and in a classic Web Worker). */
export const WORKER_SOURCE = `
'use strict';
const nodePort = typeof require === 'function' ? require('worker_threads').parentPort : null;
const post = (m) => (nodePort ? nodePort.postMessage(m) : self.postMessage(m));
const onFirstMessage = (handler) => {
  if (nodePort) nodePort.once('message', handler);
  else self.onmessage = (e) => { self.onmessage = null; handler(e.data); };
};
onFirstMessage((init) => {
  let fns, ctrl, args, base;
  try {
    fns = [];
    for (const m of init.modules) {
      const exports = new WebAssembly.Instance(m.module, { env: { memory: init.memory } }).exports;
      for (const name of m.names) fns.push(exports[name]);
    }
    ctrl = new Int32Array(init.control);
    args = new Float64Array(init.control);
    base = init.slot * ${SLOT_INTS};
  } catch (e) {
    post({ failed: String((e && e.stack) || e) });
    return;
  }
  post({ ready: true });
  const argBase = (base * 4 + ${ARGS_BYTE}) / 8;
  let seen = 0;
  for (;;) {
    let g = Atomics.load(ctrl, base + ${GEN});
    for (let s = 0; g === seen && s < ${SPIN_CHECKS}; s++) g = Atomics.load(ctrl, base + ${GEN});
    if (g === seen) {
      Atomics.wait(ctrl, base + ${GEN}, seen);
      continue;
    }
    seen = g;
    if (Atomics.compareExchange(ctrl, base + ${CLAIM}, g, -g) !== g) continue; // the caller took it
    const fn = fns[ctrl[base + ${FN}]];
    const n = ctrl[base + ${NARGS}];
    try {
      fn.apply(null, Array.from(args.subarray(argBase, argBase + n)));
      ctrl[base + ${FAILED}] = 0;
    } catch (e) {
      ctrl[base + ${FAILED}] = 1;
    }
    Atomics.store(ctrl, base + ${DONE}, seen);
    Atomics.notify(ctrl, base + ${DONE});
  }
});
`;
