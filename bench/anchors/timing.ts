/**
 * How every JavaScript anchor times a figure, the way bench/anchors/pytorch.py does: warm-up
 * steps, then the median over rounds of a round's mean step time, both wall ms and the process's
 * CPU ms (on a shared machine the wall time mostly measures the other processes; at one thread
 * the CPU time is the engine's work).
 *
 * @module
 */

/** Rounds per figure unless a figure asks for fewer (a step that takes seconds). */
export const ROUNDS = 15;

/** One figure: medians of a step's wall and CPU milliseconds. */
export type Timing = { wall: number; cpu: number };

const cpuMs = (): number => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

class Rounds {
  private readonly wall: number[] = [];
  private readonly cpu: number[] = [];
  private t = 0;
  private c = 0;
  start(): void {
    this.t = performance.now();
    this.c = cpuMs();
  }
  stop(steps: number): void {
    this.wall.push((performance.now() - this.t) / steps);
    this.cpu.push((cpuMs() - this.c) / steps);
  }
  medians(): Timing {
    return { wall: median(this.wall), cpu: median(this.cpu) };
  }
}

/** The medians over `rounds` rounds of `steps` calls of `step`, after `warmup` calls. */
export function timed(step: () => void, steps: number, rounds = ROUNDS, warmup = 3): Timing {
  for (let i = 0; i < warmup; i++) step();
  const r = new Rounds();
  for (let k = 0; k < rounds; k++) {
    r.start();
    for (let i = 0; i < steps; i++) step();
    r.stop(steps);
  }
  return r.medians();
}

/** {@link timed} for a step that returns a promise (ONNX Runtime's `run`). */
export async function timedAsync(step: () => Promise<void>, steps: number, rounds = ROUNDS, warmup = 3): Promise<Timing> {
  for (let i = 0; i < warmup; i++) await step();
  const r = new Rounds();
  for (let k = 0; k < rounds; k++) {
    r.start();
    for (let i = 0; i < steps; i++) await step();
    r.stop(steps);
  }
  return r.medians();
}

/** Puts a figure into an anchor's JSON line: `key` the wall ms, `keyCpu` the CPU ms. */
export function record(out: Record<string, number | string>, key: string, t: Timing): void {
  out[key] = t.wall;
  out[`${key}Cpu`] = t.cpu;
}

function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
}

/** The integer labels every anchor trains on: (i * 7) mod 10. */
export function labels(batch: number): Int32Array {
  return Int32Array.from({ length: batch }, (_, i) => (i * 7) % 10);
}
