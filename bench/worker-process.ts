/**
 * A bench worker: a child process that answers one task at a time over IPC (the other side is
 * `serve` in `protocol.ts`). The main table and the recurrent section both drive their workers
 * through it.
 *
 * @module
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Reply } from './protocol.js';

/** A forked worker script (a path relative to this file) that runs tasks of kind `T`. */
export class WorkerProcess<T extends { readonly kind: string }> {
  private readonly child: ChildProcess;
  private pending: ((reply: Reply) => void) | undefined;
  readonly started: Promise<void>;

  constructor(readonly name: string, file: string, args: string[] = []) {
    this.child = fork(fileURLToPath(new URL(file, import.meta.url)), args, { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], execArgv: ['--expose-gc'] });
    let ready: () => void;
    this.started = new Promise((resolve) => (ready = resolve));
    // The first message is the worker's "ready"; every later one answers the pending task.
    this.child.on('message', (reply: Reply) => {
      const p = this.pending;
      this.pending = undefined;
      if (p) p(reply);
      else ready();
    });
    this.child.on('exit', (code) => this.pending?.({ ok: false, error: `${name} worker exited with code ${code}` }));
  }

  async run(task: T): Promise<Record<string, number | string>> {
    const reply = await new Promise<Reply>((resolve) => {
      this.pending = resolve;
      this.child.send(task);
    });
    if (!reply.ok) throw new Error(`${this.name}: ${task.kind}: ${reply.error}`);
    return reply.value;
  }

  stop(): void {
    this.child.send({ kind: 'exit' });
  }
}
