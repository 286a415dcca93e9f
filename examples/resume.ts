/**
 * Training that survives `kill -9`, bit for bit. The LeNet CNN of `mnist-cnn.ts` trains on the
 * MNIST digits with a `fx.checkpoint.CheckpointManager`; a first process kills itself with
 * SIGKILL in the middle of the run, a second one resumes from the latest checkpoint and
 * finishes, and a third trains the same run without interruption. The loss curves (read back
 * from the managers' metrics logs) and the final parameters are compared bit for bit.
 *
 *     npm run build && node dist/examples/resume.js [--steps 40] [--kill-at 17] [--every 10] [--batch-size 32] [--dir DIR]
 *
 * What makes it exact: the whole `fx.train.TrainState` is checkpointed (Adam's moments and its
 * step count, which the cosine schedule reads, included) and restored live with
 * `manager.restore(freshState)`; the batch of step `s` comes from
 * `fx.data.stream(train, batchSize, dataKey, { start })`, a function of (key, epoch, position)
 * only; and nothing else is random.
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../lib/index.js';
import { lenet } from './mnist-cnn.js';
import type { ModelSpec } from './mnist-mlp.js';

/** Options of the demo; every field has a default. */
export interface ResumeOptions {
  /** Training steps of the whole run (default 40). */
  readonly steps?: number;
  /** The first process kills itself after this step (default 17). */
  readonly killAt?: number;
  /** A checkpoint every this many steps (default 10). */
  readonly every?: number;
  /** Digits per step (default 32). */
  readonly batchSize?: number;
  /** Training digits (default 2,000). */
  readonly trainSize?: number;
  /** Where the two runs keep their checkpoints (default: a new temporary folder, removed at the end). */
  readonly dir?: string;
  /** Print progress lines (default true). */
  readonly log?: boolean | ((line: string) => void);
}

/** What {@link resumeDemo} found. */
export interface ResumeReport {
  /** The step the second process resumed from. */
  readonly resumedFrom: number;
  /** The last step the killed process finished. */
  readonly killedAfter: number;
  /** The loss curve of the interrupted run equals the uninterrupted one, bit for bit. */
  readonly sameLosses: boolean;
  /** The final parameters are equal, byte for byte. */
  readonly sameParams: boolean;
  /** The uninterrupted run's losses, step by step. */
  readonly losses: number[];
}

const DEFAULTS = { steps: 40, killAt: 17, every: 10, batchSize: 32, trainSize: 2000 };
type Settings = typeof DEFAULTS;

/** What one training run needs: the run's length, checkpoint interval, batches, and the model. */
export interface RunSettings {
  /** Steps of the whole run. */
  readonly steps: number;
  /** A checkpoint every this many steps. */
  readonly every: number;
  /** Digits per step. */
  readonly batchSize: number;
  /** Training digits. */
  readonly trainSize: number;
  /** The model (default: the LeNet CNN of `mnist-cnn.ts`). */
  readonly spec?: ModelSpec;
}

/** What {@link train} did. */
export interface RunResult {
  /** The step it started from (the latest checkpoint, or 0). */
  readonly start: number;
  /** The loss of each step it computed, by step. */
  readonly losses: ReadonlyMap<number, number>;
  /** The final parameters as safetensors bytes (undefined when stopped early). */
  readonly final?: Uint8Array;
}

/**
 * One training run with a manager in `dir`: resumes from the latest checkpoint there (if any),
 * trains to `settings.steps`, saving every `settings.every` steps with the loss in the metrics
 * log. `onStep` sees each step's loss; `stopAfter` ends the run after that step, as a crash
 * would (nothing is saved on the way out).
 */
export async function train(dir: string, settings: RunSettings, opts: { readonly stopAfter?: number; readonly onStep?: (step: number, loss: number) => void } = {}): Promise<RunResult> {
  const spec = settings.spec ?? lenet;
  await fx.ready();
  const { train: digits } = await fx.data.mnist.load({ trainSize: settings.trainSize, testSize: 0 });
  const [initKey, dataKey] = fx.random.split(fx.random.key(0));
  const tx = fx.optim.adam(fx.optim.schedules.cosineDecay(3e-3, settings.steps));
  // The state a run starts from, and the target a checkpoint is restored into (same model, same optimizer).
  const fresh = () => fx.train.TrainState.create({ apply: spec.model, variables: spec.model.init(initKey!, [1, ...spec.inputShape]), tx });
  type State = ReturnType<typeof fresh>;

  const manager = new fx.checkpoint.CheckpointManager(dir, { saveIntervalSteps: settings.every, maxToKeep: 2 });
  let state: State = fresh();
  if (manager.latestStep() !== undefined) {
    const target = state;
    state = await manager.restore(target); // a live TrainState: step, params, Adam's moments and count
    target.dispose();
  }
  const start = state.step;
  const losses = new Map<number, number>();
  const lossFn = (params: State['params'], batch: fx.data.Batch, s: State) =>
    tf.mean(fx.losses.softmaxCrossEntropyWithIntegerLabels(s.apply(s.variables(params), batch.images), batch.labels));
  for (const batch of fx.data.stream(digits, settings.batchSize, dataKey!, { start, end: settings.steps, shape: spec.inputShape })) {
    const result = fx.train.trainStep(state, lossFn, batch);
    tf.dispose([batch.images, batch.labels]);
    state = result.state;
    await manager.save(state.step, state, { metrics: { loss: result.loss } });
    losses.set(batch.step, result.loss);
    opts.onStep?.(batch.step, result.loss);
    if (batch.step === opts.stopAfter) {
      state.dispose();
      return { start, losses };
    }
  }
  const final = fx.checkpoint.toBytes(state.params);
  state.dispose();
  return { start, losses, final };
}

/** A training process (this file run with `--child`): prints its steps, and kills itself with SIGKILL after `killAt`. */
async function trainProcess(dir: string, settings: Settings, killAt: number | undefined): Promise<void> {
  const { final } = await train(dir, settings, {
    onStep: (step) => {
      process.stdout.write(`step ${step}\n`);
      if (step === killAt) process.kill(process.pid, 'SIGKILL');
    },
  });
  await fx.checkpoint.saveBytes(`${dir}.final`, final!);
}

/** Runs this file as a training process; resolves with the steps it printed, and whether it was killed. */
function child(dir: string, settings: Settings, killAt?: number): Promise<{ start: number; last: number; killed: boolean }> {
  const args = [fileURLToPath(import.meta.url), '--child', dir, ...Object.entries(settings).flatMap(([k, v]) => [`--${k}`, String(v)])];
  if (killAt !== undefined) args.push('--self-kill', String(killAt));
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10 * 60_000);
    proc.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    proc.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
    proc.on('exit', (code, signal) => {
      clearTimeout(timer);
      const steps = [...out.matchAll(/step (\d+)/g)].map((m) => Number(m[1]));
      const start = steps[0] ?? -1;
      const killed = signal === 'SIGKILL';
      if ((killed && killAt === undefined) || (!killed && code !== 0)) reject(new Error(`a training process failed (${code ?? signal}): ${err}`));
      else resolve({ start, last: steps[steps.length - 1] ?? -1, killed });
    });
  });
}

const floatBits = (x: number) => new Uint32Array(new Float32Array([x]).buffer)[0]!;

/**
 * The demo: a run killed after `killAt` and resumed, against a run never interrupted.
 *
 * @example
 * ```ts no-run
 * const report = await resumeDemo({ steps: 30, killAt: 12 });
 * report.sameLosses && report.sameParams;   // true
 * ```
 */
export async function resumeDemo(opts: ResumeOptions = {}): Promise<ResumeReport> {
  const settings: Settings = {
    steps: opts.steps ?? DEFAULTS.steps,
    killAt: opts.killAt ?? DEFAULTS.killAt,
    every: opts.every ?? DEFAULTS.every,
    batchSize: opts.batchSize ?? DEFAULTS.batchSize,
    trainSize: opts.trainSize ?? DEFAULTS.trainSize,
  };
  if (!(settings.killAt >= 0 && settings.killAt < settings.steps - 1)) throw new Error(`--kill-at must be in [0, ${settings.steps - 2}], found ${settings.killAt}`);
  const print = opts.log === false ? () => {} : typeof opts.log === 'function' ? opts.log : (line: string) => console.log(line);
  const root = opts.dir ?? (await mkdtemp(join(tmpdir(), 'flaxen-resume-')));
  const interrupted = join(root, 'interrupted');
  const straight = join(root, 'uninterrupted');
  try {
    print(`${lenet.name} on ${settings.trainSize} MNIST digits: ${settings.steps} steps of ${settings.batchSize}, Adam with cosine decay, a checkpoint every ${settings.every} steps in ${root}`);
    const first = await child(interrupted, settings, settings.killAt);
    print(`run 1: started at step ${first.start}, killed itself with SIGKILL after step ${first.last}`);
    const second = await child(interrupted, settings);
    print(`run 2: resumed from the checkpoint of step ${second.start}, trained to step ${second.last + 1}`);
    const third = await child(straight, settings);
    print(`uninterrupted run: steps ${third.start}–${third.last}`);

    const curve = async (dir: string) => (await new fx.checkpoint.CheckpointManager(dir).readMetrics()).map((r) => r['loss'] as number);
    const [a, b] = await Promise.all([curve(interrupted), curve(straight)]);
    const sameLosses = a.length === settings.steps && b.length === settings.steps && a.every((x, i) => floatBits(x) === floatBits(b[i]!));
    const [pa, pb] = await Promise.all([readFile(`${interrupted}.final`), readFile(`${straight}.final`)]);
    const sameParams = pa.equals(pb);
    print(`loss curve equal to the uninterrupted one, bit for bit: ${sameLosses} (${b.length} steps; first ${b[0]?.toFixed(4)}, last ${b[b.length - 1]?.toFixed(4)})`);
    print(`final parameters equal, byte for byte: ${sameParams}`);
    return { resumedFrom: second.start, killedAfter: first.last, sameLosses, sameParams, losses: b };
  } finally {
    if (opts.dir === undefined) await rm(root, { recursive: true, force: true });
  }
}

const USAGE = 'usage: node dist/examples/resume.js [--steps 40] [--kill-at 17] [--every 10] [--batch-size 32] [--train-size 2000] [--dir DIR]';

function parse(argv: readonly string[]): { childDir?: string; selfKill?: number; opts: ResumeOptions } {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i]!;
    const value = argv[i + 1];
    if (!flag.startsWith('--') || value === undefined) throw new Error(USAGE);
    out[flag.slice(2)] = value;
  }
  const num = (name: string) => {
    if (out[name] === undefined) return undefined;
    const v = Number(out[name]);
    if (!Number.isSafeInteger(v) || v < 0) throw new Error(`--${name} must be a non-negative integer, found ${out[name]}\n${USAGE}`);
    return v;
  };
  const known = ['child', 'self-kill', 'steps', 'killAt', 'kill-at', 'every', 'batchSize', 'batch-size', 'trainSize', 'train-size', 'dir'];
  const unknown = Object.keys(out).filter((k) => !known.includes(k));
  if (unknown.length) throw new Error(`unknown flag --${unknown[0]}\n${USAGE}`);
  return {
    ...(out['child'] !== undefined ? { childDir: out['child'] } : {}),
    ...(num('self-kill') !== undefined ? { selfKill: num('self-kill')! } : {}),
    opts: {
      steps: num('steps'),
      killAt: num('kill-at') ?? num('killAt'),
      every: num('every'),
      batchSize: num('batch-size') ?? num('batchSize'),
      trainSize: num('train-size') ?? num('trainSize'),
      ...(out['dir'] !== undefined ? { dir: out['dir'] } : {}),
    },
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { childDir, selfKill, opts } = parse(process.argv.slice(2));
  if (childDir !== undefined) {
    await trainProcess(childDir, { ...DEFAULTS, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) } as Settings, selfKill);
  } else {
    const report = await resumeDemo(opts);
    if (!report.sameLosses || !report.sameParams) process.exitCode = 1;
  }
}
