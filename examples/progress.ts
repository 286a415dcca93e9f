/**
 * A progress bar for training loops: steps, mean loss, samples per second and ETA, redrawn in
 * place on a terminal; on a pipe or a file (CI logs) it degrades to a few plain lines per epoch.
 *
 * ```ts
 * const bar = new ProgressBar({ label: 'epoch 1/5', total: 125, batchSize: 64 });
 * for (let step = 1; step <= 125; step++) bar.update(step, loss);
 * bar.finish('test accuracy 96.1%');
 * ```
 *
 * @module
 */

/** Where the bar writes: `process.stdout` or anything with `write` (and optionally `isTTY`, `columns`). */
export interface ProgressStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

/** Options of {@link ProgressBar}. */
export interface ProgressOptions {
  /** Shown first, e.g. `epoch 2/10`. */
  readonly label: string;
  /** The number of steps in the epoch. */
  readonly total: number;
  /** Examples per step, for samples/s. */
  readonly batchSize: number;
  /** Default `process.stdout`. */
  readonly stream?: ProgressStream;
  /** Force the interactive (true) or plain (false) form; default: interactive on a TTY. */
  readonly interactive?: boolean;
  /** Plain mode: how many progress lines per epoch besides the final one (default 4). */
  readonly plainLines?: number;
  /** The clock in milliseconds (for tests); default `performance.now`. */
  readonly now?: () => number;
}

function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)}s`;
  const m = Math.floor(seconds / 60);
  return `${m}m${String(Math.round(seconds - 60 * m)).padStart(2, '0')}s`;
}

/**
 * One epoch's progress. Call {@link ProgressBar.update} after each step and
 * {@link ProgressBar.finish} at the end.
 */
export class ProgressBar {
  private readonly opts: Required<Omit<ProgressOptions, 'stream' | 'interactive' | 'now'>>;
  private readonly stream: ProgressStream;
  private readonly interactive: boolean;
  private readonly now: () => number;
  private readonly start: number;
  private lossSum = 0;
  private steps = 0;
  private lastDraw = -Infinity;
  private nextPlainLine = 1;

  constructor(opts: ProgressOptions) {
    this.opts = { plainLines: 4, ...opts };
    this.stream = opts.stream ?? process.stdout;
    this.interactive = opts.interactive ?? this.stream.isTTY === true;
    this.now = opts.now ?? (() => performance.now());
    this.start = this.now();
  }

  /** Records that `step` steps (from 1) are done, the last with loss `loss`. */
  update(step: number, loss: number): void {
    this.steps = step;
    this.lossSum += loss;
    const t = this.now();
    if (this.interactive) {
      // Redraw at most ~12 times a second: writing to a terminal is not free.
      if (t - this.lastDraw >= 80 || step === this.opts.total) {
        this.lastDraw = t;
        this.stream.write(`\r${this.line(t, true)}\x1b[K`);
      }
    } else {
      const { total, plainLines } = this.opts;
      const due = Math.ceil((this.nextPlainLine * total) / (plainLines + 1));
      if (plainLines > 0 && step >= due && step < total) {
        this.stream.write(`${this.line(t, false)}\n`);
        while (Math.ceil((this.nextPlainLine * total) / (plainLines + 1)) <= step) this.nextPlainLine++;
      }
    }
  }

  /** The mean loss over the steps so far in this epoch. */
  get meanLoss(): number {
    return this.steps === 0 ? NaN : this.lossSum / this.steps;
  }

  /** Elapsed seconds since the bar was created. */
  get seconds(): number {
    return (this.now() - this.start) / 1000;
  }

  /** Ends the epoch's line (with an optional note, e.g. the test accuracy). */
  finish(note = ''): void {
    const text = this.line(this.now(), false) + (note ? `  ${note}` : '');
    this.stream.write(this.interactive ? `\r${text}\x1b[K\n` : `${text}\n`);
  }

  private line(t: number, withBar: boolean): string {
    const { label, total, batchSize } = this.opts;
    const elapsed = (t - this.start) / 1000;
    const rate = elapsed > 0 ? (this.steps * batchSize) / elapsed : 0;
    const eta = this.steps > 0 ? (elapsed / this.steps) * (total - this.steps) : Infinity;
    const width = String(total).length;
    const counts = `${String(this.steps).padStart(width)}/${total}`;
    const loss = `loss ${this.meanLoss.toFixed(4)}`;
    const speed = `${Math.round(rate)} samples/s`;
    const time = this.steps >= total ? `${formatSeconds(elapsed)}` : `ETA ${formatSeconds(eta)}`;
    if (!withBar) return `${label} ${counts}  ${loss}  ${speed}  ${time}`;
    const columns = this.stream.columns ?? 80;
    const barWidth = Math.max(10, Math.min(30, columns - 70));
    const filled = Math.round((barWidth * this.steps) / total);
    return `${label} [${'='.repeat(filled)}${filled < barWidth ? '>' : ''}${' '.repeat(Math.max(0, barWidth - filled - 1))}] ${counts}  ${loss}  ${speed}  ${time}`;
  }
}
