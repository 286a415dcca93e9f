// Checkpoint readers refuse anything that is not a regular file before reading it (issue 11,
// item 2): `load('/dev/zero')` used to grow to 23 GB, `/dev/urandom` likewise, and a FIFO hung
// `load` and `loadInfo`. Each case runs in a child process (spec/checkpoint/devices-child.ts)
// with a time limit, a heap limit and a watchdog on its resident memory (a Buffer read from
// /dev/zero grows outside the heap limit), so a regression fails here instead of taking the
// machine.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as fx from '../../lib/index.js';
import * as tf from '@tensorflow/tfjs-core';
import '../setup.js';
import { runChild } from '../child.js';

const CHILD = fileURLToPath(new URL('./devices-child.js', import.meta.url));
/** A reader that reads without end or blocks is killed by one of these, and its test fails. */
const LIMITS = { timeoutMs: 60_000, maxOldSpaceMb: 256, maxResidentMb: 512 };

interface Outcome {
  readonly ok?: boolean;
  readonly error?: string;
  readonly message?: string;
}

/** Runs one reader on one path in a child under LIMITS; rejects when it passes one. */
async function readInChild(fn: 'load' | 'loadInfo' | 'loadTensors', file: string): Promise<Outcome> {
  const result = await runChild(CHILD, [fn, file], LIMITS);
  if (result.timedOut || result.overMemory) throw new Error(`${fn}('${file}') ${result.ending}: it reads without end or blocks`);
  const line = result.stdout.trim().split('\n').pop();
  if (!line) throw new Error(`${fn}('${file}') ${result.ending} and printed nothing: ${result.stderr.slice(-500)}`);
  return JSON.parse(line) as Outcome;
}

const READERS = ['load', 'loadInfo', 'loadTensors'] as const;

async function expectRefused(file: string, kind: string): Promise<void> {
  for (const fn of READERS) {
    const outcome = await readInChild(fn, file);
    assert.is(outcome.error, 'CheckpointError', `${fn}('${file}'): ${JSON.stringify(outcome)}`);
    assert.ok(outcome.message!.includes(`could not read checkpoint file '${file}': it is ${kind}, not a regular file`), `${fn}('${file}'): ${outcome.message}`);
  }
}

let dir = '';
test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flaxen-devices-'));
});
test.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('/dev/zero and /dev/urandom are refused before anything is read, by every reader', async () => {
  for (const device of ['/dev/zero', '/dev/urandom']) {
    if (existsSync(device)) await expectRefused(device, 'a character device');
  }
});

test('a symbolic link to /dev/zero is refused as the device it points to', async () => {
  if (!existsSync('/dev/zero')) return;
  const link = join(dir, 'zero.safetensors');
  await symlink('/dev/zero', link);
  await expectRefused(link, 'a character device');
});

test('a FIFO is refused without blocking, by load, loadInfo and loadTensors', async () => {
  const fifo = join(dir, 'pipe.safetensors');
  try {
    execFileSync('mkfifo', [fifo]);
  } catch {
    return; // no mkfifo on this system
  }
  await expectRefused(fifo, 'a FIFO (named pipe)');
});

test('a directory is refused with the same message', async () => {
  const folder = join(dir, 'folder.safetensors');
  await mkdir(folder);
  await expectRefused(folder, 'a directory');
});

test('a regular file, and a symbolic link to one, still load (in this process)', async () => {
  const file = join(dir, 'w.safetensors');
  const w = tf.tensor([1, 2, 3]);
  await writeFile(file, fx.checkpoint.toBytes({ w }));
  const link = join(dir, 'link.safetensors');
  await symlink(file, link);
  for (const path of [file, link]) {
    const back = (await fx.checkpoint.load(path)) as { w: tf.Tensor };
    assert.equal(Array.from(back.w.dataSync()), [1, 2, 3]);
    back.w.dispose();
    assert.equal((await fx.checkpoint.loadInfo(path)).tensors.map((t) => t.path), ['w']);
  }
  w.dispose();
});

test('a file that holds more bytes than its header declares is refused from its header', async () => {
  // A valid header over 4 bytes of data, then 64 MB more: the tiling check refuses the trailing
  // bytes from the header and the file's size, before the data is read.
  const w = tf.tensor([1]);
  const bytes = fx.checkpoint.toBytes({ w });
  w.dispose();
  const file = join(dir, 'long.safetensors');
  const padded = new Uint8Array(bytes.length + 64 * 2 ** 20);
  padded.set(bytes);
  await writeFile(file, padded);
  for (const fn of READERS) {
    const outcome = await readInChild(fn, file);
    assert.is(outcome.error, 'CheckpointError', fn);
    assert.ok(outcome.message!.includes('trailing bytes'), outcome.message);
  }
});

test.run();
