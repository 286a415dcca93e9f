// The character-level LM example in a tiny configuration, in child processes with a time limit:
// both models beat the unigram and bigram baselines it computes, sampling is reproducible by key,
// the loss curve is written, and a stopped run resumed from its checkpoint ends bit for bit where
// an uninterrupted run ends.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CharLMResult } from '../../examples/char-lm.js';

const SCRIPT = fileURLToPath(new URL('../../examples/char-lm.js', import.meta.url));
/** Generous: a few seconds of work on an idle core, many more on a loaded machine. */
const TIME_LIMIT_MS = 240_000;

/** Small models that still learn more than bigram statistics in 100 (LSTM) and 200 (Transformer) steps. */
const TINY = ['--batch-size', '32', '--seq-length', '16', '--hidden', '48', '--width', '32', '--depth', '1', '--lr', '0.02', '--val-words', '1000'];

function run(args: readonly string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--max-old-space-size=1024', SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`char-lm ${args.join(' ')} took longer than ${TIME_LIMIT_MS / 1000} s:\n${out}`));
    }, TIME_LIMIT_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

const readResult = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, 'result.json'), 'utf8')) as CharLMResult;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'flaxen-char-lm-'));

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('a tiny run: both models beat the unigram and bigram baselines and sample reproducibly by key', async () => {
  const dir = path.join(tmp, 'tiny');
  const { code, out } = await run([...TINY, '--lstm-steps', '100', '--transformer-steps', '200', '--out', dir]);
  assert.is(code, 0, out);
  const result = readResult(dir);
  // the baselines: a bigram knows more than a unigram; both near what the corpus gives (about 2.9 and 2.5 nats)
  assert.ok(result.bigramNats < result.unigramNats, out);
  assert.ok(result.unigramNats > 2.7 && result.unigramNats < 3.1 && result.bigramNats > 2.3 && result.bigramNats < 2.7, out);
  assert.equal(result.models.map((m) => m.name), ['LSTM', 'Transformer']);
  for (const m of result.models) {
    assert.ok(m.valNats < result.unigramNats && m.valNats < result.bigramNats, `${m.name} ${m.valNats} vs bigram ${result.bigramNats}\n${out}`);
    assert.ok(m.reproducible && m.keyMatters, `${m.name} sampling\n${out}`);
    assert.is(m.samples.length, 4);
    assert.ok(m.samples.every((s) => s.length === 60 && /^[a-z\n]+$/.test(s)), m.samples.join('|'));
  }
  assert.match(out, /LSTM: .*\n[\s\S]*beats the unigram baseline: true; beats the bigram baseline: true/);
  assert.match(out, /the same key gives the same text: true/);
  const svg = fs.readFileSync(result.curvePath, 'utf8');
  assert.ok(svg.startsWith('<svg') && svg.includes('<polyline') && svg.includes('bigram'), 'the loss curve is an SVG with curves and baselines');
});

test('a stopped run resumes from its checkpoint and ends bit for bit like an uninterrupted one', async () => {
  const steps = ['--lstm-steps', '8', '--transformer-steps', '8', '--save-every', '4', '--val-words', '300'];
  const straight = path.join(tmp, 'straight');
  const resumed = path.join(tmp, 'resumed');
  const a = await run([...TINY, ...steps, '--out', straight]);
  assert.is(a.code, 1, 'eight steps do not beat the bigram: the example says so by its exit code');
  const stopped = await run([...TINY, ...steps, '--stop-after', '4', '--out', resumed]);
  assert.is(stopped.code, 0, stopped.out);
  assert.equal(readResult(resumed).models.map((m) => m.steps), [4, 4]);
  const b = await run([...TINY, ...steps, '--out', resumed]);
  assert.match(b.out, /LSTM: .*resumed from the checkpoint of step 4/);
  assert.match(b.out, /Transformer: .*resumed from the checkpoint of step 4/);
  const [x, y] = [readResult(straight), readResult(resumed)];
  for (let i = 0; i < 2; i++) {
    assert.is(y.models[i]!.steps, 8);
    assert.is(y.models[i]!.resumedFrom, 4);
    assert.is(y.models[i]!.valNats, x.models[i]!.valNats, `${x.models[i]!.name}: the resumed run's validation loss`);
    assert.equal(y.models[i]!.samples, x.models[i]!.samples);
    // the loss log spans both runs: step 4 from the stopped one, step 8 from the resumed one
    assert.equal(y.models[i]!.trainCurve.map(([s]) => s), [4, 8]);
  }
});

test.run();
