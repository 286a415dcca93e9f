// What the checkpoint specs that write files share: a fresh folder per test, removed after it,
// and this host's name as the temporary files of a save spell it.
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';

/** This machine's name as it stands in a temporary checkpoint file's name. */
export const host = hostname().replace(/[^A-Za-z0-9_-]/g, '_') || 'host';

/** Runs `fn` in a new temporary folder named `prefix…`, and removes the folder afterwards. */
export async function withTempDir(prefix: string, fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
