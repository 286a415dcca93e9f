// ONNX's own checker on what toOnnx writes: every model the ONNX specs export (onnx-models.ts)
// goes through onnx.checker.check_model(model, full_check=True) (the structural checks plus
// strict shape inference) in one child /usr/bin/python3 process, with a time limit. Needs the
// onnx Python package (Debian's python3-onnx); without it the spec says so loudly and skips.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../../lib/index.js';
import { ONNX_DTYPE, encodeModel } from '../../lib/interop/onnx-proto.js';
import '../setup.js';
import { ALL_ONNX_CASES, initCase } from './onnx-models.js';
import { pythonWith } from './python.js';

/** Checks each file named on the command line; prints { file: "ok" | the checker's complaint } as JSON. */
const CHECK = `
import json, sys
import onnx
results = {}
for path in sys.argv[1:]:
    try:
        onnx.checker.check_model(onnx.load(path), full_check=True)
        results[path] = "ok"
    except Exception as e:
        results[path] = type(e).__name__ + ": " + str(e)
print(json.dumps({"version": onnx.__version__, "results": results}))
`;

/** A model the checker must refuse (a node reads a value nothing defines): proof that it checks. */
function brokenModel(): Uint8Array {
  return encodeModel({
    opset: 13,
    irVersion: 7,
    producerVersion: 'spec',
    docString: '',
    graphName: 'broken',
    nodes: [{ opType: 'Relu', input: ['undefined_value'], output: ['output'], name: 'relu', attribute: [] }],
    initializers: [],
    inputs: [{ name: 'input', elemType: ONNX_DTYPE.float32, dims: ['batch', 3] }],
    outputs: [{ name: 'output', elemType: ONNX_DTYPE.float32, dims: ['batch', 3] }],
  });
}

test('every model the ONNX specs export passes onnx.checker.check_model(full_check=True)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flaxen-onnx-checker-'));
  try {
    const files = new Map<string, string>();
    ALL_ONNX_CASES.forEach((c, i) => {
      const variables = initCase(c, 1);
      try {
        const file = join(dir, `${String(i).padStart(2, '0')}-${c.name.replace(/[^A-Za-z0-9]+/g, '_')}.onnx`);
        const before = tf.memory().numTensors;
        writeFileSync(file, fx.interop.toOnnx(c.model, variables, ...c.inputs));
        assert.is(tf.memory().numTensors, before, `${c.name}: toOnnx left tensors behind`);
        files.set(file, c.name);
      } finally {
        fx.tree.dispose(variables);
      }
    });
    const broken = join(dir, 'broken.onnx');
    writeFileSync(broken, brokenModel());
    const run = pythonWith('onnx').run(['-c', CHECK, ...files.keys(), broken], { timeout: 120_000 });
    if (!run) return;
    assert.is(run.status, 0, `python failed (${run.signal ?? run.status}): ${run.stderr}`);
    const { version, results } = JSON.parse(run.stdout) as { version: string; results: Record<string, string> };
    assert.match(results[broken]!, /undefined_value/, 'the checker refuses a node that reads an undefined value');
    const failed = [...files].filter(([file]) => results[file] !== 'ok').map(([file, name]) => `${name}: ${results[file] ?? 'not checked'}`);
    assert.equal(failed, [], `the checker refused:\n${failed.join('\n')}`);
    console.log(`  onnx ${version}: check_model(full_check=True) passed ${files.size} exported models`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
