// The Python code in docs/interop.md runs: its ```python blocks are read, and those that can run
// here run in order (like notebook cells, sharing their names) in one child /usr/bin/python3
// process with a time limit, in a folder holding the files the page's flaxen code writes (made
// here with the same calls). Each must run without an error, and a plain ``` block right after
// one is what it prints. A block that needs what this machine cannot have says so on its fence
// line, and is skipped, counted and printed:
//   ```python needs-jax          JAX and Flax (no Debian package)
//   ```python needs-onnxruntime  ONNX Runtime for Python (no Debian package)
//   ```python needs-cluster      torchrun and GPUs
// `safetensors` is on PyPI only, which this machine cannot reach: when it is not importable, a
// stand-in (spec/fixtures/torch_twins_safetensors, on torch_twins.py's reader and writer) is put
// on the path. Needs Debian's python3-torch; without it the spec says so loudly and skips.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as tf from '@tensorflow/tfjs-core';
import * as fx from '../../lib/index.js';
import '../setup.js';
import { pythonWith } from './python.js';

const DOC = fileURLToPath(new URL('../../../docs/interop.md', import.meta.url));
const STAND_IN = fileURLToPath(new URL('../../../spec/fixtures/torch_twins_safetensors', import.meta.url));
const NEEDS = new Map([
  ['needs-jax', 'JAX and Flax'],
  ['needs-onnxruntime', 'ONNX Runtime for Python'],
  ['needs-cluster', 'torchrun and GPUs'],
]);

interface PythonBlock {
  /** The 1-based line of its first code line in docs/interop.md. */
  readonly line: number;
  readonly code: string;
  readonly flags: readonly string[];
  /** What it prints, when a plain ``` block follows it. */
  readonly output?: string;
}

/** The ```python blocks of a markdown text, with their fence flags and the output block after each. */
function pythonBlocks(text: string): PythonBlock[] {
  const lines = text.split('\n');
  const fences: Array<{ lang: string; flags: string[]; line: number; end: number; body: string[] }> = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\s*)(```+)\s*([\w-]*)(.*)$/.exec(lines[i]!);
    if (!m) continue;
    const indent = m[1]!.length;
    let j = i + 1;
    const body: string[] = [];
    while (j < lines.length && lines[j]!.trim() !== m[2]) body.push(lines[j++]!.slice(indent));
    fences.push({ lang: m[3]!.toLowerCase(), flags: m[4]!.trim().split(/\s+/).filter(Boolean), line: i + 2, end: j, body });
    i = j;
  }
  return fences.flatMap((f, k) => {
    if (f.lang !== 'python') return [];
    const next = fences[k + 1];
    const isOutput = next !== undefined && (next.lang === '' || next.lang === 'text') && lines.slice(f.end + 1, next.line - 2).every((l) => l.trim() === '');
    return [{ line: f.line, code: f.body.join('\n'), flags: f.flags, ...(isOutput ? { output: next.body.join('\n') } : {}) }];
  });
}

/**
 * Runs the blocks given as JSON (argv[1]) in order, in one namespace, each with its stdout
 * captured; stops at the first error. Prints one JSON line: which safetensors ran, and per block
 * what it printed or the traceback.
 */
const DRIVER = `
import contextlib, io, json, sys, traceback
blocks = json.load(open(sys.argv[1]))
try:
    import safetensors.torch
    safetensors_used = "the safetensors package"
except ImportError:
    sys.path.insert(0, sys.argv[2])
    import safetensors.torch
    safetensors_used = "the stand-in in spec/fixtures/torch_twins_safetensors"
namespace = {"__name__": "__main__"}
results = []
for block in blocks:
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(block["code"], "docs/interop.md:%d" % block["line"], "exec"), namespace)
        results.append({"line": block["line"], "printed": out.getvalue()})
    except BaseException:
        results.append({"line": block["line"], "printed": out.getvalue(), "error": traceback.format_exc()})
        break
print(json.dumps({"safetensors": safetensors_used, "results": results}))
`;

/** The files the page's flaxen code writes and its Python blocks read, written by the same calls. */
async function writeDocFiles(dir: string): Promise<void> {
  const save = async (file: string, variables: fx.Variables) => {
    const sd = fx.interop.toTorch(variables);
    try {
      await fx.checkpoint.saveTensors(join(dir, file), sd);
    } finally {
      fx.tree.dispose(sd);
      fx.tree.dispose(variables);
    }
  };
  // "Fine-tune a PyTorch-trained model": the MLP, after fine-tuning.
  const net = fx.nn.Sequential([fx.nn.Dense(16), fx.nn.relu, fx.nn.Dense(4)]);
  await save('mlp-finetuned.safetensors', net.init(fx.random.key(0), [1, 6]));
  // "Prototype in flaxen": the Classifier.
  const Classifier = fx.nn.module('Classifier', (scope, x: tf.Tensor) => {
    const h = fx.nn.relu(scope.call(fx.nn.Dense(32), x, { name: 'hidden' }));
    return scope.call(fx.nn.Dense(3), scope.call(fx.nn.LayerNorm({ epsilon: 1e-5 }), h, { name: 'norm' }), { name: 'head' });
  });
  await save('classifier.safetensors', Classifier.init(fx.random.key(5), [1, 10]));
}

test('the block reader finds fences, flags and output blocks', () => {
  const blocks = pythonBlocks(['text', '```python', 'print(1)', '```', '', '```', '1', '```', '```python needs-jax', 'import jax', '```', '```ts', 'x', '```'].join('\n'));
  assert.equal(blocks, [
    { line: 3, code: 'print(1)', flags: [], output: '1' },
    { line: 10, code: 'import jax', flags: ['needs-jax'] },
  ]);
});

test('the Python blocks of docs/interop.md run against the files flaxen writes', async () => {
  const blocks = pythonBlocks(readFileSync(DOC, 'utf8'));
  for (const b of blocks) {
    for (const flag of b.flags) assert.ok(NEEDS.has(flag), `docs/interop.md:${b.line - 1}: unknown flag '${flag}' on a python block (known: ${[...NEEDS.keys()].join(', ')})`);
  }
  const runnable = blocks.filter((b) => b.flags.length === 0);
  const skipped = blocks.filter((b) => b.flags.length > 0);
  assert.ok(runnable.length >= 3, `only ${runnable.length} runnable python blocks`);
  const dir = mkdtempSync(join(tmpdir(), 'flaxen-docs-python-'));
  try {
    await writeDocFiles(dir);
    writeFileSync(join(dir, 'blocks.json'), JSON.stringify(runnable.map(({ line, code }) => ({ line, code }))));
    const run = pythonWith('torch').run(['-c', DRIVER, join(dir, 'blocks.json'), STAND_IN], { cwd: dir, timeout: 120_000, env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
    if (!run) return;
    assert.is(run.status, 0, `python failed (${run.signal ?? run.status}): ${run.stderr}`);
    const { safetensors, results } = JSON.parse(run.stdout) as { safetensors: string; results: Array<{ line: number; printed: string; error?: string }> };
    const failed = results.find((r) => r.error !== undefined);
    assert.is(failed, undefined, `docs/interop.md:${failed?.line}: the block failed:\n${failed?.error}`);
    assert.is(results.length, runnable.length);
    runnable.forEach((b, i) => {
      if (b.output !== undefined) assert.is(results[i]!.printed.trimEnd(), b.output.trimEnd(), `docs/interop.md:${b.line}: what the block prints`);
    });
    const reasons = skipped.map((b) => `docs/interop.md:${b.line} (${b.flags.map((f) => NEEDS.get(f)).join(', ')})`);
    console.log(`  ran ${runnable.length} python blocks of docs/interop.md with ${safetensors}; skipped ${skipped.length}: ${reasons.join('; ')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
