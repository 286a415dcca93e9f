/**
 * `CheckpointManager`: a folder of checkpoints of one training run (Orbax's
 * `CheckpointManager`): save every K steps, keep the last N and the best by a metric, list and
 * restore the latest, and a metrics log beside them.
 *
 * The folder is its own index. A step is the file `step-<n>.safetensors`, written crash-safely
 * by `save` (temporary file, fsync, rename), so a step is listed only once it is complete; its
 * metrics are stored in the file's metadata, so the best step is known again after a restart.
 * A new manager on the folder of an earlier process lists its steps at construction
 * (synchronously, so {@link CheckpointManager.latestStep} is a plain call).
 *
 * @module
 */
import { FlaxenError, describeValue } from '../errors.js';
import { checkOptions, isPlainObject } from '../check-options.js';
import type { Variables } from '../core/module.js';
import { CheckpointError } from './errors.js';
import type { Metadata, Restored } from './format.js';
import { toBytes } from './format.js';
import { parseHeader, readHeaderLength } from './header.js';
import { hostTag, isAlive, node, tempNameParts, writeAtomically } from './atomic.js';
import { load } from './io.js';

/**
 * Which checkpoint counts as the best: the one whose `metrics[metric]` is the smallest
 * (`mode: 'min'`, e.g. a validation loss) or the largest (`'max'`, e.g. an accuracy).
 *
 * @example
 * ```ts
 * const best: fx.checkpoint.BestOptions = { metric: 'loss', mode: 'min' };
 * ```
 */
export interface BestOptions {
  /** The name of the metric, as passed in `save(step, tree, { metrics })`. */
  readonly metric: string;
  /** `'min'`: smaller is better; `'max'`: larger is better. */
  readonly mode: 'min' | 'max';
}

/**
 * Options of {@link CheckpointManager}.
 *
 * @example
 * ```ts
 * const opts: fx.checkpoint.CheckpointManagerOptions = { maxToKeep: 3, saveIntervalSteps: 100, best: { metric: 'loss', mode: 'min' } };
 * ```
 */
export interface CheckpointManagerOptions {
  /**
   * Keep only the last `maxToKeep` steps (and the best one, with `best`); older files are
   * deleted after each save. Default: keep every step.
   */
  readonly maxToKeep?: number;
  /** Save only steps that are multiples of this (default 1: every step given to `save`). */
  readonly saveIntervalSteps?: number;
  /** Also keep the best step by a metric, whatever `maxToKeep` says. */
  readonly best?: BestOptions;
}

/**
 * Options of {@link CheckpointManager.save}.
 *
 * @example
 * ```ts
 * const opts: fx.checkpoint.ManagerSaveOptions = { metrics: { loss: 0.25 }, config: { lr: 0.001, batchSize: 64 } };
 * ```
 */
export interface ManagerSaveOptions {
  /**
   * Numbers of this step (e.g. `{ loss, accuracy }`). They are appended to the metrics log
   * (also when the interval skips the checkpoint), stored in the checkpoint, and ranked by
   * `best`. A non-finite value is logged as `null` and never counts as the best.
   */
  readonly metrics?: Readonly<Record<string, number>>;
  /** Strings stored in the checkpoint's metadata. */
  readonly metadata?: Metadata;
  /** The run's configuration (any JSON data), stored in the checkpoint as `save`'s `config` is. */
  readonly config?: unknown;
  /** Save even when the step is not a multiple of `saveIntervalSteps` (e.g. the last step). */
  readonly force?: boolean;
}

/**
 * Options of {@link CheckpointManager.restore}.
 *
 * @example
 * ```ts
 * const opts: fx.checkpoint.ManagerRestoreOptions = { step: 200 };
 * ```
 */
export interface ManagerRestoreOptions {
  /** The step to restore (default: the latest). */
  readonly step?: number;
}

/**
 * One line of the metrics log: the step, the wall-clock time (seconds since 1970, as
 * TensorBoard's `wall_time`) and the metrics given to `save` (`null` for a non-finite value).
 *
 * @example
 * ```ts
 * const record: fx.checkpoint.MetricsRecord = { step: 10, wallTime: 1764680000.5, loss: 0.31 };
 * ```
 */
export interface MetricsRecord {
  /** The step the metrics belong to. */
  readonly step: number;
  /** When `save` was called: seconds since 1970-01-01 UTC. */
  readonly wallTime: number;
  /** The metrics. */
  readonly [metric: string]: number | null;
}

/** The metrics log's file name in the manager's folder. */
export const METRICS_LOG = 'metrics.jsonl';

const STEP_FILE = /^step-(0|[1-9][0-9]*)\.safetensors$/;
const TEMP_OF_STEP = /^\.(step-(?:0|[1-9][0-9]*)\.safetensors)\./;
const RESERVED_METADATA = ['step', 'metrics'];
const RESERVED_METRICS = ['step', 'wallTime'];

type SyncFs = typeof import('node:fs');
type SyncPath = typeof import('node:path');

/** Node's synchronous fs and path, without a static import (so bundling for a browser works). */
function syncNode(): { fs: SyncFs; path: SyncPath } {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const fs = proc?.getBuiltinModule?.('node:fs') as SyncFs | undefined;
  const path = proc?.getBuiltinModule?.('node:path') as SyncPath | undefined;
  if (!fs || !path) throw new CheckpointError('', `CheckpointManager needs Node's file system (Node ≥ 20.16), which is not available here; in a browser use fx.checkpoint.toBytes / fromBytes`);
  return { fs, path };
}

function checkStep(step: unknown, where: string): number {
  if (typeof step !== 'number' || !Number.isSafeInteger(step) || step < 0) throw new FlaxenError('', `${where}: step must be a non-negative integer, found ${describeValue(step)}`);
  return step;
}

function checkPositive(value: unknown, name: string): void {
  if (value !== undefined && (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1)) {
    throw new FlaxenError('', `CheckpointManager: option '${name}' must be a positive integer, found ${describeValue(value)}`);
  }
}

function checkMetrics(metrics: unknown, where: string): Readonly<Record<string, number>> | undefined {
  if (metrics === undefined) return undefined;
  if (!isPlainObject(metrics)) throw new FlaxenError('', `${where}: metrics must be an object of numbers such as { loss: 0.25 }, found ${describeValue(metrics)}`);
  for (const name of Object.keys(metrics)) {
    if (RESERVED_METRICS.includes(name)) throw new FlaxenError('', `${where}: the metric name '${name}' is reserved (the log writes it itself)`);
    if (typeof metrics[name] !== 'number') throw new FlaxenError('', `${where}: metric '${name}' must be a number, found ${describeValue(metrics[name])}`);
  }
  return metrics as Record<string, number>;
}

/** JSON for metrics: non-finite numbers become null (JSON has no NaN). */
function metricsJson(metrics: Readonly<Record<string, number>>): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const name of Object.keys(metrics)) Object.defineProperty(out, name, { value: Number.isFinite(metrics[name]) ? metrics[name] : null, enumerable: true });
  return out;
}

function isMetricsRecord(record: unknown): record is Record<string, number | null> {
  return (
    isPlainObject(record) &&
    typeof record['step'] === 'number' && Number.isSafeInteger(record['step']) && record['step'] >= 0 &&
    typeof record['wallTime'] === 'number' &&
    Object.keys(record).every((k) => record[k] === null || typeof record[k] === 'number')
  );
}

/** What the manager knows of one listed step. */
interface StepEntry {
  readonly step: number;
  readonly metrics: Readonly<Record<string, number | null>>;
}

/** Reads and checks a checkpoint file's header synchronously; returns its metadata. */
function readMetadataSync(fs: SyncFs, file: string): Readonly<Record<string, string>> {
  const source = `checkpoint file '${file}'`;
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const first = new Uint8Array(Math.min(size, 8));
    fs.readSync(fd, first, 0, first.length, 0);
    const headerLength = readHeaderLength(first, source, size);
    const head = new Uint8Array(8 + headerLength);
    if (fs.readSync(fd, head, 0, head.length, 0) !== head.length) throw new CheckpointError('', `${source}: the file shrank while its header was read`);
    return parseHeader(head, source, size).metadata;
  } finally {
    fs.closeSync(fd);
  }
}

/** The metrics stored in a checkpoint's metadata (empty when there are none). */
function storedMetrics(metadata: Readonly<Record<string, string>>, file: string): Record<string, number | null> {
  const text = metadata['metrics'];
  if (text === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CheckpointError('', `checkpoint file '${file}': its metadata 'metrics' is not JSON`);
  }
  if (!isPlainObject(parsed) || Object.keys(parsed).some((k) => parsed[k] !== null && typeof parsed[k] !== 'number')) {
    throw new CheckpointError('', `checkpoint file '${file}': its metadata 'metrics' is not an object of numbers`);
  }
  const out: Record<string, number | null> = {};
  for (const name of Object.keys(parsed)) Object.defineProperty(out, name, { value: parsed[name], enumerable: true });
  return out;
}

/**
 * A folder of checkpoints of one training run (Orbax's `CheckpointManager`).
 *
 * - `save(step, tree, { metrics })` writes `step-<step>.safetensors` crash-safely when `step` is
 *   a multiple of `saveIntervalSteps` and later than the latest saved step (otherwise it
 *   resolves to `false` and writes nothing), then deletes the steps that are neither among the
 *   last `maxToKeep` nor the best by `best.metric`.
 * - `restore(target, { step })` loads a step (the latest by default) checked against `target`,
 *   as `fx.checkpoint.load` does.
 * - `latestStep()`, `bestStep()`, `steps()` (ascending) list what is in the folder; a manager
 *   on the folder of an earlier (even killed) process sees its complete steps, never a
 *   half-written one.
 * - Every `save` with metrics appends a JSON line `{ step, ...metrics, wallTime }` to
 *   `metrics.jsonl` in the folder ({@link CheckpointManager.readMetrics}).
 *
 * The constructor creates the folder if needed and reads the headers of the files in it
 * synchronously. Files it does not recognize, and damaged checkpoints, are ignored with one
 * `console.warn`. Saves run one after the other in call order; each reads its tensors before
 * `save` returns, so they may be disposed at once.
 *
 * @example
 * ```ts
 * const dir = 'checkpoints/run-1';
 * const manager = new fx.checkpoint.CheckpointManager(dir, { maxToKeep: 2, saveIntervalSteps: 10 });
 * const net = fx.nn.Dense(2);
 * const variables = net.init(fx.random.key(0), [1, 3]);
 * for (let step = 0; step <= 30; step++) {
 *   await manager.save(step, variables, { metrics: { loss: 1 / (step + 1) } });   // saves steps 0, 10, 20, 30
 * }
 * manager.steps();        // [20, 30]
 * const again = new fx.checkpoint.CheckpointManager(dir);   // e.g. in a new process
 * again.latestStep();     // 30
 * const restored = await again.restore(net.initShapes(fx.random.key(0), [1, 3]));
 * fx.tree.dispose({ variables, restored });
 * ```
 */
export class CheckpointManager {
  /** The folder, as given. */
  readonly directory: string;
  /** The options, as given (`{}` when none). */
  readonly options: CheckpointManagerOptions;
  readonly #fs: SyncFs;
  readonly #path: SyncPath;
  readonly #entries = new Map<number, StepEntry>();
  /** The latest step saved or being saved: a step at or below it is skipped. */
  #latestRequested: number | undefined;
  /** Saves (and log writes) run one after the other. */
  #queue: Promise<unknown> = Promise.resolve();

  /**
   * Opens (and creates, if needed) the folder `dir` and lists its steps.
   *
   * @param dir - the folder of this run's checkpoints.
   * @param options - `maxToKeep`, `saveIntervalSteps`, `best`; see {@link CheckpointManagerOptions}.
   * @example
   * ```ts
   * const manager = new fx.checkpoint.CheckpointManager('checkpoints/mlp', { maxToKeep: 3 });
   * manager.steps();   // [] for a new folder
   * ```
   */
  constructor(dir: string, options?: CheckpointManagerOptions) {
    if (typeof dir !== 'string' || dir === '') throw new CheckpointError('', `CheckpointManager: the folder must be a non-empty path string, found ${describeValue(dir)}`);
    const opts = checkOptions<CheckpointManagerOptions>('CheckpointManager', options, { maxToKeep: 'number', saveIntervalSteps: 'number', best: 'any' });
    checkPositive(opts.maxToKeep, 'maxToKeep');
    checkPositive(opts.saveIntervalSteps, 'saveIntervalSteps');
    if (opts.best !== undefined) {
      const best = checkOptions<BestOptions>('CheckpointManager: option best', opts.best, { metric: 'string', mode: 'string' });
      if (typeof best.metric !== 'string' || best.metric === '') throw new FlaxenError('', `CheckpointManager: best.metric must name a metric (a non-empty string), found ${describeValue(best.metric)}`);
      if (best.mode !== 'min' && best.mode !== 'max') throw new FlaxenError('', `CheckpointManager: best.mode must be 'min' or 'max', found ${describeValue(best.mode)}`);
    }
    this.directory = dir;
    this.options = Object.freeze({ ...opts, ...(opts.best ? { best: Object.freeze({ ...opts.best }) } : {}) });
    const { fs, path } = syncNode();
    this.#fs = fs;
    this.#path = path;
    try {
      fs.mkdirSync(dir, { recursive: true });
    } catch (error) {
      throw new CheckpointError('', `CheckpointManager: could not create the folder '${dir}': ${(error as Error).message}`, { cause: error });
    }
    this.#scan();
    this.#latestRequested = this.latestStep();
  }

  /** Lists the folder: complete steps are kept, anything else is reported once. */
  #scan(): void {
    let names: string[];
    try {
      names = this.#fs.readdirSync(this.directory).sort();
    } catch (error) {
      throw new CheckpointError('', `CheckpointManager: could not list the folder '${this.directory}': ${(error as Error).message}`, { cause: error });
    }
    const ignored: string[] = [];
    for (const name of names) {
      if (name === METRICS_LOG) continue;
      const temp = TEMP_OF_STEP.exec(name);
      if (temp && tempNameParts(temp[1]!, name)) continue; // a save in progress, or one killed (removed at the next save)
      const match = STEP_FILE.exec(name);
      const file = this.#path.join(this.directory, name);
      if (!match) {
        ignored.push(`'${name}' (not a checkpoint of this manager)`);
        continue;
      }
      const step = Number(match[1]);
      try {
        if (!this.#fs.statSync(file).isFile()) throw new CheckpointError('', 'not a regular file');
        const metadata = readMetadataSync(this.#fs, file);
        if (metadata['step'] !== undefined && metadata['step'] !== String(step)) throw new CheckpointError('', `its metadata says step ${JSON.stringify(metadata['step'])}`);
        this.#entries.set(step, Object.freeze({ step, metrics: Object.freeze(storedMetrics(metadata, file)) }));
      } catch (error) {
        ignored.push(`'${name}' (${(error as Error).message})`);
      }
    }
    if (ignored.length) {
      console.warn(`flaxen: CheckpointManager('${this.directory}') ignores ${ignored.length} file${ignored.length > 1 ? 's' : ''} it cannot use:\n  - ${ignored.join('\n  - ')}`);
    }
  }

  /**
   * The saved steps, ascending.
   *
   * @example
   * ```ts
   * const manager = new fx.checkpoint.CheckpointManager('checkpoints/steps');
   * const vars = fx.nn.Dense(1).init(fx.random.key(0), [1, 2]);
   * await manager.save(5, vars);
   * await manager.save(9, vars);
   * manager.steps();   // [5, 9]
   * fx.tree.dispose(vars);
   * ```
   */
  steps(): number[] {
    return [...this.#entries.keys()].sort((a, b) => a - b);
  }

  /**
   * The latest saved step, or `undefined` when the folder holds none.
   *
   * @example
   * ```ts
   * const manager = new fx.checkpoint.CheckpointManager('checkpoints/latest');
   * const start = manager.latestStep() ?? 0;   // 0 for a new run
   * ```
   */
  latestStep(): number | undefined {
    const steps = this.steps();
    return steps[steps.length - 1];
  }

  /**
   * The best saved step by `options.best` (the first of equals), or `undefined` without `best`
   * or when no saved step has that metric.
   *
   * @example
   * ```ts
   * const manager = new fx.checkpoint.CheckpointManager('checkpoints/best', { maxToKeep: 1, best: { metric: 'loss', mode: 'min' } });
   * const vars = fx.nn.Dense(1).init(fx.random.key(0), [1, 2]);
   * for (const [step, loss] of [[1, 0.5], [2, 0.1], [3, 0.4]]) await manager.save(step!, vars, { metrics: { loss: loss! } });
   * manager.bestStep();   // 2
   * manager.steps();      // [2, 3]
   * fx.tree.dispose(vars);
   * ```
   */
  bestStep(): number | undefined {
    const best = this.options.best;
    if (!best) return undefined;
    let bestStep: number | undefined;
    let bestValue = 0;
    for (const step of this.steps()) {
      const value = this.#entries.get(step)!.metrics[best.metric];
      if (typeof value !== 'number' || !Number.isFinite(value)) continue;
      if (bestStep === undefined || (best.mode === 'min' ? value < bestValue : value > bestValue)) {
        bestStep = step;
        bestValue = value;
      }
    }
    return bestStep;
  }

  /**
   * The metrics stored with a saved step (`{}` when it was saved without), or `undefined`
   * when the step is not listed.
   *
   * @example
   * ```ts
   * const manager = new fx.checkpoint.CheckpointManager('checkpoints/metrics');
   * const vars = fx.nn.Dense(1).init(fx.random.key(0), [1, 2]);
   * await manager.save(4, vars, { metrics: { loss: 0.5 } });
   * manager.metrics(4);   // { loss: 0.5 }
   * fx.tree.dispose(vars);
   * ```
   */
  metrics(step: number): Readonly<Record<string, number | null>> | undefined {
    return this.#entries.get(step)?.metrics;
  }

  /**
   * The file of a step in the folder (whether or not it exists).
   *
   * @example
   * ```ts
   * new fx.checkpoint.CheckpointManager('checkpoints/files').fileOf(100);   // 'checkpoints/files/step-100.safetensors'
   * ```
   */
  fileOf(step: number): string {
    return this.#path.join(this.directory, `step-${checkStep(step, 'CheckpointManager.fileOf')}.safetensors`);
  }

  /**
   * Whether `save(step, …)` would write a checkpoint: `step` is a multiple of
   * `saveIntervalSteps` (or `force`) and later than every step saved or being saved.
   *
   * @example
   * ```ts
   * const manager = new fx.checkpoint.CheckpointManager('checkpoints/should', { saveIntervalSteps: 10 });
   * manager.shouldSave(10);   // true
   * manager.shouldSave(15);   // false
   * ```
   */
  shouldSave(step: number, opts: { readonly force?: boolean } = {}): boolean {
    checkStep(step, 'CheckpointManager.shouldSave');
    if (this.#latestRequested !== undefined && step <= this.#latestRequested) return false;
    return opts.force === true || step % (this.options.saveIntervalSteps ?? 1) === 0;
  }

  /**
   * Saves `tree` as step `step` when {@link CheckpointManager.shouldSave} says so, and appends
   * the metrics (if any) to the log in any case. Resolves to `true` once the checkpoint is
   * durable and the folder pruned to `maxToKeep` (and the best), `false` when skipped.
   *
   * @param step - the training step, e.g. `state.step`.
   * @param tree - what to store: variables, an optimizer state, a train state (see `save`).
   * @param opts - `metrics`, `metadata`, `config`, `force`; see {@link ManagerSaveOptions}.
   * @example
   * ```ts
   * const manager = new fx.checkpoint.CheckpointManager('checkpoints/save', { saveIntervalSteps: 2 });
   * const vars = fx.nn.Dense(1).init(fx.random.key(0), [1, 2]);
   * await manager.save(1, vars, { metrics: { loss: 0.9 } });   // false: logged, not saved
   * await manager.save(2, vars, { metrics: { loss: 0.7 } });   // true
   * fx.tree.dispose(vars);
   * ```
   */
  save(step: number, tree: unknown, opts?: ManagerSaveOptions): Promise<boolean> {
    try {
      checkStep(step, 'CheckpointManager.save');
      const { metrics, metadata, config, force } = checkOptions<ManagerSaveOptions>('CheckpointManager.save', opts, { metrics: 'any', metadata: 'any', config: 'any', force: 'boolean' });
      const checkedMetrics = checkMetrics(metrics, 'CheckpointManager.save');
      if (metadata !== undefined && isPlainObject(metadata)) {
        const reserved = RESERVED_METADATA.filter((k) => Object.prototype.hasOwnProperty.call(metadata, k));
        if (reserved.length) throw new FlaxenError('', `CheckpointManager.save: metadata ${reserved.map((k) => `'${k}'`).join(', ')} is written by the manager; use another name`);
      }
      const logLine = checkedMetrics ? JSON.stringify({ step, ...metricsJson(checkedMetrics), wallTime: Date.now() / 1000 }) + '\n' : undefined;
      const write = this.shouldSave(step, { force: force === true });
      let bytes: Uint8Array | undefined;
      if (write) {
        // The tensors are read now, so the caller may dispose them as soon as save returns.
        const fileMetadata = { ...(metadata ?? {}), step: String(step), ...(checkedMetrics ? { metrics: JSON.stringify(metricsJson(checkedMetrics)) } : {}) };
        bytes = toBytes(tree, fileMetadata, config === undefined ? undefined : { config });
        this.#latestRequested = step;
      }
      const run = async (): Promise<boolean> => {
        if (logLine !== undefined) await this.#appendLog(logLine);
        if (bytes === undefined) return false;
        await this.#removeStaleTemps();
        await writeAtomically(this.fileOf(step), bytes);
        this.#entries.set(step, Object.freeze({ step, metrics: Object.freeze(checkedMetrics ? metricsJson(checkedMetrics) : {}) }));
        await this.#prune();
        return true;
      };
      const result = this.#queue.then(run, run);
      this.#queue = result.catch(() => undefined);
      return result;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Loads a saved step (the latest by default), checked against `target` as
   * `fx.checkpoint.load` checks it. Waits for saves still running.
   *
   * @param target - the structure to restore into: variables, `initShapes` output, or a fresh
   *   state of the same model and optimizer; `undefined` for the tree as stored.
   * @param opts - `{ step }` to restore another step than the latest.
   * @example
   * ```ts
   * const net = fx.nn.Dense(3);
   * const manager = new fx.checkpoint.CheckpointManager('checkpoints/restore');
   * const vars = net.init(fx.random.key(0), [1, 4]);
   * await manager.save(7, vars);
   * const back = await manager.restore(net.initShapes(fx.random.key(0), [1, 4]));   // step 7
   * fx.tree.dispose({ vars, back });
   * ```
   */
  restore(target?: undefined, opts?: ManagerRestoreOptions): Promise<Variables>;
  restore<T>(target: T, opts?: ManagerRestoreOptions): Promise<Restored<T>>;
  async restore(target?: unknown, opts?: ManagerRestoreOptions): Promise<unknown> {
    const { step } = checkOptions<ManagerRestoreOptions>('CheckpointManager.restore', opts, { step: 'number' });
    if (step !== undefined) checkStep(step, 'CheckpointManager.restore');
    await this.#queue;
    const chosen = step ?? this.latestStep();
    if (chosen === undefined) throw new CheckpointError('', `CheckpointManager('${this.directory}'): the folder holds no checkpoint to restore`);
    if (!this.#entries.has(chosen)) throw new CheckpointError('', `CheckpointManager('${this.directory}'): no checkpoint of step ${chosen}; the saved steps are [${this.steps().join(', ')}]`);
    return load(this.fileOf(chosen), target);
  }

  /**
   * The metrics log, one record per step in ascending order. A step logged twice (a run
   * resumed from an earlier checkpoint logs its steps again) keeps its last record; lines
   * that are not records (a line cut by a crash) are skipped with a `console.warn`.
   *
   * @example
   * ```ts
   * const manager = new fx.checkpoint.CheckpointManager('checkpoints/log', { saveIntervalSteps: 100 });
   * const vars = fx.nn.Dense(1).init(fx.random.key(0), [1, 2]);
   * for (let step = 1; step <= 3; step++) await manager.save(step, vars, { metrics: { loss: 1 / step } });
   * const log = await manager.readMetrics();
   * log.map((r) => r.loss);   // [1, 0.5, 0.3333…]
   * fx.tree.dispose(vars);
   * ```
   */
  async readMetrics(): Promise<MetricsRecord[]> {
    await this.#queue;
    const { fs, path } = await node();
    const file = path.join(this.directory, METRICS_LOG);
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (error) {
      if ((error as { code?: string }).code === 'ENOENT') return [];
      throw new CheckpointError('', `CheckpointManager: could not read the metrics log '${file}': ${(error as Error).message}`, { cause: error });
    }
    const byStep = new Map<number, MetricsRecord>();
    const bad: number[] = [];
    text.split('\n').forEach((line, index) => {
      if (line.trim() === '') return;
      let record: unknown;
      try {
        record = JSON.parse(line);
      } catch {
        record = undefined;
      }
      if (!isMetricsRecord(record)) return void bad.push(index + 1);
      const clean: Record<string, number | null> = {};
      for (const k of Object.keys(record)) Object.defineProperty(clean, k, { value: record[k], enumerable: true });
      byStep.set(record['step'] as number, Object.freeze(clean) as MetricsRecord);
    });
    if (bad.length) console.warn(`flaxen: CheckpointManager('${this.directory}'): skipped ${bad.length} line${bad.length > 1 ? 's' : ''} of ${METRICS_LOG} that ${bad.length > 1 ? 'are' : 'is'} not a metrics record (line ${bad.slice(0, 10).join(', ')}${bad.length > 10 ? ', …' : ''})`);
    return [...byStep.keys()].sort((a, b) => a - b).map((s) => byStep.get(s)!);
  }

  async #appendLog(line: string): Promise<void> {
    const { fs, path } = await node();
    const file = path.join(this.directory, METRICS_LOG);
    try {
      // A line cut by a crash would run into the next one: start on a fresh line then.
      const handle = await fs.open(file, 'a+');
      try {
        const { size } = await handle.stat();
        let prefix = '';
        if (size > 0) {
          const last = new Uint8Array(1);
          await handle.read(last, 0, 1, size - 1);
          if (last[0] !== 0x0a) prefix = '\n';
        }
        await handle.appendFile(prefix + line);
      } finally {
        await handle.close();
      }
    } catch (error) {
      throw new CheckpointError('', `CheckpointManager: could not append to the metrics log '${file}': ${(error as Error).message}`, { cause: error });
    }
  }

  /** Removes temporary files of steps whose saving process (on this host) no longer runs. */
  async #removeStaleTemps(): Promise<void> {
    const { fs, path, os } = await node();
    let names: string[];
    try {
      names = await fs.readdir(this.directory);
    } catch {
      return;
    }
    const host = hostTag(os);
    for (const name of names) {
      const base = TEMP_OF_STEP.exec(name)?.[1];
      const parts = base === undefined ? undefined : tempNameParts(base, name);
      if (!parts || parts.host !== host || parts.pid === process.pid || isAlive(parts.pid)) continue;
      await fs.rm(path.join(this.directory, name), { force: true }).catch(() => undefined);
    }
  }

  /** Deletes the steps that are neither among the last `maxToKeep` nor the best. */
  async #prune(): Promise<void> {
    const maxToKeep = this.options.maxToKeep;
    if (maxToKeep === undefined) return;
    const steps = this.steps();
    const keep = new Set(steps.slice(-maxToKeep));
    const best = this.bestStep();
    if (best !== undefined) keep.add(best);
    const { fs } = await node();
    for (const step of steps) {
      if (keep.has(step)) continue;
      // Unlisted first: a step is never listed without its file.
      this.#entries.delete(step);
      try {
        await fs.rm(this.fileOf(step), { force: true });
      } catch (error) {
        console.warn(`flaxen: CheckpointManager('${this.directory}') could not delete '${this.fileOf(step)}': ${(error as Error).message}`);
      }
    }
  }
}
