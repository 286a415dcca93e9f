// The MNIST examples: same seed ⇒ the same loss curve bit for bit; and the progress bar's two forms.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import { trainMlp } from '../../examples/mnist-mlp.js';
import { trainCnn } from '../../examples/mnist-cnn.js';
import { ProgressBar } from '../../examples/progress.js';
import { backend } from '../setup.js';

const tiny = { epochs: 2, batchSize: 32, trainSize: 128, testSize: 64, log: false, backend } as const;

test('two MLP runs with the same seed give the same loss curve bit for bit; another seed differs', async () => {
  const before = tf.memory().numTensors;
  const a = await trainMlp({ ...tiny, seed: 7 });
  const b = await trainMlp({ ...tiny, seed: 7 });
  assert.is(a.losses.length, 8);
  assert.equal(a.losses, b.losses);
  assert.is(a.testAccuracy, b.testAccuracy);
  const c = await trainMlp({ ...tiny, seed: 8 });
  assert.not.equal(c.losses, a.losses);
  assert.ok(a.losses.every(Number.isFinite));
  assert.is(tf.memory().numTensors, before, 'a run leaves no tensor behind');
});

test('two CNN runs with the same seed agree bit for bit', async () => {
  const opts = { epochs: 1, batchSize: 16, trainSize: 48, testSize: 16, log: false, seed: 3, backend } as const;
  const a = await trainCnn(opts);
  const b = await trainCnn(opts);
  assert.is(a.losses.length, 3);
  assert.equal(a.losses, b.losses);
});

function recorder(isTTY: boolean) {
  const chunks: string[] = [];
  return { chunks, stream: { isTTY, columns: 100, write: (s: string) => chunks.push(s) } };
}

test('on a pipe the progress bar prints a few plain lines and a final one', () => {
  let clock = 0;
  const { chunks, stream } = recorder(false);
  const bar = new ProgressBar({ label: 'epoch 1/2', total: 10, batchSize: 32, stream, plainLines: 1, now: () => clock });
  for (let step = 1; step <= 10; step++) {
    clock += 100;
    bar.update(step, step);
  }
  bar.finish('test accuracy 90%');
  assert.equal(chunks, [
    'epoch 1/2  5/10  loss 3.0000  320 samples/s  ETA 0.5s\n',
    'epoch 1/2 10/10  loss 5.5000  320 samples/s  1.0s  test accuracy 90%\n',
  ]);
  assert.ok(chunks.every((c) => !c.includes('\r') && !c.includes('\x1b')));
});

test('on a terminal it redraws one line in place', () => {
  let clock = 0;
  const { chunks, stream } = recorder(true);
  const bar = new ProgressBar({ label: 'epoch 1/1', total: 4, batchSize: 10, stream, now: () => clock });
  for (let step = 1; step <= 4; step++) {
    clock += 100;
    bar.update(step, 1);
  }
  bar.finish();
  assert.is(chunks.length, 5);
  assert.ok(chunks.slice(0, 4).every((c) => c.startsWith('\r') && !c.includes('\n')));
  assert.ok(chunks[1]!.includes('[') && chunks[1]!.includes('2/4') && chunks[1]!.includes('ETA 0.2s'));
  assert.ok(chunks[4]!.endsWith('\n'));
});

test.run();
