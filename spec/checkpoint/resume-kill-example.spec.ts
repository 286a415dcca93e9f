// examples/resume.ts (kill -9 in a child process, resume, compare) and the resume section at the
// end of `npm start` (examples/walkthrough.ts) report equal numbers; both compare against an
// uninterrupted run themselves, so these tests check their verdicts and what they print.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import '../setup.js';
import { resumeDemo } from '../../examples/resume.js';
import { resuming } from '../../examples/walkthrough.js';

test('examples/resume.ts: a process that kills itself with SIGKILL, resumed, gives the uninterrupted loss curve and parameters', async () => {
  const lines: string[] = [];
  const report = await resumeDemo({ steps: 8, killAt: 4, every: 3, batchSize: 16, trainSize: 256, log: (line) => lines.push(line) });
  assert.is(report.killedAfter, 4, 'the first process died right after step 4');
  assert.is(report.resumedFrom, 3, 'the second resumed from the checkpoint of step 3');
  assert.is(report.losses.length, 8);
  assert.ok(report.losses.every((l) => Number.isFinite(l) && l > 0));
  assert.ok(report.sameLosses && report.sameParams, lines.join('\n'));
  assert.ok(lines.some((l) => l.includes('killed itself with SIGKILL after step 4')), lines.join('\n'));
  assert.ok(lines.some((l) => l === 'final parameters equal, byte for byte: true'), lines.join('\n'));
});

test('npm start ends with interrupt, restore, continue: the same numbers, and leaks nothing', async () => {
  const lines: string[] = [];
  const log = console.log;
  const before = tf.memory().numTensors;
  console.log = (...args: unknown[]) => lines.push(args.map(String).join(' '));
  let same: boolean;
  try {
    same = await resuming();
  } finally {
    console.log = log;
  }
  const out = lines.join('\n');
  assert.ok(same, out);
  assert.match(out, /restored step 4, continued:/);
  assert.match(out, /Same losses, bit for bit: true; same final parameters, byte for byte: true/);
  assert.is(tf.memory().numTensors, before);
});

test.run();
