// The determinism statement of docs/performance.md, tested: parameters drawn from keys are
// bit-identical on every backend; training is bit-identical across processes and thread counts
// on one backend; the wasm and cpu backends differ in the last bits of their kernels, so their
// training runs agree only to a relative ~2e-7 (checked within 1e-6). One child process per run (spec/determinism-child.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fileURLToPath } from 'node:url';
import { awaitedByTests, childReport, runChild } from './child.js';

const CHILD = fileURLToPath(new URL('./determinism-child.js', import.meta.url));

interface Run {
  backend: string;
  threads: number;
  initHash: string;
  trainedHash: string;
  outputHash: string;
  losses: number[];
  sample: number[];
}

async function run(backend: 'wasm' | 'cpu', threads: number): Promise<Run> {
  const result = await runChild(CHILD, [backend, String(threads)], { timeoutMs: 120_000, maxOldSpaceMb: 512 });
  return childReport<Run>(`the ${backend}/${threads} child`, result);
}

const runs = awaitedByTests(Promise.all([run('wasm', 1), run('wasm', 1), run('wasm', 2), run('cpu', 1), run('cpu', 1)]));

test('parameters drawn from a key are bit-identical in every process, on every backend and thread count', async () => {
  const all = await runs;
  for (const r of all) assert.is(r.initHash, all[0]!.initHash, `${r.backend}/${r.threads}`);
});

test('training is bit-identical across processes and thread counts on one backend', async () => {
  const [wasmA, wasmB, wasmThreads, cpuA, cpuB] = await runs;
  assert.is(wasmThreads!.threads, 2, 'the third run computes on 2 threads');
  for (const [a, b, what] of [
    [wasmA, wasmB, 'wasm, two processes'],
    [wasmA, wasmThreads, 'wasm, 1 and 2 threads'],
    [cpuA, cpuB, 'cpu, two processes'],
  ] as const) {
    assert.is(b!.trainedHash, a!.trainedHash, `${what}: trained parameters`);
    assert.is(b!.outputHash, a!.outputHash, `${what}: outputs`);
    assert.equal(b!.losses, a!.losses, `${what}: losses`);
  }
});

test('wasm and cpu are not bit-identical after training (their kernels round differently), but every loss agrees to a relative 1e-6', async () => {
  const [wasm, , , cpu] = await runs;
  assert.is.not(cpu!.trainedHash, wasm!.trainedHash, 'if they became identical, update the statement in docs/performance.md');
  // docs/performance.md says a relative 1e-7 to 2e-7 at first (measured: up to 2e-7 over these 5 steps).
  wasm!.losses.forEach((l, i) => assert.ok(Math.abs(l - cpu!.losses[i]!) <= 1e-6 * Math.abs(l), `loss ${i}: ${l} vs ${cpu!.losses[i]}`));
  wasm!.sample.forEach((v, i) => assert.ok(Math.abs(v - cpu!.sample[i]!) <= 1e-5 * Math.abs(v) + 1e-7, `parameter ${i}: ${v} vs ${cpu!.sample[i]}`));
});

test.run();
