// The saving process of the crash test (spec/checkpoint/crash.spec.ts): it saves two different
// checkpoints (made by fx.checkpoint.toBytes in the parent, passed as files) over the same file,
// alternately, with fx.checkpoint.saveBytes (the writing half of `save`), until it is killed.
// It imports only lib/checkpoint/atomic.js, not tfjs, so it starts in milliseconds and the
// test can afford many kills. It prints `ready` once its first save is complete.
// With FLAXEN_CRASH_NAIVE=1 it writes in place with fs.writeFile instead: the negative control,
// against which the crash test fails (torn or truncated files), showing that it can fail.
import { readFile, writeFile } from 'node:fs/promises';
import { saveBytes } from '../../lib/checkpoint/atomic.js';

const [file, version0, version1] = process.argv.slice(2);
if (!file || !version0 || !version1) throw new Error('usage: crash-child <file> <version0.bin> <version1.bin>');
const versions = [await readFile(version0), await readFile(version1)];
const naive = process.env['FLAXEN_CRASH_NAIVE'] === '1';
for (let i = 0; ; i++) {
  const bytes = versions[i % 2]!;
  if (naive) await writeFile(file, bytes);
  else await saveBytes(file, bytes);
  if (i === 0) process.stdout.write('ready\n');
}
