// flaxen's own kernels split across a pool of workers (fx.ready('wasm', { threads })): products,
// a convolutional network's gradients, Adam training steps and inference give the same bits on
// 1, 2 and 3 threads. Each thread count runs in a child process (spec/ops/pool-child.ts) with a
// time limit, and must end on its own (the workers never keep a process alive).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fileURLToPath } from 'node:url';
import { awaitedByTests, childReport, runChild } from '../child.js';

const CHILD = fileURLToPath(new URL('./pool-child.js', import.meta.url));
const TIMEOUT_MS = 120_000;

interface Report {
  threads: number;
  poolThreads: number;
  splitCalls: Record<string, number>;
  workerParts: number;
  hashes: Record<string, string>;
  losses: number[];
  exactMismatches: number;
}

async function run(threads: number): Promise<Report> {
  const result = await runChild(CHILD, [String(threads)], { timeoutMs: TIMEOUT_MS, maxOldSpaceMb: 512 });
  const what = `the ${threads}-thread child`;
  if (result.timedOut) throw new Error(`${what} ${result.ending} (workers keeping it alive?): ${result.stderr}`);
  if (result.code === 0 && result.stderr.includes('flaxen:')) throw new Error(`${what} warned: ${result.stderr}`);
  return childReport<Report>(what, result);
}

const reports = awaitedByTests(Promise.all([run(1), run(2), run(3)]));

test('the kernels run on 1, 2 and 3 threads, and the pool splits every kind of kernel', async () => {
  const [one, two, three] = await reports;
  assert.equal([one!.threads, two!.threads, three!.threads], [1, 2, 3]);
  assert.equal([one!.poolThreads, two!.poolThreads, three!.poolThreads], [1, 2, 3]);
  assert.equal(one!.splitCalls, {}, 'one thread: nothing is split');
  for (const r of [two!, three!]) {
    assert.ok(r.workerParts > 0, `${r.threads} threads: the workers computed parts`);
    for (const kernel of ['gemm', 'pack_n_rows', 'pack_t_rows', 'im2col', 'col2im', 'maxpool_grad', 'relu_grad', 'adam|adamDecay']) {
      const calls = kernel.split('|').reduce((sum, k) => sum + (r.splitCalls[k] ?? 0), 0);
      assert.ok(calls > 0, `${r.threads} threads: ${kernel} was split (${JSON.stringify(r.splitCalls)})`);
    }
  }
});

test('products, LeNet-5 gradients, Adam steps and inference are bit-identical on 1, 2 and 3 threads', async () => {
  const [one, ...more] = await reports;
  assert.ok(Object.keys(one!.hashes).length >= 13);
  for (const r of more) {
    for (const [what, hash] of Object.entries(one!.hashes)) assert.is(r.hashes[what], hash, `${what}, ${r.threads} threads`);
    assert.equal(r.losses, one!.losses, `losses, ${r.threads} threads`);
  }
});

test('a split product of small integers equals a JS loop exactly', async () => {
  for (const r of await reports) assert.is(r.exactMismatches, 0, `${r.threads} threads`);
});

test.run();
