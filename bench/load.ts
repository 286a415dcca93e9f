/**
 * How busy the machine is, for the benchmark's thread rows: they run only when the cores they
 * need are free (the machines here are shared, and other work often holds the second core).
 *
 * @module
 */
import os from 'node:os';

/** The load averages (1, 5, 15 min), formatted. */
export function loadText(): string {
  return os.loadavg().map((l) => l.toFixed(2)).join(', ');
}

/**
 * Whether `threads` cores are free: the 1-minute load average leaves them idle (load + threads ≤
 * cores + 0.5). `--threads-anyway` on the command line forces yes.
 */
export function coresFree(threads: number): { free: boolean; reason: string } {
  const cores = os.availableParallelism();
  const load = os.loadavg()[0]!;
  if (process.argv.includes('--threads-anyway')) return { free: true, reason: `forced by --threads-anyway (load average ${loadText()}, ${cores} cores)` };
  if (load + threads <= cores + 0.5) return { free: true, reason: `load average ${loadText()} on ${cores} cores` };
  return { free: false, reason: `skipped because busy: load average ${loadText()} on ${cores} cores leaves fewer than ${threads} free (--threads-anyway runs them regardless)` };
}
