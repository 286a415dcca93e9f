// The import graph of lib/ follows the layering of the developers' guide (shared STYLE.md:
// `index → train → nn → core and ops → tree, random, errors → tfjs`): no file imports a layer
// above its own, and no import cycle exists, type imports included. A new folder or top-level
// file must be given its layer below, which makes the decision explicit.
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const LIB = fileURLToPath(new URL('../../lib/', import.meta.url));

/**
 * Layers from the bottom (0) up. A key ending in `/` is a folder; a file key overrides its
 * folder. Imports go to a lower layer, or stay inside their own folder (or file).
 */
const LAYERS: Record<string, number> = {
  'errors.ts': 0,
  'tfjs-internals.ts': 0, // the one door to tfjs internals
  'tree/': 1,
  'check-options.ts': 1,
  'backend-state.ts': 1,
  'ops/wasm-heap.ts': 2, // the backend's memory, through the door; random/ draws straight into it
  'autodiff/': 2,
  'random/': 3,
  'ops/': 4,
  'core/': 5,
  'losses/': 5,
  'initializers/': 6,
  'optim/': 6,
  'checkpoint/': 6,
  'inspect/': 6,
  'data/': 6,
  'nn/': 7,
  'interop/': 7,
  'backend-threads.ts': 7,
  'train/': 8,
  'backend.ts': 8,
  'index.ts': 9,
};

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [relative(LIB, path)] : [];
  });
}

/** The lib files each file imports (relative imports and re-exports, `import type` included). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sources(LIB)) {
    const text = readFileSync(join(LIB, file), 'utf8');
    const targets = [...text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+'(\.{1,2}\/[^']+)'/gm), ...text.matchAll(/^\s*import\s+'(\.{1,2}\/[^']+)'/gm)]
      .map((m) => join(dirname(file), m[1]!).replace(/\.js$/, '.ts'))
      .filter((target) => !target.endsWith('register-gradients.ts')); // a bundled .d.ts/.js pair
    graph.set(file, targets);
  }
  return graph;
}

const unit = (file: string) => (file.includes('/') ? `${file.split('/')[0]}/` : file);
const layerOf = (file: string) => LAYERS[file] ?? LAYERS[unit(file)];

test('the import graph is read: every lib file, with the imports of a known file', () => {
  const graph = importGraph();
  assert.ok(graph.size > 80, `${graph.size} files`);
  assert.ok(graph.get('nn/dense.ts')!.includes('core/module.ts'), 'Dense imports core/module.ts');
  assert.ok(graph.get('index.ts')!.includes('optim/index.ts'), 'index re-exports optim');
});

test('every file of lib/ has a layer', () => {
  const missing = [...importGraph().keys()].filter((file) => layerOf(file) === undefined);
  assert.equal(missing, [], `give these a layer in spec/import-graph.spec.ts: ${missing.join(', ')}`);
});

/** The imports that do not go down a layer (nor stay in their own folder or file). */
function upwardImports(graph: Map<string, string[]>): string[] {
  const upward: string[] = [];
  for (const [file, targets] of graph) {
    for (const target of targets) {
      if (unit(target) === unit(file) && layerOf(target) === layerOf(file)) continue;
      if (!(layerOf(target)! < layerOf(file)!)) upward.push(`${file} (layer ${layerOf(file)}) imports ${target} (layer ${layerOf(target)})`);
    }
  }
  return upward;
}

/** The import cycles found by a depth-first walk, each as `a → b → a`. */
function importCycles(graph: Map<string, string[]>): string[] {
  const state = new Map<string, 'visiting' | 'done'>();
  const cycles: string[] = [];
  const visit = (file: string, trail: string[]): void => {
    if (state.get(file) === 'done') return;
    if (state.get(file) === 'visiting') {
      cycles.push([...trail.slice(trail.indexOf(file)), file].join(' → '));
      return;
    }
    state.set(file, 'visiting');
    for (const target of graph.get(file) ?? []) visit(target, [...trail, file]);
    state.set(file, 'done');
  };
  for (const file of graph.keys()) visit(file, []);
  return cycles;
}

test('no file imports upward: every import goes to a lower layer or stays in its own folder', () => {
  const upward = upwardImports(importGraph());
  assert.equal(upward, [], `imports that do not go down:\n${upward.join('\n')}`);
});

test('the import graph has no cycle', () => {
  const cycles = importCycles(importGraph());
  assert.equal(cycles, [], `import cycles:\n${cycles.join('\n')}`);
});

test('the checks find an upward import and a cycle in a made-up graph', () => {
  const graph = new Map([
    ['core/module.ts', ['nn/dense.ts', 'errors.ts']],
    ['nn/dense.ts', ['core/module.ts']],
    ['errors.ts', []],
  ]);
  assert.equal(upwardImports(graph), ['core/module.ts (layer 5) imports nn/dense.ts (layer 7)']);
  assert.equal(importCycles(graph), ['core/module.ts → nn/dense.ts → core/module.ts']);
});

test.run();
