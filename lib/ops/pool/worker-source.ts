/**
 * The script each kernel worker runs (a Node `worker_threads` eval worker, or a browser Web
 * Worker from a `blob:` URL): it instantiates the kernels' WebAssembly modules on the backend's
 * shared memory, reports ready, then takes jobs from the control block until the process ends.
 * Between calls it sleeps in `Atomics.wait`: an idle pool takes no CPU.
 *
 * The control block (Int32 words, and the jobs' float64 arguments):
 *
 * - `GEN`: the call's generation; the caller bumps it and notifies, sleeping workers wait on it.
 * - `CLAIM`: `tag + i`, where `tag` is the generation (mod 2^23) times 256 and `i` the next job
 *   not yet taken. Whoever swaps `tag + i` for `tag + i + 1` (the caller or a worker) runs job
 *   `i`; a worker still holding an older generation sees another tag and takes nothing.
 * - `DONE`: jobs finished in this call; the one who finishes the last job notifies the caller.
 * - `NJOBS`, `FAILED`: the call's job count; set when a job threw.
 * - from `JOBS_BYTE`, one record of `JOB_BYTES` per job: the function's index, the argument
 *   count, then the float64 arguments.
 *
 * So a call is a queue of parts that the calling thread and the workers drain together: the
 * caller never waits for a worker that has not woken yet (another process holds its core); it
 * takes the remaining parts itself.
 *
 * @module
 */

/** @internal Control words. */
export const GEN = 0;
/** @internal */
export const CLAIM = 16;
/** @internal */
export const DONE = 32;
/** @internal */
export const NJOBS = 48;
/** @internal */
export const FAILED = 49;
/** @internal Byte offset of the first job record (the words above each sit on a cache line of their own). */
export const JOBS_BYTE = 256;
/** @internal Bytes per job record: function index, argument count, then the float64 arguments. */
export const JOB_BYTES = 160;
/** @internal The most arguments a job can have. */
export const MAX_ARGS = (JOB_BYTES - 8) / 8;
/** @internal The most jobs in one call. */
export const MAX_JOBS = 64;
/** @internal Size of the control block in bytes. */
export const CONTROL_BYTES = JOBS_BYTE + MAX_JOBS * JOB_BYTES;

/**
 * @internal
 * A short spin before sleeping: a call that follows the last one within a few microseconds (the
 * next kernel of a step) starts without a wake-up; anything longer sleeps.
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
  let fns, ctrl, args;
  try {
    fns = [];
    for (const m of init.modules) {
      const exports = new WebAssembly.Instance(m.module, { env: { memory: init.memory } }).exports;
      for (const name of m.names) fns.push(exports[name]);
    }
    ctrl = new Int32Array(init.control);
    args = new Float64Array(init.control);
  } catch (e) {
    post({ failed: String((e && e.stack) || e) });
    return;
  }
  post({ ready: true });
  const argv = [];
  let seen = 0;
  for (;;) {
    let g = Atomics.load(ctrl, ${GEN});
    for (let s = 0; g === seen && s < ${SPIN_CHECKS}; s++) g = Atomics.load(ctrl, ${GEN});
    if (g === seen) {
      Atomics.wait(ctrl, ${GEN}, seen);
      continue;
    }
    seen = g;
    const tag = (g & 0x7fffff) * 256;
    for (;;) {
      const c = Atomics.load(ctrl, ${CLAIM});
      const i = c & 255;
      if (c - i !== tag || i >= Atomics.load(ctrl, ${NJOBS})) break;
      if (Atomics.compareExchange(ctrl, ${CLAIM}, c, c + 1) !== c) continue;
      const rec = (${JOBS_BYTE} + i * ${JOB_BYTES}) / 4;
      const n = ctrl[rec + 1];
      argv.length = n;
      for (let a = 0; a < n; a++) argv[a] = args[rec / 2 + 1 + a];
      try {
        fns[ctrl[rec]].apply(null, argv);
      } catch (e) {
        Atomics.store(ctrl, ${FAILED}, 1);
      }
      if (Atomics.add(ctrl, ${DONE}, 1) + 1 === Atomics.load(ctrl, ${NJOBS})) Atomics.notify(ctrl, ${DONE});
    }
  }
});
`;
