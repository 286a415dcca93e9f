// The suite itself: every spec file must end by running its tests. A file without `test.run()`
// registers its tests and runs none, and uvu's totals simply leave them out.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const specDir = fileURLToPath(new URL('../../spec/', import.meta.url));

function specFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? specFiles(join(dir, e.name)) : e.name.endsWith('.spec.ts') ? [join(dir, e.name)] : [],
  );
}

test('every spec file defines tests and runs them', () => {
  const files = specFiles(specDir);
  assert.ok(files.length > 30, `found only ${files.length} spec files under ${specDir}`);
  const silent = files.filter((f) => {
    const text = readFileSync(f, 'utf8');
    return /\btest\(/.test(text) && !/\btest\.run\(\)/.test(text);
  });
  assert.equal(silent, [], 'spec files that never call test.run()');
});

test.run();
