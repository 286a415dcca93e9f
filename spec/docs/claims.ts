// What a snippet claims in its comments, and how its code is instrumented to check it at run
// time. The rules (spec/docs/README.md, "Code in the docs"):
//   expr;            // value          the value of `expr` (a JS literal: number, string, array...)
//   const x = expr;  // value          the value of `x` (of the first name a pattern binds)
//   expr;            // → text         the same, said explicitly; a string value may be any text
//   expr;            // ShapeError: m  `expr` throws a ShapeError with message m
//   console.log(a);                    comment lines right below a console.log statement (or a
//   // printed text                    trailing `// → text`) are what it prints
// A comment that is not a literal, an error or an arrow claim is prose, and is not checked.
// `…` stands for "anything" in printed text, messages and strings, for "more digits" after a
// number, and for "more elements" at the end of an array.
import ts from 'typescript';

export type Expected =
  | { readonly num: number; readonly tol: number }
  | { readonly str: string }
  | { readonly lit: boolean | null | 'undefined' }
  | { readonly arr: readonly Expected[]; readonly more: boolean }
  | { readonly obj: ReadonlyArray<readonly [string, Expected]> };

interface ClaimBase {
  readonly id: number;
  /** `file:line` of the comment. */
  readonly where: string;
}
export type Claim =
  | (ClaimBase & { readonly kind: 'value'; readonly text: string; readonly expected?: Expected })
  | (ClaimBase & { readonly kind: 'throws'; readonly name: string; readonly message?: string })
  | (ClaimBase & { readonly kind: 'prints'; readonly text: string });

const MORE = '__more__';

function literal(node: ts.Expression, sf: ts.SourceFile): Expected | undefined {
  if (ts.isParenthesizedExpression(node)) return literal(node.expression, sf);
  if (ts.isNumericLiteral(node)) return numberClaim(node.getText(sf), 1);
  if (ts.isPrefixUnaryExpression(node) && ts.isNumericLiteral(node.operand)) {
    if (node.operator === ts.SyntaxKind.MinusToken) return numberClaim(node.operand.getText(sf), -1);
    if (node.operator === ts.SyntaxKind.PlusToken) return numberClaim(node.operand.getText(sf), 1);
    return undefined;
  }
  if (ts.isBinaryExpression(node)) {
    const l = literal(node.left, sf);
    const r = literal(node.right, sf);
    if (!l || !r || !('num' in l) || !('num' in r)) return undefined;
    const ops: Partial<Record<ts.SyntaxKind, (a: number, b: number) => number>> = {
      [ts.SyntaxKind.AsteriskToken]: (a, b) => a * b,
      [ts.SyntaxKind.PlusToken]: (a, b) => a + b,
      [ts.SyntaxKind.MinusToken]: (a, b) => a - b,
      [ts.SyntaxKind.SlashToken]: (a, b) => a / b,
      [ts.SyntaxKind.AsteriskAsteriskToken]: (a, b) => a ** b,
    };
    const op = ops[node.operatorToken.kind];
    if (!op) return undefined;
    const v = op(l.num, r.num);
    return { num: v, tol: 1e-9 * Math.abs(v) };
  }
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return { str: node.text };
  if (node.kind === ts.SyntaxKind.TrueKeyword) return { lit: true };
  if (node.kind === ts.SyntaxKind.FalseKeyword) return { lit: false };
  if (node.kind === ts.SyntaxKind.NullKeyword) return { lit: null };
  if (ts.isIdentifier(node)) {
    if (node.text === 'undefined') return { lit: 'undefined' };
    if (node.text === 'NaN') return { num: NaN, tol: 0 };
    if (node.text === 'Infinity') return { num: Infinity, tol: 0 };
    return undefined;
  }
  if (ts.isArrayLiteralExpression(node)) {
    const items: Expected[] = [];
    let more = false;
    node.elements.forEach((e, i) => {
      if (ts.isIdentifier(e) && e.text === MORE && i === node.elements.length - 1) more = true;
      else items.push(literal(e, sf) ?? (undefined as never));
    });
    return items.includes(undefined as never) ? undefined : { arr: items, more };
  }
  if (ts.isObjectLiteralExpression(node)) {
    const entries: [string, Expected][] = [];
    for (const p of node.properties) {
      if (!ts.isPropertyAssignment(p)) return undefined;
      const key = ts.isIdentifier(p.name) || ts.isStringLiteral(p.name) || ts.isNumericLiteral(p.name) ? p.name.text : undefined;
      const value = literal(p.initializer, sf);
      if (key === undefined || value === undefined) return undefined;
      entries.push([key, value]);
    }
    return { obj: entries };
  }
  return undefined;
}

/** A number as written: its last digit sets the tolerance (half a unit; a whole unit when `…` follows). */
function numberClaim(raw: string, sign: number): Expected {
  const truncated = raw.endsWith('e0') && raw.includes('.') && !/e0$/.test(raw.slice(0, -2));
  const text = truncated ? raw.slice(0, -2) : raw;
  const v = sign * Number(text.replace(/_/g, ''));
  const [mantissa, exponent] = text.toLowerCase().split('e');
  const decimals = /\.(\d+)/.exec(mantissa ?? '')?.[1]?.length ?? 0;
  const unit = 10 ** (Number(exponent ?? 0) - decimals);
  const tol = decimals === 0 && exponent === undefined ? 1e-6 * Math.max(1, Math.abs(v)) : (truncated ? 1 : 0.5) * unit * (1 + 1e-9);
  return { num: v, tol };
}

/** Parses `text` as a literal claim; undefined when it is not one. */
export function parseLiteral(text: string): Expected | undefined {
  const prepared = text
    .replace(/(\d)…/g, '$1e0') // "0.6666…": more digits follow (see numberClaim)
    .replace(/,\s*…\s*\]/g, `, ${MORE}]`); // "[a, b, …]": more elements follow
  const sf = ts.createSourceFile('claim.ts', `(${prepared}\n)`, ts.ScriptTarget.ES2022, true);
  const diagnostics = (sf as unknown as { parseDiagnostics: unknown[] }).parseDiagnostics;
  if (diagnostics.length > 0 || sf.statements.length !== 1) return undefined;
  const s = sf.statements[0]!;
  if (!ts.isExpressionStatement(s)) return undefined;
  return literal(s.expression, sf);
}

/** The longest start of `text` (cut at a space or at ', ') that is a literal claim. */
function literalPrefix(text: string): Expected | undefined {
  const cuts = [text.length];
  for (let i = text.length - 1; i > 0; i--) if (text[i] === ' ' || (text[i] === ',' && text[i + 1] === ' ')) cuts.push(i);
  for (const cut of cuts) {
    const head = text.slice(0, cut).trim().replace(/,$/, '');
    if (head === '') continue;
    const parsed = parseLiteral(head);
    if (parsed) return parsed;
  }
  return undefined;
}

const errorClaim = /^(?:throws\s+)?([A-Z][A-Za-z]*Error)\b(?::\s*([\s\S]*))?$/;

export interface Instrumented {
  readonly code: string;
  readonly claims: readonly Claim[];
  /** Problems with the claims themselves (a claim on a statement that cannot carry it). */
  readonly problems: readonly string[];
}

function commentText(raw: string): string {
  return raw.replace(/^\/\/ ?/, '');
}

/**
 * Finds the claims in the top-level statements of `code` and returns the code rewritten to
 * report them through `__fx` (see run-snippets.ts). `firstLine` is the file line of `code`'s
 * first line; `nextId` numbers the claims.
 */
export function instrument(code: string, file: string, firstLine: number, nextId: () => number): Instrumented {
  const sf = ts.createSourceFile('cell.ts', code, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const lines = code.split('\n');
  const claims: Claim[] = [];
  const problems: string[] = [];
  const edits: { start: number; end: number; text: string }[] = [];
  for (const s of sf.statements) {
    const endLine = sf.getLineAndCharacterOfPosition(s.end).line;
    let comment: { text: string; line: number; trailing: boolean } | undefined;
    const trailing = (ts.getTrailingCommentRanges(code, s.end) ?? []).find(
      (r) => r.kind === ts.SyntaxKind.SingleLineCommentTrivia && sf.getLineAndCharacterOfPosition(r.pos).line === endLine,
    );
    if (trailing) {
      comment = { text: commentText(code.slice(trailing.pos, trailing.end)).trim(), line: endLine, trailing: true };
    } else {
      const below: string[] = [];
      for (let l = endLine + 1; l < lines.length && /^\s*\/\//.test(lines[l]!); l++) below.push(commentText(lines[l]!.trim()));
      if (below.length > 0) comment = { text: below.join('\n'), line: endLine + 1, trailing: false };
    }
    if (!comment) continue;
    const where = `${file}:${firstLine + comment.line}`;
    const isExpression = ts.isExpressionStatement(s);
    const prints = /\bconsole\.(log|info)\(/.test(s.getText(sf));
    const arrow = /^→\s?/.test(comment.text);
    const text = comment.text.replace(/^→\s?/, '');
    const stmt = s.getText(sf);
    if (prints && (arrow || !comment.trailing)) {
      const id = nextId();
      claims.push({ id, where, kind: 'prints', text });
      edits.push({ start: s.getStart(sf), end: s.end, text: `__fx.begin(${id}); ${stmt} __fx.end(${id});` });
      continue;
    }
    if (prints) continue;
    const error = errorClaim.exec(text);
    if (error) {
      if (!isExpression) {
        problems.push(`${where}: an error claim belongs on an expression statement (here: ${ts.SyntaxKind[s.kind]})`);
        continue;
      }
      const id = nextId();
      const message = error[2]?.trim();
      claims.push({ id, where, kind: 'throws', name: error[1]!, ...(message ? { message } : {}) });
      const expr = (s as ts.ExpressionStatement).expression.getText(sf);
      edits.push({ start: s.getStart(sf), end: s.end, text: `try { ${expr}; __fx.noThrow(${id}); } catch (__fxError) { __fx.thrown(${id}, __fxError); }` });
      continue;
    }
    const expected = arrow || comment.trailing ? literalPrefix(text) ?? undefined : parseLiteral(text);
    if (!expected && !arrow) continue; // prose
    let target: string | undefined;
    if (isExpression) target = `(${(s as ts.ExpressionStatement).expression.getText(sf)})`;
    else if (ts.isVariableStatement(s)) {
      const name = s.declarationList.declarations[0]!.name;
      if (ts.isIdentifier(name)) target = name.text;
      else {
        const first = name.elements[0];
        if (first && ts.isBindingElement(first) && ts.isIdentifier(first.name)) target = first.name.text;
      }
    }
    if (target === undefined) {
      if (arrow) problems.push(`${where}: a '→' claim belongs on an expression or a variable declaration (here: ${ts.SyntaxKind[s.kind]})`);
      continue;
    }
    const id = nextId();
    claims.push({ id, where, kind: 'value', text, ...(expected ? { expected } : {}) });
    if (isExpression) edits.push({ start: s.getStart(sf), end: s.end, text: `__fx.value(${id}, ${target});` });
    else edits.push({ start: s.end, end: s.end, text: ` __fx.value(${id}, ${target});` });
  }
  let out = code;
  for (const e of edits.sort((a, b) => b.start - a.start)) out = out.slice(0, e.start) + e.text + out.slice(e.end);
  return { code: out, claims, problems };
}
