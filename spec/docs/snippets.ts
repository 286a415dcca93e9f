// Finds the code the docs show: the ```ts blocks of README.md and docs/*.md, and the ```ts
// blocks under `@example` in the doc comments of lib/**/*.ts. The conventions they follow are
// written down in spec/docs/README.md ("Code in the docs").
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

/** One ```ts block. `line` is the 1-based line of its first code line in `file`. */
export interface Block {
  readonly file: string;
  readonly line: number;
  readonly code: string;
  /** The words after `ts` on the fence line: `no-run`, `ignore`, `own-process`. */
  readonly flags: ReadonlySet<string>;
  /** The text of a plain or `text` block right after this one: what this block prints. */
  readonly output?: { readonly line: number; readonly text: string };
}

/** A program: the blocks of one markdown file in order (cells), or one `@example`. */
export interface Source {
  /** The name used in messages and for generated files, e.g. `docs/training.md`, `lib/tree/tree.ts:86`. */
  readonly name: string;
  readonly kind: 'guide' | 'example';
  readonly blocks: readonly Block[];
  /** Packages the file's own text tells the reader to install (`npm install x`): importable. */
  readonly installs: readonly string[];
}

export const FLAGS = new Set(['no-run', 'ignore', 'own-process']);

const fence = /^(\s*)(```+)\s*([\w-]*)(.*)$/;

/** The code blocks of a markdown text. Only ```ts / ```typescript blocks are returned. */
export function markdownBlocks(file: string, text: string): Block[] {
  const lines = text.split('\n');
  const raw: { lang: string; info: string; start: number; body: string[] }[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = fence.exec(lines[i]!);
    if (!m) continue;
    const ticks = m[2]!;
    const body: string[] = [];
    let j = i + 1;
    while (j < lines.length && lines[j]!.trim() !== ticks) body.push(lines[j++]!);
    raw.push({ lang: m[3]!.toLowerCase(), info: m[4]!.trim(), start: i + 1, body });
    // `i` is 0-based; the fence line is line i+1, the first code line i+2.
    raw[raw.length - 1]!.start = i + 2;
    i = j;
  }
  const blocks: Block[] = [];
  raw.forEach((b, k) => {
    if (b.lang !== 'ts' && b.lang !== 'typescript') return;
    const flags = new Set(b.info.split(/\s+/).filter((w) => w !== ''));
    for (const f of flags) {
      if (!FLAGS.has(f)) throw new Error(`${file}:${b.start - 1}: unknown flag '${f}' on a ts block (known: ${[...FLAGS].join(', ')})`);
    }
    const next = raw[k + 1];
    // The output block follows the closing fence directly (blank lines allowed).
    const closing = b.start + b.body.length; // 1-based line of the closing fence
    const between = next ? lines.slice(closing, next.start - 2) : [];
    const isOutput = next !== undefined && (next.lang === '' || next.lang === 'text') && between.every((l) => l.trim() === '');
    blocks.push({
      file,
      line: b.start,
      code: b.body.join('\n'),
      flags,
      ...(isOutput ? { output: { line: next.start, text: next.body.join('\n') } } : {}),
    });
  });
  return blocks;
}

/** The `@example` blocks of a TypeScript source file's doc comments. */
export function exampleBlocks(file: string, text: string): Block[] {
  const lines = text.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^\s*\*\s*@example\b/.test(lines[i]!)) continue;
    let j = i + 1;
    while (j < lines.length && !/^\s*\*\s*```/.test(lines[j]!) && !/\*\//.test(lines[j]!)) j++;
    const open = /^\s*\*\s*```\s*([\w-]*)(.*)$/.exec(lines[j] ?? '');
    if (!open) throw new Error(`${file}:${i + 1}: an @example without a \`\`\`ts block`);
    const body: string[] = [];
    let k = j + 1;
    while (k < lines.length && !/^\s*\*\s*```/.test(lines[k]!)) {
      if (/\*\//.test(lines[k]!)) throw new Error(`${file}:${j + 1}: unclosed \`\`\` in an @example`);
      body.push(lines[k]!.replace(/^\s*\* ?/, ''));
      k++;
    }
    const lang = open[1]!.toLowerCase();
    if (lang !== 'ts' && lang !== 'typescript') throw new Error(`${file}:${j + 1}: @example blocks are \`\`\`ts (found '${lang}')`);
    const flags = new Set(open[2]!.trim().split(/\s+/).filter((w) => w !== ''));
    for (const f of flags) {
      if (!FLAGS.has(f)) throw new Error(`${file}:${j + 1}: unknown flag '${f}' on a ts block (known: ${[...FLAGS].join(', ')})`);
    }
    blocks.push({ file, line: j + 2, code: body.join('\n'), flags });
    i = k;
  }
  return blocks;
}

function walk(dir: string, keep: (name: string) => boolean): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name), keep) : keep(e.name) ? [join(dir, e.name)] : []))
    .sort();
}

/** Packages named after `npm install` in the text (flags and paths left out). */
function installsIn(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/npm (?:install|i|add)((?: +[^\s#`]+)+)/g)) {
    for (const word of m[1]!.trim().split(/ +/)) {
      if (word.startsWith('-') || word.startsWith('.') || (word.includes('/') && !word.startsWith('@'))) continue;
      out.push(word.replace(/(.)@[^/]*$/, '$1'));
    }
  }
  return out;
}

/** Every program the docs show, from the repository at `root`. */
export function allSources(root: string): Source[] {
  const guides = [join(root, 'README.md'), ...walk(join(root, 'docs'), (n) => n.endsWith('.md')).filter((f) => !f.includes('/api/'))];
  const sources: Source[] = [];
  for (const path of guides) {
    const name = relative(root, path);
    const text = readFileSync(path, 'utf8');
    const blocks = markdownBlocks(name, text);
    if (blocks.length > 0) sources.push({ name, kind: 'guide', blocks, installs: installsIn(text) });
  }
  for (const path of walk(join(root, 'lib'), (n) => n.endsWith('.ts') && !n.endsWith('.d.ts'))) {
    const name = relative(root, path);
    for (const block of exampleBlocks(name, readFileSync(path, 'utf8'))) {
      sources.push({ name: `${name}:${block.line - 1}`, kind: 'example', blocks: [block], installs: installsIn(block.code) });
    }
  }
  return sources;
}
