// How the specs run a script in a child process: one Node process per call, with a time limit
// (SIGKILL when it runs out, so a hung child fails its test instead of the suite), an optional
// heap limit, an optional limit on resident memory, stdout and stderr collected, and the way it
// ended described in words.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface ChildOptions {
  /** The child is killed with SIGKILL after this long, and the result says `timedOut`. */
  readonly timeoutMs: number;
  /** `--max-old-space-size` for the child, in MB (default: Node's own limit). */
  readonly maxOldSpaceMb?: number;
  /**
   * The child is killed with SIGKILL once its resident memory (VmRSS, read from /proc every
   * 50 ms; Linux only) passes this many MB, and the result says `overMemory`. It bounds what
   * the heap limit does not count: Buffers (a read of /dev/zero), ArrayBuffers, wasm memory.
   */
  readonly maxResidentMb?: number;
  /** The child's environment (default: this process's). */
  readonly env?: NodeJS.ProcessEnv;
  /** Called with each line of stdout as soon as it is complete. */
  readonly onLine?: (line: string) => void;
  /** Aborting it kills the child with SIGKILL, and the result says `killed`. */
  readonly signal?: AbortSignal;
}

export interface ChildResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  /** Without terminal colour codes (Node colours stack traces when the runner forces colour). */
  readonly stderr: string;
  /** Killed because `timeoutMs` ran out. */
  readonly timedOut: boolean;
  /** Killed because `signal` was aborted. */
  readonly killed: boolean;
  /** Killed because its resident memory passed `maxResidentMb`. */
  readonly overMemory: boolean;
  /** How it ended, for messages: "exited with code 1", "was killed after 60 s (time limit)", … */
  readonly ending: string;
}

/** The resident memory of process `pid` in kB, from /proc (0 where /proc does not say). */
function residentKb(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Runs `node [--max-old-space-size=N] file ...args` and resolves when it has exited. */
export function runChild(file: string, args: readonly string[], opts: ChildOptions): Promise<ChildResult> {
  const nodeArgs = opts.maxOldSpaceMb === undefined ? [] : [`--max-old-space-size=${opts.maxOldSpaceMb}`];
  const child = spawn(process.execPath, [...nodeArgs, file, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
  let stdout = '';
  let stderr = '';
  let pending = '';
  let timedOut = false;
  let killed = false;
  let residentMb = 0;
  child.stdout.on('data', (chunk: Buffer) => {
    const text = chunk.toString();
    stdout += text;
    if (!opts.onLine) return;
    pending += text;
    let newline: number;
    while ((newline = pending.indexOf('\n')) !== -1) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      opts.onLine(line);
    }
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const kill = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  const timer = setTimeout(() => {
    timedOut = true;
    kill();
  }, opts.timeoutMs);
  const abort = (): void => {
    killed = true;
    kill();
  };
  const watchdog =
    opts.maxResidentMb === undefined
      ? undefined
      : setInterval(() => {
          const mb = residentKb(child.pid!) / 1024;
          if (mb > opts.maxResidentMb!) {
            residentMb = Math.round(mb);
            kill();
          }
        }, 50);
  opts.signal?.addEventListener('abort', abort, { once: true });
  return new Promise((resolve, reject) => {
    child.on('error', (error) => {
      clearTimeout(timer);
      clearInterval(watchdog);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      clearInterval(watchdog);
      opts.signal?.removeEventListener('abort', abort);
      const overMemory = residentMb > 0;
      const ending = timedOut
        ? `was killed after ${opts.timeoutMs / 1000} s (its time limit)`
        : overMemory
          ? `was killed at ${residentMb} MB resident (its memory limit, ${opts.maxResidentMb} MB)`
          : killed
            ? 'was killed on purpose'
            : code !== null
              ? `exited with code ${code}`
              : `ended by ${signal}`;
      resolve({ code, signal, stdout, stderr: stderr.replace(/\x1b\[[0-9;]*m/g, ''), timedOut, killed, overMemory, ending });
    });
  });
}

/**
 * The JSON report a child printed: the last line of its stdout that starts with `{`. Throws,
 * naming `what` and quoting the child's stderr, unless the child exited with code 0 and printed
 * one.
 */
export function childReport<T>(what: string, result: ChildResult): T {
  if (result.code !== 0) throw new Error(`${what} ${result.ending}: ${result.stderr}`);
  const line = result.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (!line) throw new Error(`no report from ${what}: ${result.stdout}${result.stderr}`);
  return JSON.parse(line) as T;
}

/**
 * Marks a promise of children started when a spec file loads, for its tests to await: uvu
 * imports every file before it runs any test, so a child that fails meanwhile would otherwise be
 * an unhandled rejection, which ends the whole runner ("Exiting early") instead of failing the
 * tests that await it.
 */
export function awaitedByTests<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}
