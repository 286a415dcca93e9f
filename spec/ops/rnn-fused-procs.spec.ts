// OptimizedLSTMCell's fused scan gives the same bits in separate processes and at 1 and 2 wasm
// threads (training: outputs, carries, every gradient; and inference outside a gradient). Each
// run is a child process (spec/ops/rnn-fused-child.ts) with a time limit.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fileURLToPath } from 'node:url';
import { awaitedByTests, childReport, runChild } from '../child.js';

const CHILD = fileURLToPath(new URL('./rnn-fused-child.js', import.meta.url));
const TIMEOUT_MS = 120_000;

interface Report {
  threads: number;
  hashes: Record<string, string>;
  training: Record<string, number>;
  total: Record<string, number>;
}

async function run(threads: number): Promise<Report> {
  const result = await runChild(CHILD, [String(threads)], { timeoutMs: TIMEOUT_MS, maxOldSpaceMb: 512 });
  return childReport<Report>(`the ${threads}-thread child`, result);
}

const reports = awaitedByTests(Promise.all([run(1), run(1), run(2)]));

test('the fused kernels run in training and in inference, at 1 and 2 threads', async () => {
  const runs = await reports;
  assert.equal(runs.map((r) => r.threads), [1, 1, 2]);
  // 11 steps: once a step forward and backward in training, once a step in inference.
  for (const r of runs) {
    assert.equal(r.training, { lstm_step: 11, lstm_step_grad: 11 }, `${r.threads} threads, training`);
    assert.equal(r.total, { lstm_step: 22, lstm_step_grad: 11 }, `${r.threads} threads, with inference`);
  }
});

test('outputs, carries, gradients and inference are bit-identical across processes and thread counts', async () => {
  const [one, again, two] = await reports;
  assert.equal(Object.keys(one!.hashes), ['loss', 'outputs', 'grads', 'inference']);
  assert.equal(again!.hashes, one!.hashes, 'a second process, 1 thread');
  assert.equal(two!.hashes, one!.hashes, '2 threads');
});

test.run();
