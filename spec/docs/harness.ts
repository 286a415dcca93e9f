// The docs harness: turns every program the docs show (snippets.ts) into a TypeScript file,
// type-checks them all in one strict program against the package's public surface (`'flaxen'`
// resolves to the built package through its own exports map, as in a user's project), and
// writes instrumented JavaScript for the ones that run (claims.ts). docs.spec.ts drives it;
// spec/docs/README.md states the conventions.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import ts from 'typescript';
import { instrument, type Claim } from './claims.js';
import type { ManifestEntry } from './run-snippets.js';
import type { Source } from './snippets.js';

/** Packages any snippet may import: the package itself, its peers, and Node's modules. */
const IMPORTABLE = ['flaxen', '@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-backend-cpu'];

/** The prelude a program gets for the names it uses but does not import (spec/docs/README.md). */
const PRELUDE_TF = `import * as tf from '@tensorflow/tfjs-core';`;
const PRELUDE_FX = `import * as fx from 'flaxen'; await fx.ready();`;

export interface Prepared {
  readonly source: Source;
  /** Problems found before running: compile errors, bad imports, unreadable claims. */
  readonly problems: string[];
  /** The program to run, unless every block is `no-run`/`ignore`. */
  readonly run?: ManifestEntry;
  /** Per run cell index: the block whose printed output must match, with its expected text. */
  readonly outputs: ReadonlyArray<{ readonly cell: number; readonly where: string; readonly text: string }>;
}

interface Line {
  readonly text: string;
  readonly where?: string;
}

function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

function fileName(name: string): string {
  return name.replace(/[^\w.-]+/g, '_');
}

/** Splits a block into its import declarations and the rest, by statement. */
function splitImports(code: string): { imports: { text: string; line: number; specifier: string; names: string[] }[]; rest: string } {
  const sf = ts.createSourceFile('block.ts', code, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const imports: { text: string; line: number; specifier: string; names: string[] }[] = [];
  let rest = code;
  for (const s of [...sf.statements].reverse()) {
    if (!ts.isImportDeclaration(s) || !ts.isStringLiteral(s.moduleSpecifier)) continue;
    const names: string[] = [];
    const clause = s.importClause;
    if (clause?.name) names.push(clause.name.text);
    const bindings = clause?.namedBindings;
    if (bindings && ts.isNamespaceImport(bindings)) names.push(bindings.name.text);
    if (bindings && ts.isNamedImports(bindings)) for (const e of bindings.elements) names.push(e.name.text);
    const start = s.getStart(sf);
    imports.unshift({ text: s.getText(sf), line: sf.getLineAndCharacterOfPosition(start).line, specifier: s.moduleSpecifier.text, names });
    // Blank the import, keeping the line count so that lines still map back.
    rest = rest.slice(0, start) + s.getText(sf).replace(/[^\n]/g, ' ') + rest.slice(s.end);
  }
  return { imports, rest };
}

/** Builds the check file and the run file of every source, then type-checks them all at once. */
export function prepare(root: string, sources: readonly Source[]): Prepared[] {
  const outDir = join(root, 'dist', 'doc-snippets');
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(join(outDir, 'check'), { recursive: true });
  mkdirSync(join(outDir, 'run'), { recursive: true });
  let ids = 0;
  const nextId = () => ++ids;
  const prepared: Prepared[] = [];
  const maps = new Map<string, { lines: Line[]; index: number }>();
  sources.forEach((source, index) => {
    const problems: string[] = [];
    const check: Line[] = [];
    const imports: Line[] = [];
    const runImports: string[] = [];
    const seen = new Set<string>();
    const bound = new Set<string>();
    const runBody: string[] = [];
    const claims: Claim[] = [];
    const outputs: { cell: number; where: string; text: string }[] = [];
    let cells = 0;
    let runs = false;
    let ownProcess = false;
    for (const block of source.blocks) {
      if (block.flags.has('ignore')) continue;
      const { imports: blockImports, rest } = splitImports(block.code);
      for (const imp of blockImports) {
        const pkg = packageOf(imp.specifier);
        if (imp.specifier.startsWith('.') && source.kind === 'example') {
          // An example of an internal name imports it as a sibling file of lib/ would.
          const target = join(root, 'dist', dirname(block.file), imp.specifier);
          const specifier = relative(join(outDir, 'check'), target).split('\\').join('/');
          imp.text = imp.text.replace(/(['"])[^'"]*\1\s*;?$/, `'${specifier}';`);
        } else if (!imp.specifier.startsWith('node:') && !IMPORTABLE.includes(pkg) && !source.installs.includes(pkg)) {
          problems.push(
            `${block.file}:${block.line + imp.line}: imports '${imp.specifier}', which a user's project does not have: ` +
              `tell the reader to \`npm install ${pkg}\` in this file, or use what flaxen exports`,
          );
        }
        if (seen.has(imp.text)) continue;
        seen.add(imp.text);
        imp.names.forEach((n) => bound.add(n));
        imports.push({ text: imp.text, where: `${block.file}:${block.line + imp.line}` });
        runImports.push(imp.text);
      }
      // Each block opens a scope nested in the previous one: it sees the names of the blocks
      // before it and may declare them again.
      check.push({ text: '{' });
      rest.split('\n').forEach((text, i) => check.push({ text, where: `${block.file}:${block.line + i}` }));
      cells++;
      if (block.flags.has('no-run')) {
        runBody.push('{');
        continue;
      }
      runs = true;
      if (block.flags.has('own-process')) ownProcess = true;
      const inst = instrument(rest, block.file, block.line, nextId);
      problems.push(...inst.problems);
      claims.push(...inst.claims);
      runBody.push(`{ __fx.cell(${cells});`, inst.code);
      if (block.output) outputs.push({ cell: cells, where: `${block.file}:${block.output.line}`, text: block.output.text });
    }
    const prelude: string[] = [];
    if (!bound.has('tf')) prelude.push(PRELUDE_TF);
    if (!bound.has('fx')) prelude.push(PRELUDE_FX);
    const checkLines: Line[] = [...imports, ...prelude.map((text) => ({ text })), ...check, { text: '}'.repeat(cells) }, { text: 'export {};' }];
    const base = `${String(index).padStart(3, '0')}-${fileName(source.name)}`;
    const checkFile = join(outDir, 'check', `${base}.ts`);
    writeFileSync(checkFile, checkLines.map((l) => l.text).join('\n'));
    maps.set(checkFile, { lines: checkLines, index });
    const runFile = join(outDir, 'run', `${base}.ts`);
    const runSource = [...runImports, ...prelude, ...runBody, '}'.repeat(cells), 'export {};'].join('\n');
    const js = ts.transpileModule(runSource, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
      fileName: runFile,
    }).outputText;
    const runJs = runFile.replace(/\.ts$/, '.mjs');
    if (runs) writeFileSync(runJs, js);
    prepared.push({ source, problems, outputs, ...(runs ? { run: { name: source.name, file: runJs, claims, ownProcess } } : {}) });
  });
  const program = ts.createProgram([...maps.keys()], {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
    types: ['node'],
    skipLibCheck: true,
    noFallthroughCasesInSwitch: true,
    noImplicitOverride: true,
  });
  for (const [file, { lines, index }] of maps) {
    const sf = program.getSourceFile(file);
    if (!sf) throw new Error(`the snippet file ${file} is missing from its program`);
    const diagnostics = [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)];
    for (const d of diagnostics) {
      const line = d.start === undefined ? 0 : sf.getLineAndCharacterOfPosition(d.start).line;
      const where = lines[line]?.where ?? `${sources[index]!.name} (prelude)`;
      prepared[index]!.problems.push(`${where}: TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n  ')}`);
    }
  }
  return prepared;
}
