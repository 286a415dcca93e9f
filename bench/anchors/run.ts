/**
 * The anchors table: flaxen next to other engines on the same four figures, each engine in its
 * own process, one after another in one run, with the machine's load printed:
 * `node dist/bench/anchors/run.js` (also at the end of `npm run bench`).
 *
 * - flaxen: bench/anchors/flaxen.ts, at 1 thread, and at 2 when two cores are free;
 * - PyTorch (CPU): bench/anchors/pytorch.py with Debian's /usr/bin/python3 and its torch, at the
 *   same thread counts; with OpenBLAS when Debian's libopenblas0-pthread is found (its directory,
 *   FLAXEN_OPENBLAS_DIR, or .cache/openblas as `bash scripts/fetch-openblas.sh` unpacks it),
 *   loaded for that process only through LD_LIBRARY_PATH; otherwise torch's own BLAS, marked as
 *   such. glibc malloc keeps the memory it frees in that process (see `TORCH_MALLOC`);
 * - jax-js: bench/anchors/jax.ts (`@jax-js/jax`, a devDependency), wasm, jit, one thread;
 * - ONNX Runtime, inference only: bench/anchors/onnxruntime.ts, Web (wasm, 1 thread; a
 *   devDependency) and Node (native CPU, at the thread counts above; installed on demand, see
 *   that file).
 *
 * An engine that is not installed is skipped with a line saying so; one that fails is reported
 * and the table goes on without it.
 *
 * @module
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { coresFree, loadText } from '../load.js';

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));
const FIGURES: Array<[string, string]> = [
  ['mlpStep64', 'MLP 784-256-10 Adam step, batch 64'],
  ['mlpStep256', 'the same, batch 256'],
  ['lenetStep64', 'LeNet-5 Adam step, batch 64'],
  ['mlpInfer256', 'MLP inference, batch 256'],
];

type Column = { name: string; values: Record<string, number | string> };

function runJson(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Record<string, number | string> {
  const out = execFileSync(command, args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 600_000 });
  return JSON.parse(out.trim().split('\n').pop()!) as Record<string, number | string>;
}

/** Runs one anchor; a skip or a failure becomes a note instead of a column. */
function column(name: string, notes: string[], command: string, args: string[], env?: NodeJS.ProcessEnv): Column | undefined {
  try {
    const values = runJson(command, args, env);
    if (values['skipped']) {
      notes.push(`${name}: skipped (${values['skipped']})`);
      return undefined;
    }
    return { name, values };
  } catch (e) {
    notes.push(`${name}: failed (${(e as Error).message.split('\n')[0]})`);
    return undefined;
  }
}

/**
 * glibc malloc settings for the PyTorch process. By default glibc hands the freed top of its heap
 * (and every block above its mmap threshold) back to the kernel, so each of the step's new
 * 800 KB tensors (Adam's `sqrt`, `div`) page-faults anew: measured here, 370 faults and 2.7 ms of
 * system time per MLP batch-64 step, 8.0 CPU ms in all against 1.4 with these settings. An
 * engine's anchor should time its arithmetic, not the kernel zeroing pages, and a long-running
 * training process reaches this state anyway; flaxen's wasm memory never shrinks either.
 */
const TORCH_MALLOC = { MALLOC_MMAP_THRESHOLD_: String(2 ** 30), MALLOC_TRIM_THRESHOLD_: String(2 ** 30) };

function openblasDir(): string | undefined {
  const cached = (arch: string) => here(`../../../.cache/openblas/usr/lib/${arch}-linux-gnu/openblas-pthread`);
  for (const dir of [process.env['FLAXEN_OPENBLAS_DIR'], '/usr/lib/x86_64-linux-gnu/openblas-pthread', '/usr/lib/aarch64-linux-gnu/openblas-pthread', cached('x86_64'), cached('aarch64')]) {
    if (dir && existsSync(`${dir}/libblas.so.3`)) return dir;
  }
  return undefined;
}

function printTable(title: string, columns: Column[], suffix: string): void {
  const rows = FIGURES.map(([key, label]) => [label, ...columns.map((c) => (typeof c.values[key + suffix] === 'number' ? (c.values[key + suffix] as number).toFixed(2) : '—'))]);
  const header = [title.split(' (')[0]!, ...columns.map((c) => c.name)];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  console.log(`\n${title}:`);
  console.log(line(header));
  console.log(`|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`);
  for (const r of rows) console.log(line(r));
}

/** Measures every engine and prints the table; returns the columns. */
export async function anchorsTable(log: (s: string) => void = (s) => process.stderr.write(`${s}\n`)): Promise<Column[]> {
  const columns: Column[] = [];
  const notes: string[] = [];
  const two = coresFree(2);
  const counts = two.free ? [1, 2] : [1];
  if (!two.free) notes.push(`2-thread columns ${two.reason}`);
  const startLoad = loadText();
  const add = (c: Column | undefined): void => {
    if (c) columns.push(c);
  };
  for (const t of counts) {
    log(`anchors: flaxen, ${t} thread(s)`);
    add(column(`flaxen ${t}t`, notes, process.execPath, [here('./flaxen.js'), String(t)]));
  }
  const python = '/usr/bin/python3';
  if (!existsSync(python)) notes.push('PyTorch: skipped (no /usr/bin/python3)');
  else {
    const blas = openblasDir();
    if (!blas) notes.push("PyTorch: Debian's OpenBLAS (libopenblas0-pthread) not found (bash scripts/fetch-openblas.sh unpacks it): PyTorch runs on its own BLAS");
    for (const t of counts) {
      log(`anchors: PyTorch, ${t} thread(s)`);
      const env = { ...process.env, ...TORCH_MALLOC, OPENBLAS_NUM_THREADS: String(t), OMP_NUM_THREADS: String(t), ...(blas ? { LD_LIBRARY_PATH: [blas, process.env['LD_LIBRARY_PATH']].filter(Boolean).join(':') } : {}) };
      const c = column(`PyTorch ${t}t`, notes, python, [here('../../../bench/anchors/pytorch.py'), String(t)], env);
      if (!c) break;
      columns.push(c);
    }
  }
  log('anchors: jax-js');
  add(column('jax-js 1t', notes, process.execPath, [here('./jax.js')]));
  log('anchors: ONNX Runtime Web');
  add(column('ORT Web 1t', notes, process.execPath, [here('./onnxruntime.js'), 'web']));
  for (const t of counts) {
    log(`anchors: ONNX Runtime Node, ${t} thread(s)`);
    const c = column(`ORT Node ${t}t`, notes, process.execPath, [here('./onnxruntime.js'), 'node', String(t)]);
    if (!c) break;
    columns.push(c);
  }
  console.log(`\nanchors — the same models in other engines, one process each, in one run; medians over 15 rounds (jax-js LeNet-5: 5); load average at the start ${startLoad}, at the end ${loadText()}`);
  for (const c of columns) console.log(`  ${c.name}: ${c.values['engine']}, ${c.values['threads']} thread(s)`);
  for (const n of notes) console.log(`  ${n}`);
  printTable('wall ms', columns, '');
  printTable("CPU ms (the process's, all its threads: at 1 thread the engine's work, less sensitive to the load than wall time)", columns, 'Cpu');
  return columns;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await anchorsTable();
