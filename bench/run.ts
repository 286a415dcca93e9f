/**
 * `npm run bench`: flaxen against stock `@tensorflow/tfjs-layers` on the same WASM backend.
 *
 * Each side runs in its own child process (tfjs-layers registers its own gradients; flaxen never
 * loads there), started once; a third process runs flaxen with its own WebAssembly kernels off
 * (`--no-own-kernels`), to show what they contribute; the parent sends one round of a measurement at a time, alternating
 * between the processes, so slow drifts of a shared machine hit both sides alike. Every figure is
 * the median over rounds (each round itself a median over steps); ratios compare figures of the
 * same run. `--quick` runs fewer rounds (for a smoke test).
 *
 * After that table, a second one compares flaxen at 1 and at 2 WASM threads: two fresh flaxen
 * processes, started with `fx.ready('wasm', { threads: 1 })` and `fx.ready('wasm', { threads: 2 })`,
 * measured in interleaved rounds like the rest (`--threads-only` runs just that part,
 * `--no-threads` skips it).
 *
 * @module
 */
import os from 'node:os';
import { WorkerProcess } from './worker-process.js';
import { median, mlpStepFlops, type Task } from './protocol.js';
import { coresFree, loadText } from './load.js';
import { anchorsTable } from './anchors/run.js';
import { recurrentTable } from './rnn.js';

const quick = process.argv.includes('--quick');
const threadsOnly = process.argv.includes('--threads-only');
const noThreads = process.argv.includes('--no-threads');
const noAnchors = process.argv.includes('--no-anchors') || threadsOnly;
const ROUNDS = quick ? 2 : 5;
const SHORT_ROUNDS = quick ? 4 : 25;

class Worker extends WorkerProcess<Task> {}

const num = (v: number | string | undefined): number => (typeof v === 'number' ? v : NaN);
const fmt = (v: number, digits = 2) => (Number.isFinite(v) ? v.toFixed(digits) : 'n/a');
const pct = (v: number) => (Number.isFinite(v) ? `${(100 * v).toFixed(0)}%` : 'n/a');

/** Runs `rounds` rounds of `task` on each worker, alternating, and returns the per-round values. */
async function interleaved(workers: Worker[], task: (w: Worker) => Task | undefined, rounds = ROUNDS): Promise<Map<Worker, Array<Record<string, number | string>>>> {
  const results = new Map<Worker, Array<Record<string, number | string>>>(workers.map((w) => [w, []]));
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? workers : [...workers].reverse();
    for (const w of order) {
      const t = task(w);
      if (t) results.get(w)!.push(await w.run(t));
    }
  }
  return results;
}

const med = (values: Array<Record<string, number | string>>, key: string) => median(values.map((v) => num(v[key])));

interface Row {
  figure: string;
  flaxen: string;
  stock: string;
  ratio: string;
  target: string;
  met: string;
}
const rows: Row[] = [];
function row(figure: string, flaxen: string, stock: string, ratio: string, target: string, ok: boolean | undefined): void {
  rows.push({ figure, flaxen, stock, ratio, target, met: ok === undefined ? '' : ok ? 'yes' : 'NO' });
}

const started = performance.now();
const log = (s: string) => process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(0)}s] ${s}\n`);

async function main(): Promise<void> {
  const fxw = new Worker('flaxen', './flaxen-worker.js');
  const tflw = new Worker('tfjs-layers', './layers-worker.js');
  // The same flaxen with its own WebAssembly kernels off: what they contribute, in the same run.
  const offw = new Worker('flaxen, own kernels off', './flaxen-worker.js', ['--no-own-kernels']);
  await Promise.all([fxw.started, tflw.started, offw.started]);
  const both = [tflw, fxw];

  log('matMul peak');
  const peaks = await interleaved(both, () => ({ kind: 'peak' }), quick ? 1 : 3);
  const fxPeak = med(peaks.get(fxw)!, 'peak');
  const fxCpuPeak = med(peaks.get(fxw)!, 'cpuPeak');
  const tflPeak = med(peaks.get(tflw)!, 'peak');
  const tflCpuPeak = med(peaks.get(tflw)!, 'cpuPeak');
  row('plain tf.matMul peak, GFLOPS by CPU time (best of 256/512/1024 square)', fmt(fxCpuPeak, 1), fmt(tflCpuPeak, 1), '', '', undefined);
  row('  the same by wall time', fmt(fxPeak, 1), fmt(tflPeak, 1), '', '', undefined);

  for (const batch of [64, 256]) {
    log(`MLP step, batch ${batch}`);
    // Many short rounds, alternating processes, so both sides see the same machine.
    const steps = batch === 64 ? 4 : 2;
    const res = await interleaved([...both, offw], (w) => ({ kind: 'mlp', batch, steps: w === tflw ? steps : steps * 3 }), SHORT_ROUNDS);
    const f = med(res.get(fxw)!, 'cpuMs');
    const s = med(res.get(tflw)!, 'cpuMs');
    const fw = med(res.get(fxw)!, 'ms');
    const sw = med(res.get(tflw)!, 'ms');
    row(`MLP 784-256-10 Adam step, batch ${batch}: CPU ms (ratio flaxen/tfjs-layers)`, fmt(f), fmt(s), fmt(f / s, 3), '≤ 0.15', f / s <= 0.15);
    row(`  the same in wall ms`, fmt(fw), fmt(sw), fmt(fw / sw, 3), '', undefined);
    const fo = med(res.get(offw)!, 'cpuMs');
    row(`  flaxen with its own kernels off (tfjs's kernels only): CPU ms`, fmt(fo), fmt(s), fmt(fo / s, 3), '', undefined);
    if (batch === 64) {
      // chain(clipByGlobalNorm(1), adam) keeps adam's fused update-and-apply: the clipping's cost only.
      const clipped = await interleaved([fxw], () => ({ kind: 'mlp', batch, steps: steps * 3, tx: 'clipped adam' }), SHORT_ROUNDS);
      const fc = med(clipped.get(fxw)!, 'cpuMs');
      row(`  flaxen with chain(clipByGlobalNorm(1), adam): CPU ms (ratio to flaxen's adam alone)`, fmt(fc), '', fmt(fc / f, 3), '', undefined);
    }
    const frac = med(res.get(fxw)!, 'cpuGflops') / fxCpuPeak;
    const tflFrac = mlpStepFlops(batch) / s / 1e6 / tflCpuPeak;
    row(`MLP step, batch ${batch}: GFLOPS / matMul peak (CPU time)`, pct(frac), pct(tflFrac), '', batch === 256 ? '≥ 70%' : '', batch === 256 ? frac >= 0.7 : undefined);
  }

  log('LeNet-5 step, batch 64');
  const lenetStock = await tflw.run({ kind: 'lenet', batch: 64, steps: 1 });
  let lenetFlaxen: Array<Record<string, number | string>> = [];
  let lenetOff: Array<Record<string, number | string>> = [];
  try {
    const lenet = await interleaved([fxw, offw], () => ({ kind: 'lenet', batch: 64, steps: 5 }), SHORT_ROUNDS);
    lenetFlaxen = lenet.get(fxw)!;
    lenetOff = lenet.get(offw)!;
  } catch (error) {
    log(`LeNet failed in flaxen: ${(error as Error).message}`);
  }
  const lenetFrac = lenetFlaxen.length ? med(lenetFlaxen, 'cpuGflops') / fxCpuPeak : NaN;
  row('LeNet-5 step, batch 64: CPU ms (wall ms)', lenetFlaxen.length ? `${fmt(med(lenetFlaxen, 'cpuMs'))} (${fmt(med(lenetFlaxen, 'ms'))})` : 'failed', lenetStock['status'] === 'failed' ? 'cannot train on wasm' : 'trained (!)', '', '', undefined);
  row('LeNet-5 step, batch 64: GFLOPS / matMul peak (CPU time)', pct(lenetFrac), '', '', '≥ 40%', lenetFrac >= 0.4);
  const lenetOffFrac = lenetOff.length ? med(lenetOff, 'cpuGflops') / fxCpuPeak : NaN;
  row(`  flaxen with its own kernels off: CPU ms (share of the peak)`, lenetOff.length ? `${fmt(med(lenetOff, 'cpuMs'))} (${pct(lenetOffFrac)})` : 'failed', '', '', '', undefined);

  log('inference');
  const infer = await interleaved(both, () => ({ kind: 'infer', batch: 256, steps: 5 }), SHORT_ROUNDS);
  const fi = med(infer.get(fxw)!, 'cpuMs');
  const si = med(infer.get(tflw)!, 'cpuMs');
  row('Inference, MLP batch 256: CPU ms (flaxen apply / tfjs-layers predict)', fmt(fi, 3), fmt(si, 3), fmt(fi / si, 3), '≤ 0.8', fi / si <= 0.8);
  const fiw = med(infer.get(fxw)!, 'ms');
  const siw = med(infer.get(tflw)!, 'ms');
  row('  the same in wall ms', fmt(fiw, 3), fmt(siw, 3), fmt(fiw / siw, 3), '', undefined);

  log('parameter drawing (50M)');
  // The first round grows the wasm heap (page faults for whichever draws first): discarded.
  const draws = (await interleaved([fxw], () => ({ kind: 'draw', size: 0 }), quick ? 2 : 4)).get(fxw)!.slice(1);
  const count = num(draws[0]!['count']);
  const initMs = med(draws, 'initMs');
  const normalMs = med(draws, 'normalMs');
  const directMs = med(draws, 'directMs');
  const stockMs = med(draws, 'stockMs');
  row(`Drawing a ${(count / 1e6).toFixed(1)}M-parameter model: init (LeCun normal) vs tf.randomNormal, ms (ratio = speed-up)`, fmt(initMs, 0), fmt(stockMs, 0), `${fmt(stockMs / initMs, 1)}×`, '≥ 3×', stockMs / initMs >= 3);
  row(`  the same init with LeCun normal drawn straight into wasm memory (truncatedNormalTensor)`, fmt(directMs, 0), fmt(stockMs, 0), `${fmt(stockMs / directMs, 1)}×`, '≥ 3×', stockMs / directMs >= 3);
  row(`fx.random.normal of ${(count / 1e6).toFixed(1)}M vs tf.randomNormal, ms (ratio = speed-up)`, fmt(normalMs, 0), fmt(stockMs, 0), `${fmt(stockMs / normalMs, 1)}×`, '', undefined);

  log('initShapes (1B)');
  const shapes = await fxw.run({ kind: 'initShapes' });
  row(`initShapes of a ${(num(shapes['count']) / 1e9).toFixed(2)}B-parameter description (ms)`, fmt(num(shapes['ms']), 3), '', '', '< 10 ms', num(shapes['ms']) < 10);

  log('memory (1,000 steps)');
  const memory = await fxw.run({ kind: 'memory', steps: [10, 1000] });
  const dt = num(memory['tensors1000']) - num(memory['tensors10']);
  const db = num(memory['bytes1000']) - num(memory['bytes10']);
  row('Live tensors after 10 / 1,000 MLP steps (growth)', `${memory['tensors10']} / ${memory['tensors1000']}`, '', `${dt >= 0 ? '+' : ''}${dt}`, '0', dt === 0);
  row('Live bytes after 10 / 1,000 MLP steps (growth)', `${memory['bytes10']} / ${memory['bytes1000']}`, '', `${db >= 0 ? '+' : ''}${db}`, '0', db === 0);

  log('profile');
  const profiles: Array<[string, Record<string, number | string>]> = [];
  for (const batch of [64, 256]) profiles.push([`an MLP step, batch ${batch}`, await fxw.run({ kind: 'profile', model: 'mlp', batch })]);
  try {
    profiles.push(['a LeNet-5 step, batch 64', await fxw.run({ kind: 'profile', model: 'lenet', batch: 64 })]);
  } catch (error) {
    log(`LeNet profile failed: ${(error as Error).message}`);
  }

  fxw.stop();
  tflw.stop();
  offw.stop();

  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  console.log(`\nflaxen benchmark — ${os.cpus().length} × ${cpu}, Node ${process.version}, tfjs 4.22 WASM SIMD (1 thread)${quick ? ' [--quick]' : ''}`);
  console.log(`medians of ${SHORT_ROUNDS} short interleaved rounds (steps, inference) or ${ROUNDS} rounds (peak, drawing); flaxen and tfjs-layers in separate processes; CPU ms = user + system time of the measuring process (the math runs on one thread), robust to other jobs on a shared machine; drawing and initShapes are wall ms\n`);
  const header: Row = { figure: 'figure', flaxen: 'flaxen', stock: 'tfjs-layers', ratio: 'ratio', target: 'target', met: 'met' };
  const widths = (Object.keys(header) as Array<keyof Row>).map((k) => Math.max(...[header, ...rows].map((r) => r[k].length)));
  const line = (r: Row) => '| ' + (Object.keys(header) as Array<keyof Row>).map((k, i) => r[k].padEnd(widths[i]!)).join(' | ') + ' |';
  console.log(line(header));
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const r of rows) console.log(line(r));
  if (lenetStock['status'] === 'failed') console.log(`\ntfjs-layers LeNet-5 on wasm: ${lenetStock['error']}`);

  for (const [what, p] of profiles) {
    const kernels = Object.keys(p).filter((k) => k.startsWith('kernel:')).map((k) => [k.slice(7), num(p[k]), num(p[`count:${k.slice(7)}`])] as const);
    const kernelMs = kernels.reduce((a, [, ms]) => a + ms, 0);
    const stepMs = num(p['stepMs']);
    kernels.sort((a, b) => b[1] - a[1]);
    const ownMs = num(p['ownMs']);
    console.log(`\nWhere ${what} spends its time (flaxen, under tf.profile: ${fmt(stepMs)} ms/step, ${fmt(ownMs)} ms in flaxen's own WebAssembly kernels (products, im2col, pooling gradient, Adam), ${fmt(kernelMs)} ms in ${kernels.reduce((a, [, , c]) => a + c, 0).toFixed(0)} tfjs kernels, ${fmt(stepMs - ownMs - kernelMs)} ms elsewhere (JS, dispatch, garbage collection)):`);
    console.log(kernels.slice(0, 8).map(([name, ms, c]) => `  ${name.padEnd(14)} ${fmt(ms, 3).padStart(7)} ms  ×${c.toFixed(0)}`).join('\n'));
    if (what.includes('LeNet')) {
      const shaped = Object.keys(p).filter((k) => k.startsWith('shaped:')).map((k) => [k.slice(7), num(p[k])] as const).sort((a, b) => b[1] - a[1]);
      console.log(`  by kernel and input shapes:\n${shaped.slice(0, 12).map(([name, ms]) => `    ${fmt(ms, 3).padStart(7)} ms  ${name}`).join('\n')}`);
    }
  }
}

/** A plain text table: the header, a rule, the rows, columns padded to their widest cell. */
function printTable(header: readonly string[], body: ReadonlyArray<readonly string[]>): void {
  const widths = header.map((_, i) => Math.max(...[header, ...body].map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) => '| ' + header.map((_, i) => (r[i] ?? '').padEnd(widths[i]!)).join(' | ') + ' |';
  console.log(line(header));
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const r of body) console.log(line(r));
}

/**
 * Issue item 6: the flaxen rows at 1 and at 2 WASM threads. Two fresh flaxen processes, started
 * alike except for the thread count, measured in interleaved rounds. Wall time is the figure
 * here: CPU time adds up the time of every thread of a process.
 */
async function threadTable(): Promise<void> {
  // Two threads need two idle cores: on a busy machine the figures would measure the other work.
  const cores = coresFree(2);
  if (!cores.free) {
    console.log(`\nflaxen at 1 and 2 WASM threads: ${cores.reason}`);
    return;
  }
  const one = new Worker('flaxen (1 thread)', './flaxen-worker.js', ['--threads=1']);
  const two = new Worker('flaxen (2 threads)', './flaxen-worker.js', ['--threads=2']);
  await Promise.all([one.started, two.started]);
  const pair = [one, two];
  const info1 = await one.run({ kind: 'info' });
  const info2 = await two.run({ kind: 'info' });
  const threads2 = num(info2['threads']);
  if (threads2 !== 2) log(`WARNING: the 2-thread process fell back to ${threads2} thread(s); its column measures ${threads2} thread(s)`);

  const body: string[][] = [];
  const ratio = (a: number, b: number) => fmt(b / a, 2);
  /** Says which side is faster, from a 2-thread/1-thread ratio of times. */
  const verdict = (r: number) => (!Number.isFinite(r) ? '' : r < 0.95 ? `2 threads ${(1 / r).toFixed(2)}× faster` : r > 1.05 ? `2 threads ${r.toFixed(2)}× slower` : 'about the same');
  const timeRows = (what: string, res: Map<Worker, Array<Record<string, number | string>>>, digits = 2, target?: number) => {
    const w1 = med(res.get(one)!, 'ms');
    const w2 = med(res.get(two)!, 'ms');
    const c1 = med(res.get(one)!, 'cpuMs');
    const c2 = med(res.get(two)!, 'cpuMs');
    const aim = target === undefined ? '' : `; target ≤ ${target}×: ${w2 / w1 <= target ? 'met' : 'NOT met'}`;
    body.push([`${what}: wall ms`, fmt(w1, digits), fmt(w2, digits), ratio(w1, w2), `${verdict(w2 / w1)}${aim} (load ${os.loadavg()[0]!.toFixed(2)})`]);
    body.push([`  the same in CPU ms (all threads)`, fmt(c1, digits), fmt(c2, digits), ratio(c1, c2), '']);
  };

  log('threads: matMul peak');
  const peaks = await interleaved(pair, () => ({ kind: 'peak' }), quick ? 1 : 3);
  const p1 = med(peaks.get(one)!, 'peak');
  const p2 = med(peaks.get(two)!, 'peak');
  body.push(['plain tf.matMul peak (tfjs\'s XNNPACK: one thread in both), GFLOPS by wall time (best of 256/512/1024 square)', fmt(p1, 1), fmt(p2, 1), ratio(p1, p2), verdict(p1 / p2)]);
  for (const size of [512, 1024]) {
    const g1 = med(peaks.get(one)!, `gflops${size}`);
    const g2 = med(peaks.get(two)!, `gflops${size}`);
    body.push([`  ${size}² alone`, fmt(g1, 1), fmt(g2, 1), ratio(g1, g2), verdict(g1 / g2)]);
  }

  for (const batch of [64, 256]) {
    log(`threads: MLP step, batch ${batch}`);
    const res = await interleaved(pair, () => ({ kind: 'mlp', batch, steps: batch === 64 ? 12 : 6 }), SHORT_ROUNDS);
    timeRows(`MLP 784-256-10 Adam step, batch ${batch}`, res, 2, batch === 256 ? 0.6 : undefined);
  }

  log('threads: LeNet-5 step, batch 64');
  try {
    timeRows('LeNet-5 step, batch 64', await interleaved(pair, () => ({ kind: 'lenet', batch: 64, steps: 5 }), SHORT_ROUNDS), 2, 0.6);
  } catch (error) {
    log(`threads: LeNet failed: ${(error as Error).message}`);
    body.push(['LeNet-5 step, batch 64', 'failed', 'failed', '', '']);
  }

  log('threads: inference');
  timeRows('Inference (apply), MLP batch 256', await interleaved(pair, () => ({ kind: 'infer', batch: 256, steps: 5 }), SHORT_ROUNDS), 3, 0.55);

  // The rest of the main table, once per process (drawing runs in JS, initShapes does no math:
  // threads should change neither; memory growth must stay zero either way).
  log('threads: parameter drawing, initShapes, memory');
  const draws = await interleaved(pair, () => ({ kind: 'draw', size: 0 }), 2);
  const d1 = med(draws.get(one)!.slice(1), 'initMs');
  const d2 = med(draws.get(two)!.slice(1), 'initMs');
  body.push(['Drawing a 50.3M-parameter model (init, LeCun normal): wall ms', fmt(d1, 0), fmt(d2, 0), ratio(d1, d2), verdict(d2 / d1)]);
  const shapes = await interleaved(pair, () => ({ kind: 'initShapes' }), 1);
  const s1 = med(shapes.get(one)!, 'ms');
  const s2 = med(shapes.get(two)!, 'ms');
  body.push(['initShapes of a 1.07B-parameter description: ms', fmt(s1, 3), fmt(s2, 3), ratio(s1, s2), '']);
  const memory = await interleaved(pair, () => ({ kind: 'memory', steps: [10, 1000] }), 1);
  const growth = (w: Worker, unit: 'tensors' | 'bytes') => num(memory.get(w)![0]![`${unit}1000`]) - num(memory.get(w)![0]![`${unit}10`]);
  const signed = (g: number) => `${g >= 0 ? '+' : ''}${g}`;
  body.push(['Live tensors, growth from 10 to 1,000 MLP steps', signed(growth(one, 'tensors')), signed(growth(two, 'tensors')), '', '']);
  body.push(['Live bytes, growth from 10 to 1,000 MLP steps', signed(growth(one, 'bytes')), signed(growth(two, 'bytes')), '', '']);

  one.stop();
  two.stop();

  console.log(`\nflaxen at 1 and 2 WASM threads — two fresh flaxen processes, fx.ready('wasm', { threads: 1 }) and fx.ready('wasm', { threads: 2 }); fx.backendInfo().threads: ${info1['threads']} and ${threads2}`);
  if (threads2 !== 2) console.log(`!! the 2-thread process FELL BACK to ${threads2} thread(s) (see the warning above): its column is not a 2-thread figure`);
  console.log(`medians of ${SHORT_ROUNDS} short interleaved rounds (steps, inference) or ${quick ? 1 : 3} rounds (peak); ratio = 2 threads / 1 thread (for ms below 1 is faster, for GFLOPS above 1 is faster); wall time is the figure to read, CPU ms add up all threads; cores were free at the start (${cores.reason}); load average at the end ${loadText()}\n`);
  printTable(['figure', '1 thread', '2 threads', 'ratio 2t/1t', 'reading'], body);
}

if (!threadsOnly) await main();
if (!noThreads) await threadTable();
if (!noAnchors) await anchorsTable(log);
// The recurrent section (bench/rnn.ts): an LSTM step against tfjs-layers' lstm, a Transformer block step.
if (!threadsOnly) await recurrentTable(quick);
console.log(`\ntotal bench time ${((performance.now() - started) / 1000).toFixed(0)} s`);
