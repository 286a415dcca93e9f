// The suite's leak check (spec/setup.ts), on spec/leak-check-child.ts run by uvu's CLI in child
// processes: by default a test that leaves a tensor behind fails its file; FLAXEN_LEAKS=report
// only reports it; FLAXEN_LEAKS=trace fails and says where the tensor was made. Inputs marked
// transient are not counted.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fileURLToPath } from 'node:url';
import { runChild } from './child.js';
import './setup.js';

const UVU = fileURLToPath(new URL('../../node_modules/uvu/bin.js', import.meta.url));
const DIST_SPEC = fileURLToPath(new URL('.', import.meta.url));

/** Runs the child spec file with FLAXEN_LEAKS set to `mode` (unset: undefined). */
function runWith(mode: string | undefined) {
  const env: NodeJS.ProcessEnv = { ...process.env, FORCE_COLOR: '0' };
  delete env['FLAXEN_LEAKS'];
  if (mode !== undefined) env['FLAXEN_LEAKS'] = mode;
  return runChild(UVU, [DIST_SPEC, '^leak-check-child\\.js$'], { timeoutMs: 60_000, env });
}

test('a leak fails the file by default, is only reported with FLAXEN_LEAKS=report, and is traced to its line with FLAXEN_LEAKS=trace', async () => {
  const [byDefault, report, trace] = await Promise.all([runWith(undefined), runWith('report'), runWith('trace')]);
  const leak = 'leaves one tensor behind: +1 tensors';
  assert.is(byDefault.code, 1, `by default the child fails: it ${byDefault.ending}\n${byDefault.stdout}${byDefault.stderr}`);
  assert.ok(byDefault.stdout.includes(leak), byDefault.stdout);
  assert.match(byDefault.stdout, 'Passed:    3');
  assert.is(report.code, 0, `with report the child passes: it ${report.ending}\n${report.stdout}${report.stderr}`);
  const reported = report.stderr.split('\n').filter((l) => l.startsWith('leak: '));
  assert.equal(reported, [`leak: leak-check-child.js: ${leak}`], 'only the leaking test is reported; transient inputs are not counted');
  assert.is(trace.code, 1, `with trace the child fails: it ${trace.ending}`);
  assert.match(trace.stdout, /float32\[3\] made\s+at Object\.handler \(file:\S*leak-check-child\.js:\d+:\d+\)/);
});

test.run();
