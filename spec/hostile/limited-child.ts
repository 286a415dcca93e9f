// Runs a spec's child process under limits, so that a regression (a read without end, a hang, a
// heap filled) fails its spec instead of taking the machine or the suite down: a wall-clock
// timeout, a V8 heap cap (--max-old-space-size), and a watchdog on the resident memory, which
// also bounds what the heap cap does not (Buffers, ArrayBuffers, wasm memory). Linux reports
// resident memory in /proc; elsewhere the watchdog sees nothing and the other two limits remain.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface Limits {
  /** Wall-clock time before the child is killed. */
  readonly timeoutMs: number;
  /** --max-old-space-size, in MB. */
  readonly heapMb: number;
  /** Resident memory (VmRSS) past which the child is killed, in MB. */
  readonly residentMb: number;
}

export interface ChildResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The resident memory of process `pid` in kB, from /proc (0 where /proc does not say). */
export function residentKb(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/**
 * Runs `node --max-old-space-size=<heapMb> <script> ...args` and resolves with its exit and
 * output; rejects, naming the limit and the output so far, when it outlives `timeoutMs` or its
 * resident memory passes `residentMb` (it is killed with SIGKILL either way).
 */
export function runLimited(script: string, args: readonly string[], limits: Limits): Promise<ChildResult> {
  const child = spawn(process.execPath, [`--max-old-space-size=${limits.heapMb}`, script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let killedFor = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const stop = (why: string): void => {
    if (killedFor) return;
    killedFor = why;
    child.kill('SIGKILL');
  };
  const timer = setTimeout(() => stop(`it ran past ${limits.timeoutMs / 1000} s`), limits.timeoutMs);
  const watchdog = setInterval(() => {
    const kb = residentKb(child.pid!);
    if (kb > limits.residentMb * 1024) stop(`its resident memory reached ${Math.round(kb / 1024)} MB (limit ${limits.residentMb} MB)`);
  }, 50);
  return new Promise((resolve, reject) => {
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      clearInterval(watchdog);
      if (killedFor) reject(new Error(`the child ${script} ${args.join(' ')} was killed: ${killedFor}; output so far: ${stdout.slice(-1000)}${stderr.slice(-1000)}`));
      else resolve({ code, signal, stdout, stderr });
    });
  });
}
