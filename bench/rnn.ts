/**
 * The recurrent section of `npm run bench` (issue 13): an LSTM language model's training step in
 * flaxen against tfjs-layers' `lstm` with `trainOnBatch`, on the same WASM backend in two
 * processes measured in interleaved rounds, and a causal Transformer block's training step as a
 * share of the matMul peak. `node dist/bench/rnn.js` runs this section alone (`--quick`: fewer
 * rounds).
 *
 * @module
 */
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { WorkerProcess } from './worker-process.js';
import { median } from './protocol.js';
import { BLOCK_SIZES, LSTM_SIZES, type RnnTask } from './rnn-protocol.js';

class RnnWorker extends WorkerProcess<RnnTask> {}

const num = (v: number | string | undefined): number => (typeof v === 'number' ? v : NaN);
const fmt = (v: number, digits = 2) => (Number.isFinite(v) ? v.toFixed(digits) : 'n/a');
const med = (values: Array<Record<string, number | string>>, key: string) => median(values.map((v) => num(v[key])));

/** Runs the recurrent section and prints its table. */
export async function recurrentTable(quick: boolean): Promise<void> {
  const rounds = quick ? 2 : 5;
  const log = (s: string) => process.stderr.write(`[bench rnn] ${s}\n`);
  const fxw = new RnnWorker('flaxen', './rnn-flaxen-worker.js');
  const tflw = new RnnWorker('tfjs-layers', './rnn-layers-worker.js');
  await Promise.all([fxw.started, tflw.started]);
  // Rounds alternate between the processes; flaxen measures OptimizedLSTMCell (the fused
  // kernels) and LSTMCell (the reference scan with tfjs ops) in each of its turns.
  const results = new Map<string, Array<Record<string, number | string>>>([['fast', []], ['plain', []], ['stock', []]]);
  log('LSTM training step');
  for (let r = 0; r < rounds; r++) {
    for (const w of r % 2 === 0 ? [fxw, tflw] : [tflw, fxw]) {
      if (w === tflw) results.get('stock')!.push(await w.run({ kind: 'lstm', steps: 2 }));
      else {
        results.get('fast')!.push(await w.run({ kind: 'lstm', steps: 5, cell: 'OptimizedLSTMCell' }));
        // The reference scan takes seconds a step: one step in each of the first 3 rounds.
        if (r < 3) results.get('plain')!.push(await w.run({ kind: 'lstm', steps: 1, cell: 'LSTMCell' }));
      }
    }
  }
  log('matMul peak and Transformer block step');
  const peak = med([await fxw.run({ kind: 'peak' })], 'cpuPeak');
  const blocks: Array<Record<string, number | string>> = [];
  for (let r = 0; r < rounds; r++) blocks.push(await fxw.run({ kind: 'block', steps: 2 }));
  fxw.stop();
  tflw.stop();

  const { batch, time, hidden, vocab } = LSTM_SIZES;
  const tokens = batch * time;
  const f = med(results.get('fast')!, 'cpuMs');
  const s = med(results.get('stock')!, 'cpuMs');
  const fw = med(results.get('fast')!, 'ms');
  const sw = med(results.get('stock')!, 'ms');
  const p = med(results.get('plain')!, 'cpuMs');
  const blockMs = med(blocks, 'cpuMs');
  const blockShare = med(blocks, 'cpuGflops') / peak;
  const body: string[][] = [
    [`LSTM LM step (batch ${batch}, ${time} steps, ${hidden} hidden, vocab ${vocab}, Adam), OptimizedLSTMCell: CPU ms`, fmt(f), fmt(s), fmt(f / s, 3), '≤ 0.25', f / s <= 0.25 ? 'yes' : 'NO'],
    ['  the same in wall ms', fmt(fw), fmt(sw), fmt(fw / sw, 3), '', ''],
    ['  tokens per second (by CPU time)', fmt(tokens / f * 1000, 0), fmt(tokens / s * 1000, 0), 'speed-up ' + fmt(s / f, 2) + '×', '', ''],
    ['  flaxen with LSTMCell (the reference scan, tfjs ops per step): CPU ms', fmt(p), fmt(s), fmt(p / s, 3), '', ''],
    [`causal Transformer block step (d ${BLOCK_SIZES.width}, ${BLOCK_SIZES.heads} heads, MLP ${BLOCK_SIZES.mlp}): CPU ms (share of the matMul peak ${fmt(peak, 1)} GFLOPS)`, `${fmt(blockMs)} (${(100 * blockShare).toFixed(0)}%)`, '', '', '', ''],
  ];
  console.log(`\nrecurrent models — ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}, tfjs 4.22 WASM SIMD (1 thread)${quick ? ' [--quick]' : ''}`);
  console.log(`medians of ${rounds} interleaved rounds (flaxen: 5 steps a round with OptimizedLSTMCell, and 1 with LSTMCell in the first 3; tfjs-layers: 2; the Transformer block: 2); flaxen and tfjs-layers in separate processes; one-hot inputs, softmax cross-entropy on every step; load average ${os.loadavg().map((l) => l.toFixed(2)).join(', ')}\n`);
  const header = ['figure', 'flaxen', 'tfjs-layers', 'ratio', 'target', 'met'];
  const widths = header.map((_, i) => Math.max(...[header, ...body].map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) => '| ' + header.map((_, i) => (r[i] ?? '').padEnd(widths[i]!)).join(' | ') + ' |';
  console.log(line(header));
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const r of body) console.log(line(r));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await recurrentTable(process.argv.includes('--quick'));
