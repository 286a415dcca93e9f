// After fx.ready, an error the program does not catch is Node's as usual: reported with its own
// stack, exit code 1. (tfjs-backend-wasm's Emscripten listeners made every one of them exit with
// code 7, reported as thrown inside tf-backend-wasm.node.js; lib/backend.ts removes them.)
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runChild as runNode } from './child.js';

const CHILD = fileURLToPath(new URL('./uncaught-child.js', import.meta.url));

async function runChild(how: string): Promise<{ status: number | null; stderr: string; stdout: string }> {
  const r = await runNode(CHILD, [how], { timeoutMs: 60_000, maxOldSpaceMb: 256 });
  assert.not.ok(r.timedOut, `the child ${r.ending}`);
  return { status: r.code, stderr: r.stderr, stdout: r.stdout };
}

/** The first line of Node's report that names a file: where Node says the error was thrown. */
const reportedAt = (stderr: string) => stderr.split('\n').find((line) => /\.(m?js|ts):\d+/.test(line)) ?? '';

for (const [how, message] of [
  ['throw', "Error: the user's own bug"],
  ['timer', "Error: the user's own bug"],
  ['rejection', "Error: the user's own rejected promise"],
] as const) {
  test(`an uncaught error (${how}) after fx.ready exits with code 1, reported with its own stack`, async () => {
    const r = await runChild(how);
    assert.is(r.status, 1, `exit code; stderr:\n${r.stderr}`);
    assert.match(r.stderr, message);
    assert.match(reportedAt(r.stderr), 'uncaught-child.js', `reported at:\n${r.stderr}`);
    assert.not.match(r.stderr, 'tf-backend-wasm');
    if (how !== 'rejection') assert.match(r.stderr, /at (Timeout\.)?theUsersOwnBug .*\(.*uncaught-child\.js:\d+:\d+\)/, r.stderr);
  });
}

test('a program that does not fail still exits with code 0', async () => {
  const r = await runChild('none');
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout.trim(), 'no error');
});

test.run();
