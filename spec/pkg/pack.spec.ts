// flaxen as a dependency, as a new user gets it: a fresh clone of this repository's HEAD is packed
// (`npm pack` builds dist/ by the `prepare` script), the tarball is installed into a new project
// made by `npm init -y` (CommonJS) with its peers, and there a plain `require`, a strict
// TypeScript ES module and a strict TypeScript CommonJS module compile and run, and a program that
// touches a parameter the model does not have fails to compile. Then `npm install git+file://…`
// of the clone, as from a git URL. The programs are in spec/pkg/app/.
//
// Everything runs in child processes with time limits, started when this file is imported, so it
// overlaps the rest of the suite (uvu imports every spec file before running any). Packages come
// from npm's cache (`--prefer-offline`); when the registry cannot be reached for one that is not
// there, the tests say SKIPPED loudly instead of failing.
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../../lib/index.js';
import { assertClose } from '../setup.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const programs = join(repo, 'spec/pkg/app');

/** The versions this repository is tested with, from its package-lock.json. */
const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string }> };
const pinned = (name: string) => `${name}@${lock.packages[`node_modules/${name}`]!.version}`;
const PEERS = ['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-wasm'].map(pinned);
const TYPESCRIPT = ['typescript', '@types/node'].map(pinned);
const NPM_INSTALL = ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'];

/**
 * A child's environment without the npm_* variables of the `npm test` that runs this suite, and
 * without colours (the test runner forces them; console.log would colour the numbers it prints).
 */
const env = {
  ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_|^INIT_CWD$|^FORCE_COLOR$/i.test(name))),
  NO_COLOR: '1',
};
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

interface Ran {
  code: number | string;
  stdout: string;
  stderr: string;
}

/** Runs a command with a time limit; resolves with its exit code (or signal) and output, never rejects. */
function run(file: string, args: string[], cwd: string, timeoutMs: number, extraEnv: Record<string, string> = {}): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd, env: { ...env, ...extraEnv }, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 << 20, shell: process.platform === 'win32' }, (error, stdout, stderr) => {
      const code = error ? ((error as { code?: number | string }).code ?? (error as { signal?: string }).signal ?? 'error') : 0;
      resolve({ code: error && (error as { killed?: boolean }).killed ? `killed after ${timeoutMs} ms` : code, stdout, stderr });
    });
  });
}

/** A check that cannot run here: its tests say SKIPPED loudly. */
class Skipped extends Error {}
/** Thrown when a package could not be had: neither in npm's cache nor from a reachable registry. */
class Unreachable extends Skipped {}
const NETWORK = /\b(ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|ENOTCACHED|ERR_SOCKET_TIMEOUT)\b|network request/;

/** How long each step took (ms), printed by the last test: this spec is the slowest of the suite. */
const timings: string[] = [];

async function must(what: string, ran: Promise<Ran>): Promise<Ran> {
  const started = Date.now();
  const r = await ran;
  timings.push(`${what} ${((Date.now() - started) / 1000).toFixed(1)} s`);
  if (r.code === 0) return r;
  if (NETWORK.test(r.stderr + r.stdout)) throw new Unreachable(`${what}: the npm registry cannot be reached and npm's cache lacks a package:\n${r.stderr}`);
  throw new Error(`${what} ended with ${r.code}:\n${r.stdout}\n${r.stderr}`);
}

/** What each program printed: one JSON line. */
interface Report {
  program: string;
  backend: string;
  tree: string;
  kernelHead: number[];
  output: number[];
}

async function program(cwd: string, file: string): Promise<Report> {
  const r = await must(`node ${file}`, run(process.execPath, [file], cwd, 60_000));
  const line = r.stdout.trim().split('\n').find((l) => l.startsWith('{'));
  if (!line) throw new Error(`${file} printed no report:\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(line) as Report;
}

/** The README's CommonJS example (its js block that requires flaxen) and the output block after it. */
function readmeExample(): { code: string; output: string } {
  const readme = readFileSync(join(repo, 'README.md'), 'utf8');
  const found = /```js\n((?:(?!```)[\s\S])*require\('flaxen'\)(?:(?!```)[\s\S])*)```\s*```text\n([\s\S]*?)```/.exec(readme);
  if (!found) throw new Error("README.md has no js block requiring 'flaxen' followed by a text block of its output");
  return { code: found[1]!, output: found[2]! };
}

/** A new project as `npm init -y` makes it, with the programs of spec/pkg/app and the README's example copied in. */
async function newProject(dir: string): Promise<void> {
  mkdirSync(dir);
  await must('npm init -y', run(npm, ['init', '-y'], dir, 30_000));
  cpSync(programs, dir, { recursive: true });
  writeFileSync(join(dir, 'readme.cjs'), readmeExample().code);
}

interface Packed {
  files: string[];
  /** Source files named by the installed package's source maps whose text is not in the map. */
  unresolvedSources: string[];
  maps: number;
  reports: Report[];
  typo: Ran;
  readme: Ran;
}

/** Every source of every .map under `dir` must be embedded (sourcesContent): lib/*.ts is not shipped. */
function unresolvedSources(dir: string): { maps: number; unresolved: string[] } {
  const maps = (readdirSync(dir, { recursive: true }) as string[]).filter((file) => file.endsWith('.js.map'));
  const unresolved: string[] = [];
  for (const file of maps) {
    const map = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { sources: string[]; sourcesContent?: (string | null)[] };
    map.sources.forEach((source, i) => {
      if (typeof map.sourcesContent?.[i] !== 'string') unresolved.push(`${file} -> ${source}`);
    });
  }
  return { maps: maps.length, unresolved };
}

/** A fresh clone of the commit under test. */
async function cloneHead(work: string): Promise<string> {
  const head = (await must('git rev-parse', run('git', ['rev-parse', 'HEAD'], repo, 10_000))).stdout.trim();
  const clone = join(work, 'clone');
  await must('git clone', run('git', ['clone', '--quiet', repo, clone], work, 60_000));
  await must('git checkout', run('git', ['checkout', '--quiet', '-B', 'under-test', head], clone, 30_000));
  return clone;
}

/**
 * `npm install git+file://<clone>`, as from a git URL: npm clones, installs all the
 * devDependencies there, runs `prepare`, packs and installs. It is the slow part (1–2 minutes
 * on an idle machine, many more on a loaded one), so it runs where FLAXEN_PACK_FROM_GIT=1 (CI sets
 * it: .ci/run), and is skipped loudly elsewhere.
 */
const FROM_GIT = process.env['FLAXEN_PACK_FROM_GIT'] === '1';

async function installFromGit(work: string, clone: string): Promise<Report> {
  if (!FROM_GIT) throw new Skipped('npm install git+file://<clone> runs only with FLAXEN_PACK_FROM_GIT=1 (as in CI): it takes minutes');
  const gitApp = join(work, 'git-app');
  await newProject(gitApp);
  // The nested install npm runs in its own clone reads npm_config_* from the environment.
  const args = [...NPM_INSTALL, `git+file://${clone.replaceAll('\\', '/')}`, ...PEERS];
  await must('npm install git+file://<clone>', run(npm, args, gitApp, 480_000, { npm_config_prefer_offline: 'true' }));
  return program(gitApp, 'require.cjs');
}

/** `npm pack` of the clone, installed into a new project with the peers and TypeScript; the programs run there. */
async function packAndInstall(work: string, clone: string): Promise<Packed> {
  // Packed with this checkout's build tools (npm ci in the clone is what a contributor does, and
  // would only download the same devDependencies again). The install from git, running at the
  // same time, clones the clone, so it never sees this link.
  symlinkSync(join(repo, 'node_modules'), join(clone, 'node_modules'), 'junction');
  const pack = await must('npm pack', run(npm, ['pack', '--json', '--pack-destination', work], clone, 240_000));
  const [{ filename, files }] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as [{ filename: string; files: { path: string }[] }];
  rmSync(join(clone, 'node_modules'));

  const app = join(work, 'app');
  await newProject(app);
  await must('npm install <tarball>', run(npm, [...NPM_INSTALL, join(work, filename), ...PEERS, ...TYPESCRIPT], app, 240_000));
  const maps = unresolvedSources(join(app, 'node_modules/flaxen/dist/lib'));
  const tsc = join(app, 'node_modules/typescript/bin/tsc');
  await must('tsc (main.mts, main.cts)', run(process.execPath, [tsc, '-p', 'tsconfig.json'], app, 120_000));
  const typo = await run(process.execPath, [tsc, '-p', 'tsconfig.typo.json'], app, 120_000);
  const reports = [await program(app, 'require.cjs'), await program(app, 'out/main.mjs'), await program(app, 'out/main.cjs')];
  const readme = await must('node readme.cjs', run(process.execPath, ['readme.cjs'], app, 60_000));
  return { files: files.map((f) => f.path), maps: maps.maps, unresolvedSources: maps.unresolved, reports, typo, readme };
}

// Both paths at once, from one clone (the install from git is the slow one).
const work = mkdtempSync(join(tmpdir(), 'flaxen-pack-'));
const cloned = cloneHead(work);
const packed = cloned.then((clone) => packAndInstall(work, clone));
const fromGit = cloned.then((clone) => installFromGit(work, clone));
void Promise.allSettled([packed, fromGit]).then(() => rmSync(work, { recursive: true, force: true }));
// Awaited by the tests; these only keep an early failure from being reported as unhandled.
packed.catch(() => {});
fromGit.catch(() => {});

/** The result, or undefined (with a loud message) when the registry is out of reach. */
async function installed<T>(outcome: Promise<T>): Promise<T | undefined> {
  try {
    return await outcome;
  } catch (error) {
    if (!(error instanceof Skipped)) throw error;
    console.warn(`\n${'!'.repeat(100)}\n!! SKIPPED (in spec/pkg/pack.spec.ts): ${error.message.split('\n')[0]}\n${'!'.repeat(100)}\n`);
    return undefined;
  }
}

/** What the repository's own flaxen computes for the programs' model. */
function expected(): Omit<Report, 'program'> {
  const net = fx.nn.Sequential([fx.nn.Dense(8), fx.nn.relu, fx.nn.Dense(3)]);
  const variables = net.init(fx.random.key(0), [2, 5]);
  const x = tf.ones([2, 5]);
  const y = net.apply(variables, x);
  const report = {
    backend: fx.backendInfo().name,
    tree: fx.tree.format(variables),
    kernelHead: Array.from(variables.params.layers_0.kernel.dataSync().slice(0, 4)),
    output: Array.from(y.dataSync()),
  };
  fx.tree.dispose([variables, x, y]);
  return report;
}

function assertSameAsRepository(report: Report): void {
  const own = expected();
  assert.is(report.backend, 'wasm', `${report.program}: backend`);
  assert.is(report.tree, own.tree, `${report.program}: parameter tree`);
  assert.equal(report.kernelHead, own.kernelHead, `${report.program}: the first kernel values for key(0), bit for bit`);
  assert.is(report.output.length, 6, `${report.program}: output [2, 3]`);
  assertClose(report.output, own.output, 1e-6, 1e-6, `${report.program}: output`);
}

test('the tarball of a fresh clone holds the built library, its types, README and LICENSE, and no specs', async () => {
  const result = await installed(packed);
  if (!result) return;
  for (const file of ['package.json', 'README.md', 'LICENSE', 'dist/lib/index.js', 'dist/lib/index.d.ts']) {
    assert.ok(result.files.includes(file), `${file} is in the tarball`);
  }
  assert.ok(result.files.every((file) => !file.startsWith('dist/spec/') && !file.startsWith('dist/bench/')), 'no specs or benchmarks');
});

test('the installed source maps carry their sources (lib/*.ts is not shipped), so every map resolves', async () => {
  const result = await installed(packed);
  if (!result) return;
  assert.ok(result.maps > 50, `${result.maps} source maps`);
  assert.equal(result.unresolvedSources, []);
});

test('in a new CommonJS project, require("flaxen") runs', async () => {
  const result = await installed(packed);
  if (result) assertSameAsRepository(result.reports.find((r) => r.program === 'require.cjs')!);
});

test("the README's CommonJS example runs there and prints what the README shows", async () => {
  const result = await installed(packed);
  if (result) assert.fixture(result.readme.stdout.trimEnd(), readmeExample().output.trimEnd());
});

test('in a new project, strict TypeScript ("module": "nodenext") compiles and runs, as an ES module and as CommonJS', async () => {
  const result = await installed(packed);
  if (!result) return;
  assertSameAsRepository(result.reports.find((r) => r.program === 'main.mts')!);
  assertSameAsRepository(result.reports.find((r) => r.program === 'main.cts')!);
});

test('a program touching a parameter the model does not have (layers_0.kernal) does not compile', async () => {
  const result = await installed(packed);
  if (!result) return;
  assert.is.not(result.typo.code, 0, 'tsc must fail');
  const errors = result.typo.stdout.split('\n').filter((line) => /error TS\d+/.test(line));
  assert.is(errors.length, 1, `exactly one error, about kernal:\n${result.typo.stdout}`);
  assert.match(errors[0]!, /typo\.mts\(8,\d+\): error TS2551: Property 'kernal' does not exist .* Did you mean 'kernel'\?/);
});

test('npm install git+file://<a clone> builds flaxen from the repository and it runs', async () => {
  const report = await installed(fromGit);
  if (report) assertSameAsRepository(report);
  console.log(`\n  spec/pkg/pack.spec.ts: ${timings.join(', ')}`);
});

test.run();
