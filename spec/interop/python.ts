// The Python child processes of the interop specs (docs-python, onnx-checker, torch-live): one
// way to find /usr/bin/python3 and one loud skip when it, or the module a spec needs, is absent.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';

/** The Python the interop specs run: FLAXEN_PYTHON (e.g. one without torch, to see the skip), else /usr/bin/python3. */
export const PYTHON = process.env['FLAXEN_PYTHON'] ?? '/usr/bin/python3';

/** What a spec passes to its Python child besides the arguments. */
export interface PythonOptions {
  readonly cwd?: string;
  /** Milliseconds before the child is killed. */
  readonly timeout: number;
  readonly env?: NodeJS.ProcessEnv;
}

/** A Python that a spec expects to be able to import one module. */
export interface PythonWith {
  readonly path: string;
  readonly module: string;
  /**
   * Runs the child to completion. Returns undefined, after a loud warning on stderr, when Python
   * is not there or cannot import the module (the spec then skips); otherwise the finished run,
   * whatever its status, for the spec to check.
   */
  run(args: readonly string[], options: PythonOptions): SpawnSyncReturns<string> | undefined;
}

/**
 * The Python at `path` for a spec that needs `module` (Debian's `python3-<module>`). Nothing runs
 * until `run`: whether the module is missing is read from the run itself (ENOENT, or Python's
 * "No module named"), so a spec pays no extra start-up for the check.
 */
export function pythonWith(module: string, path: string = PYTHON): PythonWith {
  const noModule = new RegExp(`No module named '?${module.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\b`);
  return {
    path,
    module,
    run(args, options) {
      const run = spawnSync(path, args, { ...options, encoding: 'utf8' });
      const notThere = (run.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
      if (!notThere && !noModule.test(run.stderr ?? '')) return run;
      const why = (run.stderr || String(run.error ?? '')).trim().split('\n').pop();
      const bar = '!'.repeat(78);
      process.stderr.write(
        `\n${bar}\n! SKIPPED ${currentSpec()}: ${path} cannot import ${module} (${why}).\n` +
          `! Install it with: apt-get install -y python3-${module}\n${bar}\n\n`,
      );
      return undefined;
    },
  };
}

/** The spec file uvu is running (as spec/setup.ts reads it), for the warning. */
function currentSpec(): string {
  const uvu = globalThis as { UVU_QUEUE?: unknown[][]; UVU_INDEX?: number };
  return String(uvu.UVU_QUEUE?.[uvu.UVU_INDEX ?? 0]?.[0] ?? 'an interop spec');
}
