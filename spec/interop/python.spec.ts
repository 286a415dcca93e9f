// spec/interop/python.ts: a missing Python or module is a loud skip; anything else, failures
// included, is handed back to the spec.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import '../setup.js';
import { pythonWith } from './python.js';

/** Runs `f` and returns what it wrote on stderr. */
function stderrOf(f: () => void): string {
  const write = process.stderr.write;
  let text = '';
  process.stderr.write = ((chunk: string | Uint8Array) => {
    text += String(chunk);
    return true;
  }) as typeof process.stderr.write;
  try {
    f();
  } finally {
    process.stderr.write = write;
  }
  return text;
}

test('a module Python cannot import, or no Python at all: undefined, after a warning naming the module and the package', () => {
  let run: unknown = 'not run';
  const warning = stderrOf(() => (run = pythonWith('flaxen_no_such_module').run(['-c', 'import flaxen_no_such_module'], { timeout: 30_000 })));
  assert.is(run, undefined);
  assert.match(warning, /SKIPPED .*cannot import flaxen_no_such_module/);
  assert.match(warning, 'apt-get install -y python3-flaxen_no_such_module');
  let absent: unknown = 'not run';
  const noPython = stderrOf(() => (absent = pythonWith('torch', '/nonexistent/python3').run(['-c', 'pass'], { timeout: 30_000 })));
  assert.is(absent, undefined);
  assert.match(noPython, '/nonexistent/python3 cannot import torch');
});

test('a run that fails for another reason is handed back, not skipped (another module missing included)', () => {
  const python = pythonWith('json');
  const failed = python.run(['-c', 'import json, sys; print(json.dumps([1])); sys.exit(3)'], { timeout: 30_000 });
  if (failed === undefined) return; // no Python here: the warning said so
  assert.is(failed.status, 3);
  assert.is(failed.stdout.trim(), '[1]');
  // 'jsonschema' is not 'json': its absence is the script's failure, not a missing 'json'.
  const other = python.run(['-c', "raise ModuleNotFoundError(\"No module named 'jsonschema'\")"], { timeout: 30_000 });
  assert.ok(other !== undefined, 'a different missing module is not a skip');
  assert.is(other.status, 1);
});

test.run();
