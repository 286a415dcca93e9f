// Crash safety of fx.checkpoint.save: child processes save two different checkpoints over the
// same file in a loop (`saveBytes`, the file-writing half of `save`, on bytes from `toBytes`)
// and are killed with SIGKILL: half of the kills after delays drawn from a seeded generator, half
// as soon as a temporary file appears (inside a write). After every kill the file must load and
// equal one of the two versions exactly.
// Negative control (not run in the suite): FLAXEN_CRASH_NAIVE=1 makes the child write in place
// with fs.writeFile; then this test fails (torn or truncated files).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { watch } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../../lib/index.js';
import '../setup.js';

const CHILD = fileURLToPath(new URL('./crash-child.js', import.meta.url));
const SIZE = 400_000; // elements of the larger tensor: a 2 MB checkpoint
const KILLS = Number(process.env['FLAXEN_CRASH_KILLS'] ?? 16);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts a saving child and resolves once its first save is complete. */
function startSaver(file: string, versionFiles: string[]): Promise<ReturnType<typeof spawn>> {
  const child = spawn(process.execPath, [CHILD, file, ...versionFiles], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('ready\n')) resolve(child);
    });
    child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('exit', (code) => reject(new Error(`the saving child exited early (${code}): ${err}`)));
  });
}

/** Checks that a loaded checkpoint is exactly version 0 or version 1; returns the version. */
function versionOf(vars: any, metadataVersion: string): number {
  const version = Number(metadataVersion);
  assert.ok(version === 0 || version === 1, `metadata version ${metadataVersion}`);
  const w = vars.params.w.dataSync() as Float32Array;
  const b = vars.params.b.dataSync() as Int32Array;
  assert.is(w.length, SIZE + version * 1000, 'w has the size of its version');
  assert.is(b.length, SIZE / 4, 'b has its size');
  for (let i = 0; i < w.length; i++) if (w[i] !== version + 1.5) assert.unreachable(`w[${i}] = ${w[i]}, expected ${version + 1.5} (a torn write)`);
  for (let i = 0; i < b.length; i++) if (b[i] !== -version - 2) assert.unreachable(`b[${i}] = ${b[i]}, expected ${-version - 2} (a torn write)`);
  return version;
}

test(`a saver killed ${KILLS} times (at seeded random moments and inside writes) always leaves a complete old or new checkpoint`, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'flaxen-crash-'));
  const file = join(dir, 'model.safetensors');
  const next = fx.random.generator(fx.random.key(4242));
  // Version 0 and version 1 differ in size and in every value, so a mix cannot pass for either.
  const versionFiles: string[] = [];
  for (const version of [0, 1]) {
    const tree = { params: { w: tf.fill([SIZE + version * 1000], version + 1.5), b: tf.fill([SIZE / 4], -version - 2, 'int32') } };
    versionFiles.push(join(dir, `version${version}.bin`));
    await writeFile(versionFiles[version]!, fx.checkpoint.toBytes(tree, { version: String(version) }));
    fx.tree.dispose(tree);
  }
  const versions = [0, 0];
  let killedMidWrite = 0;
  try {
    for (let k = 0; k < KILLS; k++) {
      const child = await startSaver(file, versionFiles);
      const exited = new Promise((resolve) => child.once('exit', resolve));
      if (k % 2 === 0) {
        await sleep(Math.floor(next() * 60));
      } else {
        // Every other kill aims at the inside of a write: the moment a temporary file appears.
        await new Promise<void>((resolve) => {
          const watcher = watch(dir, (_event, name) => {
            if (String(name).endsWith('.flaxen-tmp')) finish();
          });
          const timer = setTimeout(() => finish(), 2000);
          function finish() {
            clearTimeout(timer);
            watcher.close();
            resolve();
          }
        });
      }
      child.kill('SIGKILL');
      await exited;
      const temps = (await readdir(dir)).filter((n) => n.endsWith('.flaxen-tmp'));
      if (temps.length > 0) killedMidWrite++;
      const before = tf.memory().numTensors;
      const info = await fx.checkpoint.loadInfo(file);
      const vars = await fx.checkpoint.load(file);
      versions[versionOf(vars, info.metadata['version']!)]!++;
      fx.tree.dispose(vars);
      assert.is(tf.memory().numTensors, before);
    }
    // The kills did land inside writes (a temporary file was left), not only between saves.
    assert.ok(killedMidWrite >= 1, `no kill landed during a write (${KILLS} kills)`);
    console.log(`  crash test: ${KILLS} kills, ${killedMidWrite} during a write (temp file left), versions seen ${JSON.stringify(versions)}`);
    // The next save on this host removes the temporary files of the killed savers.
    const t = tf.ones([1]);
    await fx.checkpoint.save(file, { t });
    t.dispose();
    assert.equal((await readdir(dir)).sort(), ['model.safetensors', 'version0.bin', 'version1.bin']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
