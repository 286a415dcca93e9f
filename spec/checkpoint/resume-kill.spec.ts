// Resumable training, end to end (issue 10, "Done when"): a child process trains with a
// CheckpointManager (Adam with a warmup-cosine schedule, a model with BatchNorm and Dropout) and
// is killed with SIGKILL, once at a step drawn from a seeded generator and once the instant a
// checkpoint's temporary file appears (inside a save); a new process resumes each time. Every
// loss any process computed, the metrics log, and the final parameter and batch-statistics bytes
// must equal those of a run that was never interrupted, bit for bit. After every kill the folder
// must list only complete steps (each one restores). Negative control (not run in the suite):
// FLAXEN_RESUME_NAIVE=1 makes the child restart its data order at each start; this test fails then.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { watch } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../../lib/index.js';
import '../setup.js';
import { runChild } from '../child.js';

const CHILD = fileURLToPath(new URL('./resume-kill-child.js', import.meta.url));
const STEPS = 24;
const CHILD_TIMEOUT_MS = 120_000;

interface ChildRun {
  readonly start: number;
  /** step → the float32 bits of its loss, as hex. */
  readonly losses: Map<number, string>;
  readonly killed: boolean;
  readonly leftTensors: number | undefined;
}

/** Runs the training child; kills it with SIGKILL after the loss of step `killAfterStep`, or when a checkpoint's temporary file appears. */
async function runTraining(dir: string, finalFile: string, kill: { afterStep?: number; onTempFile?: boolean } = {}): Promise<ChildRun> {
  const losses = new Map<number, string>();
  let start: number | undefined;
  let leftTensors: number | undefined;
  const killer = new AbortController();
  const watcher = kill.onTempFile
    ? watch(dir, (_event, name) => {
        if (start !== undefined && name && String(name).startsWith('.step-') && String(name).endsWith('.flaxen-tmp')) killer.abort();
      })
    : undefined;
  const onLine = (line: string): void => {
    const [word, a, b] = line.split(' ');
    if (word === 'start') start = Number(a);
    if (word === 'done') leftTensors = Number(a);
    if (word === 'loss') {
      losses.set(Number(a), b!);
      if (kill.afterStep !== undefined && Number(a) >= kill.afterStep) killer.abort();
    }
  };
  try {
    const result = await runChild(CHILD, [dir, String(STEPS), finalFile], { timeoutMs: CHILD_TIMEOUT_MS, onLine, signal: killer.signal });
    if (!result.killed && result.code !== 0) throw new Error(`the training child ${result.ending}: ${result.stderr}`);
    return { start: start ?? -1, losses, killed: result.killed, leftTensors };
  } finally {
    watcher?.close();
  }
}

/** Opens the folder as a new process would and restores every listed step: none may be half-written. */
async function checkFolder(dir: string): Promise<number | undefined> {
  const manager = new fx.checkpoint.CheckpointManager(dir, { maxToKeep: 2, saveIntervalSteps: 3 });
  const before = tf.memory().numTensors;
  for (const step of manager.steps()) {
    const tree = await manager.restore(undefined, { step });
    assert.is((tree as unknown as { step: number }).step, step, `the checkpoint of step ${step} holds step ${step}`);
    fx.tree.dispose(tree);
  }
  assert.is(tf.memory().numTensors, before);
  return manager.latestStep();
}

test(`a run SIGKILLed at a random step and inside a save, then resumed, equals the uninterrupted run bit for bit (losses, metrics log, final parameters)`, async () => {
  const root = await mkdtemp(join(tmpdir(), 'flaxen-resume-'));
  try {
    const straightDir = join(root, 'straight');
    const resumedDir = join(root, 'resumed');
    const straight = await runTraining(straightDir, join(root, 'straight.bin'));
    assert.is(straight.start, 0);
    assert.equal([...straight.losses.keys()], Array.from({ length: STEPS }, (_, s) => s));
    assert.is(straight.leftTensors, 0, 'the training loop leaks no tensor');

    const next = fx.random.generator(fx.random.key(Number(process.env['FLAXEN_RESUME_SEED'] ?? 10)));
    const killStep = 4 + Math.floor(next() * (STEPS - 10)); // in [4, STEPS - 7]
    const runs: ChildRun[] = [];
    runs.push(await runTraining(resumedDir, join(root, 'resumed.bin'), { afterStep: killStep }));
    assert.ok(runs[0]!.killed, `the first run was killed (after step ${killStep})`);
    const latestAfterFirst = await checkFolder(resumedDir);
    runs.push(await runTraining(resumedDir, join(root, 'resumed.bin'), { onTempFile: true }));
    assert.ok(runs[1]!.killed, 'the second run was killed inside a save');
    assert.is(runs[1]!.start, latestAfterFirst ?? 0, 'the second run started from the latest complete step');
    const latestAfterSecond = await checkFolder(resumedDir);
    runs.push(await runTraining(resumedDir, join(root, 'resumed.bin')));
    assert.not.ok(runs[2]!.killed);
    assert.is(runs[2]!.start, latestAfterSecond ?? 0, 'the third run started from the latest complete step');
    assert.is(runs[2]!.leftTensors, 0);

    // Every loss any process computed (steps redone after a kill included) is the straight run's.
    const covered = new Set<number>();
    for (const [i, run] of runs.entries()) {
      for (const [step, bits] of run.losses) {
        assert.is(bits, straight.losses.get(step), `run ${i + 1}, step ${step}: loss bits`);
        covered.add(step);
      }
    }
    assert.is(covered.size, STEPS, 'the resumed runs together computed every step');
    assert.ok(runs[1]!.start <= killStep + 1 && runs[2]!.start > 0, `steps were redone from checkpoints (${runs.map((r) => r.start)})`);

    // The final parameters and batch statistics, byte for byte.
    const [a, b] = await Promise.all([readFile(join(root, 'straight.bin')), readFile(join(root, 'resumed.bin'))]);
    assert.ok(a.length > 1000 && a.equals(b), 'the final parameter bytes are equal');

    // The metrics log of the interrupted run, read back, is the straight run's loss curve.
    const logOf = async (dir: string) => (await new fx.checkpoint.CheckpointManager(dir).readMetrics()).map((r) => [r.step, r['loss']]);
    const straightLog = await logOf(straightDir);
    assert.equal(straightLog, Array.from({ length: STEPS }, (_, s) => [s + 1, new Float32Array(new Uint32Array([parseInt(straight.losses.get(s)!, 16)]).buffer)[0]]));
    assert.equal(await logOf(resumedDir), straightLog);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test.run();
