// fx.checkpoint.CheckpointManager: interval, retention (last N and the best), listing and
// restoring, reopening a folder, the metrics log, foreign and damaged files, bad options.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../../lib/index.js';
import { assertThrows } from '../setup.js';
import { host, withTempDir } from './temp-dir.js';

const { CheckpointManager, CheckpointError } = fx.checkpoint;

const withDir = (fn: (dir: string) => Promise<void>): Promise<void> => withTempDir('flaxen-manager-', fn);

/** Runs `fn` with console.warn captured; returns the warnings. */
async function warnings<T>(fn: () => T | Promise<T>): Promise<{ result: T; warned: string[] }> {
  const warned: string[] = [];
  const original = console.warn;
  console.warn = (...args: unknown[]) => void warned.push(args.map(String).join(' '));
  try {
    return { result: await fn(), warned };
  } finally {
    console.warn = original;
  }
}

async function rejects(promise: Promise<unknown>, cls: abstract new (...args: any[]) => Error, ...fragments: string[]): Promise<void> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof cls, `expected ${cls.name}, got ${(error as Error)?.constructor?.name}: ${(error as Error)?.message}`);
    for (const f of fragments) assert.ok((error as Error).message.includes(f), `message ${JSON.stringify((error as Error).message)} should contain ${JSON.stringify(f)}`);
    return;
  }
  assert.unreachable(`expected ${cls.name}`);
}

/** A tree whose values say which step it belongs to. */
const treeOf = (step: number) => ({ w: tf.fill([3, 2], step + 0.5), b: tf.tensor1d([step, -step], 'int32') });
const target = { w: tf.zeros([3, 2]), b: tf.zeros([2], 'int32') };

function stepOfTree(tree: { w: tf.Tensor; b: tf.Tensor }): number {
  const w = Array.from(tree.w.dataSync());
  const b = Array.from(tree.b.dataSync());
  assert.ok(w.every((v) => v === w[0]), 'w is uniform');
  assert.equal(b, [w[0]! - 0.5, -(w[0]! - 0.5)]);
  return w[0]! - 0.5;
}

async function saveSteps(manager: InstanceType<typeof CheckpointManager>, steps: Iterable<number>, metric?: (step: number) => Record<string, number>): Promise<boolean[]> {
  const results: boolean[] = [];
  for (const step of steps) {
    const tree = treeOf(step);
    results.push(await manager.save(step, tree, metric ? { metrics: metric(step) } : undefined));
    fx.tree.dispose(tree);
  }
  return results;
}

const stepFiles = async (dir: string) => (await readdir(dir)).filter((n) => n.startsWith('step-')).sort();

test('saves every saveIntervalSteps steps, keeps the last maxToKeep, and says which calls saved', () =>
  withDir(async (dir) => {
    const manager = new CheckpointManager(dir, { maxToKeep: 2, saveIntervalSteps: 10 });
    const saved = await saveSteps(manager, Array.from({ length: 31 }, (_, i) => i));
    assert.equal(saved.flatMap((s, i) => (s ? [i] : [])), [0, 10, 20, 30]);
    assert.equal(manager.steps(), [20, 30]);
    assert.is(manager.latestStep(), 30);
    assert.equal(await stepFiles(dir), ['step-20.safetensors', 'step-30.safetensors']);
  }));

test('creates its folder, nested folders included; an empty folder has no steps', () =>
  withDir(async (dir) => {
    const nested = join(dir, 'a', 'b', 'run');
    const manager = new CheckpointManager(nested);
    assert.equal(manager.steps(), []);
    assert.is(manager.latestStep(), undefined);
    assert.is(manager.bestStep(), undefined);
    await rejects(manager.restore(target), CheckpointError, 'holds no checkpoint');
    assert.equal(await readdir(nested), []);
  }));

test('restore gives the latest step by default and any listed step on request, bit for bit, leaking nothing', () =>
  withDir(async (dir) => {
    const manager = new CheckpointManager(dir);
    await saveSteps(manager, [3, 7, 12]);
    const before = tf.memory().numTensors;
    const latest = await manager.restore(target);
    assert.is(stepOfTree(latest), 12);
    const seven = await manager.restore(target, { step: 7 });
    assert.is(stepOfTree(seven), 7);
    fx.tree.dispose({ latest, seven });
    await rejects(manager.restore(target, { step: 5 }), CheckpointError, 'no checkpoint of step 5', '[3, 7, 12]');
    const wrong = { w: tf.zeros([2, 2]) };
    await rejects(manager.restore(wrong), fx.checkpoint.CheckpointMismatchError, 'step-12.safetensors', 'unexpected b');
    wrong.w.dispose();
    assert.is(tf.memory().numTensors, before);
  }));

test('a manager on the folder of an earlier one sees its steps, metrics and best, and skips steps not after the latest', () =>
  withDir(async (dir) => {
    const first = new CheckpointManager(dir, { maxToKeep: 2, best: { metric: 'loss', mode: 'min' } });
    const losses: Record<number, number> = { 1: 0.9, 2: 0.2, 3: 0.5, 4: 0.4 };
    await saveSteps(first, [1, 2, 3, 4], (s) => ({ loss: losses[s]! }));
    assert.equal(first.steps(), [2, 3, 4]);
    const second = new CheckpointManager(dir, { maxToKeep: 2, best: { metric: 'loss', mode: 'min' } });
    assert.equal(second.steps(), [2, 3, 4]);
    assert.is(second.latestStep(), 4);
    assert.is(second.bestStep(), 2);
    assert.equal(second.metrics(3), { loss: 0.5 });
    assert.is(second.shouldSave(4), false);
    assert.equal(await saveSteps(second, [3, 4, 5], () => ({ loss: 0.1 })), [false, false, true]);
    // 5 is now the best and one of the last two: step 2 goes.
    assert.equal(second.steps(), [4, 5]);
    assert.is(second.bestStep(), 5);
    const restored = await second.restore(target);
    assert.is(stepOfTree(restored), 5);
    fx.tree.dispose(restored);
  }));

test("best by 'max' keeps the largest metric; steps without the metric or with a non-finite one never count as best", () =>
  withDir(async (dir) => {
    const manager = new CheckpointManager(dir, { maxToKeep: 1, best: { metric: 'accuracy', mode: 'max' } });
    const metrics: Record<number, Record<string, number>> = { 1: { accuracy: 0.7 }, 2: { accuracy: 0.95 }, 3: { accuracy: NaN }, 4: { loss: 0.1 }, 5: { accuracy: 0.8 } };
    await saveSteps(manager, [1, 2, 3, 4, 5], (s) => metrics[s]!);
    assert.equal(manager.steps(), [2, 5]);
    assert.is(manager.bestStep(), 2);
    assert.equal(new CheckpointManager(dir, { best: { metric: 'accuracy', mode: 'max' } }).bestStep(), 2);
    assert.equal(new CheckpointManager(dir, { best: { metric: 'accuracy', mode: 'min' } }).bestStep(), 5);
  }));

test('force saves a step off the interval; metadata and config go into the file with step and metrics', () =>
  withDir(async (dir) => {
    const manager = new CheckpointManager(dir, { saveIntervalSteps: 100 });
    const tree = treeOf(37);
    assert.is(await manager.save(37, tree), false);
    assert.is(await manager.save(37, tree, { force: true, metrics: { loss: 0.25 }, metadata: { note: 'warm start' }, config: { lr: 0.1, layers: [4, 2] } }), true);
    fx.tree.dispose(tree);
    const info = await fx.checkpoint.loadInfo(manager.fileOf(37));
    assert.is(info.metadata['step'], '37');
    assert.is(info.metadata['note'], 'warm start');
    assert.equal(info.config, { lr: 0.1, layers: [4, 2] });
    assert.equal(JSON.parse(info.metadata['metrics']!), { loss: 0.25 });
  }));

test('saves called without awaiting run in order; restore waits for them', () =>
  withDir(async (dir) => {
    const manager = new CheckpointManager(dir, { maxToKeep: 2 });
    const trees = [1, 2, 3].map(treeOf);
    const pending = trees.map((tree, i) => manager.save(i + 1, tree));
    fx.tree.dispose(trees); // the tensors were read by save itself
    const restored = await manager.restore(target);
    assert.is(stepOfTree(restored), 3);
    fx.tree.dispose(restored);
    assert.equal(await Promise.all(pending), [true, true, true]);
    assert.equal(manager.steps(), [2, 3]);
    assert.equal(await stepFiles(dir), ['step-2.safetensors', 'step-3.safetensors']);
  }));

test('the metrics log has a JSON line per save with metrics; readMetrics keeps the last record of a step logged twice', () =>
  withDir(async (dir) => {
    const t0 = Date.now() / 1000;
    const manager = new CheckpointManager(dir, { saveIntervalSteps: 2 });
    await saveSteps(manager, [1, 2, 3, 4], (s) => ({ loss: 1 / s, accuracy: s / 10 }));
    const lines = (await readFile(join(dir, 'metrics.jsonl'), 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.map((l) => [l.step, l.loss, l.accuracy]), [[1, 1, 0.1], [2, 0.5, 0.2], [3, 1 / 3, 0.3], [4, 0.25, 0.4]]);
    for (const l of lines) assert.ok(l.wallTime >= t0 - 1 && l.wallTime <= Date.now() / 1000 + 1, `wallTime ${l.wallTime}`);
    // A resumed run (new manager, restored step 2) logs steps 3 and 4 again, with other numbers.
    const resumed = new CheckpointManager(dir, { saveIntervalSteps: 2 });
    await saveSteps(resumed, [3], () => ({ loss: 7, accuracy: NaN }));
    const log = await resumed.readMetrics();
    assert.equal(log.map((r) => [r.step, r['loss'], r['accuracy']]), [[1, 1, 0.1], [2, 0.5, 0.2], [3, 7, null], [4, 0.25, 0.4]]);
  }));

test('a metrics log line cut by a crash is skipped with a warning, and the next line starts fresh', () =>
  withDir(async (dir) => {
    await writeFile(join(dir, 'metrics.jsonl'), '{"step":1,"loss":0.5,"wallTime":1}\n{"step":2,"lo');
    const manager = new CheckpointManager(dir);
    await saveSteps(manager, [3], () => ({ loss: 0.25 }));
    const { result, warned } = await warnings(() => manager.readMetrics());
    assert.equal(result.map((r) => [r.step, r['loss']]), [[1, 0.5], [3, 0.25]]);
    assert.is(warned.length, 1);
    assert.match(warned[0]!, /skipped 1 line of metrics\.jsonl .*line 2/);
  }));

test('foreign files, damaged checkpoints and folders in the way are ignored with one warning, never a crash', () =>
  withDir(async (dir) => {
    const good = new CheckpointManager(dir);
    await saveSteps(good, [5, 10]);
    const whole = await readFile(join(dir, 'step-10.safetensors'));
    await writeFile(join(dir, 'step-20.safetensors'), whole.subarray(0, whole.length - 3)); // truncated
    await writeFile(join(dir, 'step-30.safetensors'), 'not a checkpoint at all');
    await writeFile(join(dir, 'step-40.safetensors'), whole); // says step 10 inside
    await mkdir(join(dir, 'step-50.safetensors'));
    await writeFile(join(dir, 'notes.txt'), 'hello');
    await writeFile(join(dir, 'step-007.safetensors'), whole);
    const { result: manager, warned } = await warnings(() => new CheckpointManager(dir));
    assert.equal(manager.steps(), [5, 10]);
    assert.is(warned.length, 1, 'one warning');
    const message = warned[0]!;
    assert.ok(message.includes('ignores 6 files'), message);
    for (const name of ['step-20', 'step-30', 'step-40', 'step-50', 'notes.txt', 'step-007']) assert.ok(message.includes(name), `${name} in ${message}`);
    assert.ok(message.includes('says step "10"'), message);
    const restored = await manager.restore(target);
    assert.is(stepOfTree(restored), 10);
    fx.tree.dispose(restored);
    // The next save past the damaged step numbers replaces them.
    await saveSteps(manager, [20]);
    const { result: after, warned: again } = await warnings(() => new CheckpointManager(dir, {}));
    assert.equal(after.steps(), [5, 10, 20]);
    assert.ok(again[0]!.includes('ignores 5 files') && !again[0]!.includes('step-20'), again[0]);
  }));

test('a half-written step (a temporary file) is never listed; one left by a dead process is removed at the next save', () =>
  withDir(async (dir) => {
    const manager = new CheckpointManager(dir);
    await saveSteps(manager, [1]);
    const whole = await readFile(join(dir, 'step-1.safetensors'));
    const deadTemp = `.step-2.safetensors.${host}.999999999.1.flaxen-tmp`;
    const liveTemp = `.step-3.safetensors.${host}.${process.pid}.77.flaxen-tmp`;
    await writeFile(join(dir, deadTemp), whole.subarray(0, 20));
    await writeFile(join(dir, liveTemp), whole.subarray(0, 20));
    const { result: reopened, warned } = await warnings(() => new CheckpointManager(dir));
    assert.equal(reopened.steps(), [1]);
    assert.equal(warned, []);
    await saveSteps(reopened, [4]);
    const names = await readdir(dir);
    assert.not.ok(names.includes(deadTemp), 'the dead process’s temporary file is gone');
    assert.ok(names.includes(liveTemp), 'a running process’s temporary file stays');
  }));

test('bad options and arguments are FlaxenErrors that name the option and what was found', () =>
  withDir(async (dir) => {
    const { FlaxenError } = fx;
    assertThrows(() => new CheckpointManager(dir, { maxToKeep: 0 }), FlaxenError, "option 'maxToKeep' must be a positive integer, found number 0");
    assertThrows(() => new CheckpointManager(dir, { saveIntervalSteps: 2.5 }), FlaxenError, "'saveIntervalSteps' must be a positive integer, found number 2.5");
    assertThrows(() => new CheckpointManager(dir, { keep: 3 } as any), FlaxenError, "unknown option 'keep'", 'maxToKeep, saveIntervalSteps, best');
    assertThrows(() => new CheckpointManager(dir, { best: { metric: 'loss', mode: 'lowest' } as any }), FlaxenError, "best.mode must be 'min' or 'max'", '"lowest"');
    assertThrows(() => new CheckpointManager(dir, { best: { mode: 'min' } as any }), FlaxenError, 'best.metric must name a metric');
    assertThrows(() => new CheckpointManager(dir, { best: { metric: 'loss', mode: 'min', k: 1 } as any }), FlaxenError, "unknown option 'k'");
    assertThrows(() => new CheckpointManager('' as string), CheckpointError, 'non-empty path');
    await writeFile(join(dir, 'file'), 'x');
    assertThrows(() => new CheckpointManager(join(dir, 'file')), CheckpointError, 'could not create the folder');
    const { result: manager } = await warnings(() => new CheckpointManager(dir)); // warns of 'file'
    const tree = treeOf(1);
    await rejects(manager.save(-1, tree), FlaxenError, 'step must be a non-negative integer, found number -1');
    await rejects(manager.save(1, tree, { metrics: { loss: '0.5' as any } }), FlaxenError, "metric 'loss' must be a number");
    await rejects(manager.save(1, tree, { metrics: { step: 1 } }), FlaxenError, "'step' is reserved");
    await rejects(manager.save(1, tree, { metadata: { step: '1' } }), FlaxenError, "metadata 'step' is written by the manager");
    await rejects(manager.save(1, tree, { every: 2 } as any), FlaxenError, "unknown option 'every'");
    await rejects(manager.save(1, { w: 'x' }), FlaxenError);
    await rejects(manager.restore(target, { step: 1.5 }), FlaxenError, 'found number 1.5');
    fx.tree.dispose(tree);
    assert.equal(manager.steps(), [], 'nothing was saved by the refused calls');
    // A refused save leaves the manager usable.
    assert.is(await saveSteps(manager, [1]).then((r) => r[0]), true);
  }));

test.after(() => fx.tree.dispose(target));

test.run();
