import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { pipe } from 'fp-ts/lib/function.js';
import * as TE from 'fp-ts/lib/TaskEither.js';
import * as fx from '../../lib/index.js';
import { values } from '../setup.js';
import { rawFile } from './raw.js';
import { host, withTempDir } from './temp-dir.js';

const { CheckpointError, CheckpointMismatchError } = fx.checkpoint;
const net = () => fx.nn.Sequential([fx.nn.Dense(4), fx.nn.relu, fx.nn.Dense(2)]);

const withDir = (fn: (dir: string) => Promise<void>): Promise<void> => withTempDir('flaxen-io-', fn);

async function rejects(promise: Promise<unknown>, cls: abstract new (...args: any[]) => Error, ...fragments: string[]): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof cls, `expected ${cls.name}, got ${(error as Error)?.constructor?.name}: ${(error as Error)?.message}`);
    for (const f of fragments) assert.ok((error as Error).message.includes(f), `message ${JSON.stringify((error as Error).message)} should contain ${JSON.stringify(f)}`);
    return error as Error;
  }
  assert.unreachable(`expected ${cls.name}`);
  throw new Error('unreachable');
}

test('save then load gives back the same tensors; the file is exactly toBytes’ output', () =>
  withDir(async (dir) => {
    const file = join(dir, 'mlp.safetensors');
    const vars = net().init(fx.random.key(5), [1, 3]);
    await fx.checkpoint.save(file, vars, { step: '3' });
    assert.equal(new Uint8Array(await readFile(file)), fx.checkpoint.toBytes(vars, { step: '3' }));
    const back = await fx.checkpoint.load(file, net().initShapes(fx.random.key(0), [1, 3]));
    fx.tree.mapN([vars, back], ([a, b]: tf.Tensor[], path) => assert.equal(values(b!), values(a!), path));
    assert.equal((await fx.checkpoint.loadInfo(file)).metadata, { step: '3' });
    assert.equal(await readdir(dir), ['mlp.safetensors'], 'no temporary file is left');
    fx.tree.dispose([vars, back]);
  }));

test('save reads the tensors before it returns its promise, so they may be disposed at once', () =>
  withDir(async (dir) => {
    const t = tf.tensor1d([1, 2, 3]);
    const saving = fx.checkpoint.save(join(dir, 'a.safetensors'), { t });
    t.dispose();
    await saving;
    const back = (await fx.checkpoint.load(join(dir, 'a.safetensors'))) as any;
    assert.equal(values(back.t), [1, 2, 3]);
    fx.tree.dispose(back);
  }));

test('saving over an existing checkpoint replaces it whole', () =>
  withDir(async (dir) => {
    const file = join(dir, 'c.safetensors');
    const a = tf.ones([1000]);
    const b = tf.fill([10], 2);
    await fx.checkpoint.save(file, { a });
    await fx.checkpoint.save(file, { b });
    const back = (await fx.checkpoint.load(file)) as any;
    assert.equal(Object.keys(back), ['b']);
    assert.equal(values(back.b), Array(10).fill(2));
    fx.tree.dispose([a, b, back]);
  }));

test('file errors reject with a CheckpointError naming the file and the cause', () =>
  withDir(async (dir) => {
    const missing = join(dir, 'nope.safetensors');
    const error = await rejects(fx.checkpoint.load(missing), CheckpointError, `could not read checkpoint file '${missing}'`, 'no such file or directory (ENOENT)');
    assert.is(((error as Error & { cause?: { code?: string } }).cause)?.code, 'ENOENT');
    await rejects(fx.checkpoint.loadInfo(missing), CheckpointError, 'ENOENT');
    const t = tf.ones([1]);
    await rejects(fx.checkpoint.save(join(dir, 'no-such-dir', 'x.safetensors'), { t }), CheckpointError, 'could not write', 'ENOENT');
    await rejects(fx.checkpoint.load(dir), CheckpointError, 'it is a directory');
    await rejects(fx.checkpoint.save('', { t }), CheckpointError, 'non-empty path');
    t.dispose();
    assert.equal(await readdir(dir), [], 'a failed save leaves nothing behind');
  }));

test('save refuses a bad tree before touching the disk; saveBytes refuses bytes that are not a checkpoint', () =>
  withDir(async (dir) => {
    const file = join(dir, 'x.safetensors');
    await rejects(fx.checkpoint.save(file, { w: [3] }), CheckpointError, 'w:', 'leaves must be tensors, finite numbers or random keys');
    await rejects(fx.checkpoint.saveBytes(file, new Uint8Array([1, 2, 3])), CheckpointError, 'saveBytes', '8-byte header length');
    assert.equal(await readdir(dir), []);
    const t = tf.ones([2]);
    await fx.checkpoint.saveBytes(file, fx.checkpoint.toBytes({ t }));
    const back = (await fx.checkpoint.load(file)) as any;
    assert.equal(values(back.t), [1, 1]);
    fx.tree.dispose([t, back]);
  }));

test('damaged files and mismatched targets reject with the file named in the message', () =>
  withDir(async (dir) => {
    const file = join(dir, 'bad.safetensors');
    await writeFile(file, rawFile({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4), 2n ** 60n));
    await rejects(fx.checkpoint.load(file), CheckpointError, `checkpoint file '${file}'`, 'header length field says 1,152,921,504,606,846,976 bytes');
    await rejects(fx.checkpoint.loadInfo(file), CheckpointError, 'header length field says');
    const good = join(dir, 'good.safetensors');
    const vars = net().init(fx.random.key(0), [1, 3]);
    await fx.checkpoint.save(good, vars);
    const before = tf.memory().numTensors;
    await rejects(fx.checkpoint.load(good, net().initShapes(fx.random.key(0), [1, 7])), CheckpointMismatchError, `checkpoint file '${good}' does not match the target`, 'params/layers_0/kernel');
    assert.is(tf.memory().numTensors, before);
    fx.tree.dispose(vars);
  }));

test('loadTask and saveTask are fp-ts TaskEithers that never reject', () =>
  withDir(async (dir) => {
    const file = join(dir, 'task.safetensors');
    const vars = net().init(fx.random.key(1), [1, 3]);
    const saveTask = fx.checkpoint.saveTask(file, vars);
    assert.equal(await readdir(dir), [], 'nothing happens until the task runs');
    assert.equal(await saveTask(), { _tag: 'Right', right: undefined });
    const counted = await pipe(
      fx.checkpoint.loadTask(file, net().initShapes(fx.random.key(0), [1, 3])),
      TE.map((loaded) => {
        const n = fx.tree.count(loaded);
        fx.tree.dispose(loaded);
        return n;
      }),
    )();
    assert.equal(counted, { _tag: 'Right', right: 3 * 4 + 4 + 4 * 2 + 2 });
    const missing = await fx.checkpoint.loadTask(join(dir, 'missing.safetensors'))();
    assert.ok(missing._tag === 'Left' && missing.left instanceof CheckpointError && missing.left.message.includes('ENOENT'));
    const badSave = await fx.checkpoint.saveTask(file, { w: Infinity })();
    assert.ok(badSave._tag === 'Left' && badSave.left instanceof fx.FlaxenError);
    fx.tree.dispose(vars);
  }));

test('save removes temporary files left by dead savers of the same checkpoint on this host, and no others', () =>
  withDir(async (dir) => {
    // A pid that certainly ran and exited: a finished child process.
    const deadPid = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
    const stale = `.m.safetensors.${host}.${deadPid}.1.flaxen-tmp`;
    const alive = `.m.safetensors.${host}.${process.ppid}.1.flaxen-tmp`; // the parent of this process is running
    const otherHost = `.m.safetensors.elsewhere-${host}.${deadPid}.1.flaxen-tmp`;
    const otherFile = `.m.safetensors.bak.${host}.${deadPid}.1.flaxen-tmp`;
    const unrelated = 'notes.txt';
    for (const name of [stale, alive, otherHost, otherFile, unrelated]) await writeFile(join(dir, name), 'x');
    const t = tf.ones([1]);
    await fx.checkpoint.save(join(dir, 'm.safetensors'), { t });
    t.dispose();
    assert.equal((await readdir(dir)).sort(), [alive, otherFile, otherHost, 'm.safetensors', unrelated].sort());
  }));

test('a target name of 232 characters or more saves: the temporary name is shortened to fit the 255-byte limit', () =>
  withDir(async (dir) => {
    const w = tf.tensor([1, 2]);
    for (const length of [232, 240, 255]) {
      const name = 'n'.repeat(length - '.safetensors'.length) + '.safetensors';
      await fx.checkpoint.save(join(dir, name), { w });
      const back = (await fx.checkpoint.load(join(dir, name))) as { w: tf.Tensor };
      assert.equal(values(back.w), [1, 2]);
      back.w.dispose();
    }
    // Two long names that differ only at the end get different temporary names.
    const [a, b] = ['a', 'b'].map((c) => 'x'.repeat(200) + c);
    const { tempStem } = await import('../../lib/checkpoint/atomic.js');
    assert.is.not(tempStem(a!), tempStem(b!));
    assert.ok(Buffer.byteLength(tempStem('é'.repeat(200))) <= 89, 'multi-byte names are cut by bytes');
    assert.is(tempStem('short.safetensors'), 'short.safetensors', 'short names are kept');
    assert.equal((await readdir(dir)).length, 3, 'no temporary file is left');
    w.dispose();
  }));

test.run();
