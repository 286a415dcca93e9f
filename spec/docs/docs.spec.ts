// Docs are code: every ```ts block of README.md and docs/*.md, and every `@example` in the doc
// comments of lib/, compiles under strict TypeScript against the built package, runs (unless
// marked `no-run`), and prints and returns what the docs say it does. The conventions are in
// spec/docs/README.md. One TypeScript program checks all snippets; one child process runs them.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { prepare, type Prepared } from './harness.js';
import type { ManifestEntry, SnippetResult } from './run-snippets.js';
import { textMatches } from './compare.js';
import { allSources } from './snippets.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const sources = allSources(root);
const prepared = prepare(root, sources);

const manifest = prepared.flatMap((p) => (p.run ? [p.run] : []));
const results = new Map<string, SnippetResult>();
const childFailures: string[] = [];

/** Runs `entries` in one child process (time-limited) and collects their results. */
function runInChild(entries: readonly ManifestEntry[]): void {
  const work = mkdtempSync(join(tmpdir(), 'flaxen-docs-spec-'));
  writeFileSync(join(work, 'manifest.json'), JSON.stringify(entries));
  const resultsPath = join(work, 'results.jsonl');
  writeFileSync(resultsPath, '');
  const child = spawnSync(process.execPath, [fileURLToPath(new URL('./run-snippets.js', import.meta.url)), join(work, 'manifest.json'), resultsPath], {
    encoding: 'utf8',
    timeout: 240_000,
    maxBuffer: 64 << 20,
  });
  let lastStarted: string | undefined;
  for (const line of readFileSync(resultsPath, 'utf8').split('\n')) {
    if (line === '') continue;
    const r = JSON.parse(line) as SnippetResult | { started: string };
    if ('started' in r) lastStarted = r.started;
    else results.set(r.name, r);
  }
  rmSync(work, { recursive: true, force: true });
  if (child.error !== undefined || child.status !== 0) {
    childFailures.push(
      `the snippet runner ${child.error ? `failed (${child.error.message})` : `exited with ${child.status ?? child.signal}`}` +
        `${lastStarted && !results.has(lastStarted) ? ` while running ${lastStarted}` : ''}\n${(child.stderr ?? '').slice(-4000)}`,
    );
  }
}
runInChild(manifest.filter((m) => !m.ownProcess));
for (const m of manifest.filter((x) => x.ownProcess)) runInChild([m]);
const childFailure = childFailures.length > 0 ? childFailures.join('\n') : undefined;

/** Every problem of one program: compile errors, then what running it showed. */
function problemsOf(p: Prepared): string[] {
  const problems = [...p.problems];
  if (!p.run) return problems;
  const r = results.get(p.source.name);
  if (!r) {
    problems.push(`${p.source.name}: did not run${childFailure ? `: ${childFailure}` : ''}`);
    return problems;
  }
  if (r.error) problems.push(`${p.source.name}: stopped with ${r.error}`);
  for (const claim of p.run.claims) {
    const outcome = r.claims[claim.id];
    if (outcome === undefined) {
      if (!r.error) problems.push(`${claim.where}: this claim was never reached`);
    } else if (outcome !== null) problems.push(`${claim.where}: ${outcome}`);
  }
  for (const o of p.outputs) {
    const printed = r.printed[o.cell] ?? '';
    if (!textMatches(printed, o.text)) problems.push(`${o.where}: the block above printed differently:\n--- docs\n${o.text}\n--- actual\n${printed.trimEnd()}`);
  }
  return problems;
}

function check(list: readonly Prepared[]): void {
  const problems = list.flatMap(problemsOf);
  if (problems.length > 0) assert.unreachable(`${problems.length} problem(s):\n${problems.join('\n')}`);
}

test('the harness finds the docs: README, the guides and the @example blocks', () => {
  assert.ok(sources.some((s) => s.name === 'README.md'), 'README.md has ts blocks');
  const guides = sources.filter((s) => s.kind === 'guide').length;
  const examples = sources.filter((s) => s.kind === 'example').length;
  assert.ok(guides >= 6, `found ${guides} guides with ts blocks`);
  assert.ok(examples >= 200, `found ${examples} @example blocks`);
  assert.ok(manifest.length > examples / 2, `only ${manifest.length} programs run`);
  assert.ok(manifest.reduce((n, m) => n + m.claims.length, 0) > 100, 'the claims in comments are found');
});

for (const p of prepared.filter((x) => x.source.kind === 'guide')) {
  test(`${p.source.name}: every ts block compiles, runs, and prints what the text shows`, () => check([p]));
}

const byFile = new Map<string, Prepared[]>();
for (const p of prepared.filter((x) => x.source.kind === 'example')) {
  const file = p.source.blocks[0]!.file;
  byFile.set(file, [...(byFile.get(file) ?? []), p]);
}
for (const [file, list] of byFile) {
  test(`${file}: every @example compiles, runs, and returns what its comments show`, () => check(list));
}

test.run();
