// The child process that runs the docs' snippets (started by docs.spec.ts): it imports each
// compiled snippet in turn, each in a fresh empty working directory, records what each block
// printed, checks the value and error claims as the instrumented code reports them, and
// appends one JSON line per snippet to the results file.
//   node run-snippets.js <manifest.json> <results.jsonl>
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { format } from 'node:util';
import type { Claim } from './claims.js';
import { checkValue, textMatches } from './compare.js';

export interface ManifestEntry {
  readonly name: string;
  readonly file: string;
  readonly claims: readonly Claim[];
  /** Run alone in a process of its own (it changes process-wide state, e.g. wasm threads). */
  readonly ownProcess: boolean;
}

export interface SnippetResult {
  readonly name: string;
  /** What ended the snippet early, if anything. */
  error?: string;
  /** Claim id -> null when it held, else what differed. Claims never reached are absent. */
  readonly claims: Record<number, string | null>;
  /** Cell index -> what that cell printed. */
  readonly printed: Record<number, string>;
}

const [manifestPath, resultsPath] = process.argv.slice(2);
if (!manifestPath || !resultsPath) throw new Error('usage: run-snippets <manifest.json> <results.jsonl>');
const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as ManifestEntry[];

let current: SnippetResult | undefined;
let claimsById = new Map<number, Claim>();
let cell = 0;
const captures = new Map<number, string>();

function record(text: string): void {
  if (!current) return;
  current.printed[cell] = (current.printed[cell] ?? '') + text;
  for (const [id, buffer] of captures) captures.set(id, buffer + text);
}
console.log = (...args: unknown[]) => record(format(...args) + '\n');
console.info = console.log;

function describeError(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}${e.stack ? `\n${e.stack.split('\n').slice(1, 6).join('\n')}` : ''}`;
  return format(e);
}

function settle(id: number, problem: string | undefined): void {
  if (current) current.claims[id] = problem ?? null;
}

(globalThis as { __fx?: unknown }).__fx = {
  cell(k: number): void {
    cell = k;
  },
  value(id: number, actual: unknown): void {
    const claim = claimsById.get(id);
    if (claim?.kind !== 'value') return settle(id, 'internal: no value claim with this id');
    try {
      settle(id, checkValue(actual, claim.text, claim.expected));
    } catch (e) {
      settle(id, `comparing failed: ${describeError(e)}`);
    }
  },
  thrown(id: number, error: unknown): void {
    const claim = claimsById.get(id);
    if (claim?.kind !== 'throws') return settle(id, 'internal: no error claim with this id');
    const name = error instanceof Error ? error.name : typeof error;
    const ctor = (error as { constructor?: { name?: string } } | null)?.constructor?.name;
    if (name !== claim.name && ctor !== claim.name) return settle(id, `expected a ${claim.name}, but it threw ${describeError(error)}`);
    const message = (error as Error).message;
    if (claim.message !== undefined && !textMatches(message, claim.message) && !textMatches(`${name}: ${message}`, claim.message)) {
      return settle(id, `the ${claim.name}'s message differs:\n  docs:   ${claim.message}\n  actual: ${message}`);
    }
    settle(id, undefined);
  },
  noThrow(id: number): void {
    const claim = claimsById.get(id);
    settle(id, `expected a ${claim?.kind === 'throws' ? claim.name : 'error'}, but nothing was thrown`);
  },
  begin(id: number): void {
    captures.set(id, '');
  },
  end(id: number): void {
    const claim = claimsById.get(id);
    const printed = captures.get(id) ?? '';
    captures.delete(id);
    if (claim?.kind !== 'prints') return settle(id, 'internal: no print claim with this id');
    settle(id, textMatches(printed, claim.text) ? undefined : `printed differently:\n--- docs\n${claim.text}\n--- actual\n${printed.trimEnd()}`);
  },
};

process.on('unhandledRejection', (e) => {
  if (current) current.error ??= `unhandled rejection: ${describeError(e)}`;
});

const base = mkdtempSync(join(tmpdir(), 'flaxen-docs-'));
try {
  for (const entry of manifest) {
    const dir = mkdtempSync(join(base, 'snippet-'));
    process.chdir(dir);
    current = { name: entry.name, claims: {}, printed: {} };
    claimsById = new Map(entry.claims.map((c) => [c.id, c]));
    cell = 0;
    captures.clear();
    appendFileSync(resultsPath, JSON.stringify({ started: entry.name }) + '\n');
    try {
      await import(pathToFileURL(entry.file).href);
    } catch (e) {
      current.error = describeError(e);
    }
    appendFileSync(resultsPath, JSON.stringify(current) + '\n');
    current = undefined;
  }
} finally {
  process.chdir(tmpdir());
  rmSync(base, { recursive: true, force: true });
}
