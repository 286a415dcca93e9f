/**
 * Custom modules in the compact style: a name and a body that declares parameters and calls
 * submodules as it computes; optionally a declaration of the variables the body creates, from
 * which both the compiler's type and `init`'s check derive.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { FlaxenError, describeValue, formatShape } from '../errors.js';
import { Describable, DescribableModule, Description, Module, Variables } from '../core/module.js';
import type { Scope } from '../core/scope.js';
import { isNode } from '../tree/index.js';

/**
 * One entry of a {@link VariableDecl}: `'tensor'` for a variable the body creates itself with
 * `scope.param` or `scope.variable`; a module for the subtree of a submodule the body calls under
 * that name (its variables type supplies the subtree's type); a plain object for a nested subtree
 * (e.g. of an inline `fx.nn.module` child).
 *
 * @example
 * ```ts
 * const leaf: fx.nn.VariableDeclEntry = 'tensor';
 * const child: fx.nn.VariableDeclEntry = fx.nn.Dense(4);
 * ```
 */
export type VariableDeclEntry = 'tensor' | Module<any, any, any> | { readonly [name: string]: VariableDeclEntry };

/**
 * The variables a custom module creates, declared once: collections at the top, then names.
 * `fx.nn.module(name, decl, body)` derives the module's variables type from it, and `init`
 * checks that the body creates exactly these variables.
 *
 * @example
 * ```ts
 * const decl = { params: { scale: 'tensor', Dense_0: fx.nn.Dense(4) } } as const;
 * const typed: fx.nn.VariableDecl = decl;
 * ```
 */
export type VariableDecl = { readonly [collection: string]: { readonly [name: string]: VariableDeclEntry } };

/**
 * The type of one declared entry `E` in collection `C`: a tensor for `'tensor'`, the module's
 * own `C` subtree for a module, and the same rule again inside a plain object.
 *
 * @example
 * ```ts
 * type Leaf = fx.nn.DeclaredEntry<'tensor', 'params'>;   // tf.Tensor
 * const t: Leaf = tf.ones([1]);
 * ```
 */
export type DeclaredEntry<E, C> =
  E extends 'tensor' ? tf.Tensor : E extends Module<infer V, any, any> ? (C extends keyof V ? V[C] : never) : { -readonly [K in keyof E]: DeclaredEntry<E[K], C> };

/**
 * The variables type declared by `D`: `'tensor'` entries become tensors, module entries the
 * module's own subtree for that collection.
 *
 * @example
 * ```ts
 * type V = fx.nn.DeclaredVariables<{ params: { w: 'tensor'; Dense_0: ReturnType<typeof fx.nn.Dense> } }>;
 * // { params: { w: tf.Tensor; Dense_0: { kernel: tf.Tensor; bias: tf.Tensor } } }
 * ```
 */
export type DeclaredVariables<D extends VariableDecl> = { -readonly [C in keyof D]: DeclaredEntry<D[C], C> };

/**
 * The parameter names a typed module's body may give `scope.param`: the `'tensor'` entries of
 * its declared `params`.
 *
 * @example
 * ```ts
 * type Names = fx.nn.DeclaredParamNames<{ params: { w: 'tensor'; b: 'tensor'; Dense_0: ReturnType<typeof fx.nn.Dense> } }>;
 * const name: Names = 'w';   // 'w' | 'b'
 * ```
 */
export type DeclaredParamNames<D extends VariableDecl> = 'params' extends keyof D
  ? { [K in keyof D['params']]: D['params'][K] extends 'tensor' ? K : never }[keyof D['params']] & string
  : never;

/** Options of {@link module}. */
export interface CustomModuleOptions {
  /**
   * True when the body handles abstract inputs itself (only submodule calls and `fx.isAbstract`
   * branches), so `init` never runs it on zeros. Default false.
   */
  readonly abstractSafe?: boolean;
}

function checkDecl(decl: unknown, where: string, module: string): void {
  if (!isNode(decl)) throw new FlaxenError('', `module(${module}, variables, body): ${where} must be an object of 'tensor', modules and objects, found ${describeValue(decl)}`);
  for (const key of Object.keys(decl)) {
    const entry = decl[key];
    if (entry === 'tensor' || entry instanceof Module) continue;
    checkDecl(entry, `${where}.${key}`, module);
  }
}

/** Every declared leaf (`'tensor'`) and subtree (module) as `/`-joined paths. */
function declaredPaths(decl: VariableDecl): { leaves: string[]; subtrees: string[] } {
  const leaves: string[] = [];
  const subtrees: string[] = [];
  const walk = (node: unknown, prefix: string) => {
    for (const key of Object.keys(node as object)) {
      const entry = (node as Record<string, unknown>)[key];
      const path = `${prefix}/${key}`;
      if (entry === 'tensor') leaves.push(path);
      else if (entry instanceof Module) subtrees.push(path);
      else walk(entry, path);
    }
  };
  for (const collection of Object.keys(decl)) walk(decl[collection], collection);
  return { leaves, subtrees };
}

/** Refuses, at init, a body that created other variables than declared. */
function checkCreated(type: string, decl: VariableDecl, scope: Scope): void {
  const created = scope.recordedBelow();
  const { leaves, subtrees } = declaredPaths(decl);
  const missing = [...leaves.filter((p) => !created.includes(p)), ...subtrees.filter((p) => !created.some((c) => c.startsWith(`${p}/`)))];
  const undeclared = created.filter((c) => !leaves.includes(c) && !subtrees.some((p) => c.startsWith(`${p}/`)));
  if (missing.length === 0 && undeclared.length === 0) return;
  const parts = [];
  if (missing.length) parts.push(`declared but not created: ${missing.join(', ')}`);
  if (undeclared.length) parts.push(`created but not declared: ${undeclared.join(', ')}`);
  throw new FlaxenError(scope.path, `${type}: the variables differ from the module's declaration; ${parts.join('; ')}`);
}

/** `{ bias: [64], kernel: [784, 64] }`: the tensors directly in a subtree of variables. */
function leavesText(variables: Variables | undefined): string {
  const rows: string[] = [];
  for (const collection of Object.keys(variables ?? {})) {
    const sub = variables![collection];
    if (!isNode(sub)) continue;
    for (const name of Object.keys(sub).sort()) {
      const shape = isNode(sub[name]) ? undefined : (sub[name] as { shape?: unknown } | undefined)?.shape;
      if (Array.isArray(shape)) rows.push(`${collection === 'params' ? '' : `${collection}/`}${name}: ${formatShape(shape as number[])}`);
    }
  }
  return rows.length ? `{ ${rows.join(', ')} }` : '';
}

/** Names of the subtrees (children) of every collection, in order of first appearance. */
function subtreeNames(variables: Variables | undefined): string[] {
  const names: string[] = [];
  for (const collection of Object.keys(variables ?? {})) {
    const sub = variables![collection];
    if (!isNode(sub)) continue;
    for (const name of Object.keys(sub)) if (isNode(sub[name]) && !names.includes(name)) names.push(name);
  }
  return names;
}

/** A subtree of variables whose module is not known: described by its tensors and subtrees. */
const variableGroup: DescribableModule = {
  summarize: (variables) => describeByVariables('', variables, {}),
};

function describeByVariables(header: string, variables: Variables | undefined, declared: Readonly<Record<string, Describable>>): Description {
  const own = leavesText(variables);
  const names = [...Object.keys(declared)];
  for (const name of subtreeNames(variables)) if (!names.includes(name)) names.push(name);
  const children = names.map((name) => [name, declared[name] ?? variableGroup] as const);
  return { header: [header, own].filter((s) => s !== '').join(' '), children };
}

/**
 * Defines a module by its body, in Flax's compact style. Inside the body, `scope.param`
 * declares a parameter (its shape may depend on the inputs), `scope.call` runs a submodule
 * (auto-named `Dense_0`, `Dense_1`, … or named with `{name}`; the same name twice shares
 * parameters), `scope.rng(stream)` gives a key, `scope.variable` a non-parameter variable and
 * `scope.train` the mode.
 *
 * The body runs on real tensors in `apply`. During `init`, inputs are shape stand-ins: calls to
 * submodules work on them as they are; if the body does tfjs math on them, flaxen runs it again
 * on zeros to learn the shapes (nothing random is drawn, and the zeros are freed).
 *
 * To type the variables, declare them once as the second argument (see {@link VariableDecl}):
 * the compiler then knows `init`'s tree and the names `scope.param` accepts, and `init` checks
 * that the body creates exactly the declared variables (a `FlaxenError` names what is declared
 * but absent, or present but undeclared). The guide: docs/custom-modules.md.
 *
 * @param name - the type name, used for auto-naming (`MLP_0`) and `describe`.
 * @param body - `(scope, ...inputs) => output`.
 * @example
 * ```ts
 * const MLP = fx.nn.module('MLP', (scope, x: tf.Tensor) => {
 *   const h = fx.nn.relu(scope.call(fx.nn.Dense(64), x));
 *   return scope.call(fx.nn.Dense(10), h);
 * });
 * const vars = MLP.init(fx.random.key(0), [1, 784]); // params: { Dense_0: {...}, Dense_1: {...} }
 *
 * // Typed: declared once, checked by the compiler and by init.
 * const Scale = fx.nn.module('Scale', { params: { w: 'tensor' } }, (scope, x: tf.Tensor) => {
 *   const w = scope.param('w', fx.initializers.ones, [x.shape[x.rank - 1]!]);
 *   return fx.isAbstract(x) ? x : tf.mul(x, w);
 * });
 * const w: tf.Tensor = Scale.init(fx.random.key(0), [1, 3]).params.w;
 * ```
 */
export function module<V extends Variables = Variables, In extends unknown[] = [tf.Tensor], Out = tf.Tensor>(
  name: string,
  body: (scope: Scope, ...inputs: In) => Out,
  opts?: CustomModuleOptions,
): Module<V, In, Out>;
/**
 * Defines a typed module: `variables` declares the variables the body creates (see
 * {@link VariableDecl}); `init`'s tree is typed from it, `scope.param` accepts the declared names
 * only, and `init` checks that the body creates exactly these variables.
 *
 * @param name - the type name, used for auto-naming (`MLP_0`) and `describe`.
 * @param variables - the variables the body creates, by collection (see {@link VariableDecl}).
 * @param body - `(scope, ...inputs) => output`; `scope.param` takes the declared names only.
 */
export function module<const D extends VariableDecl, In extends unknown[] = [tf.Tensor], Out = tf.Tensor>(
  name: string,
  variables: D,
  body: (scope: Scope<DeclaredParamNames<D>>, ...inputs: In) => Out,
  opts?: CustomModuleOptions,
): Module<DeclaredVariables<D>, In, Out>;
export function module(name: string, ...rest: unknown[]): Module<Variables, unknown[], unknown> {
  if (typeof name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
    throw new FlaxenError('', `module(name, body): name must be an identifier such as 'MLP', found ${describeValue(name)}`);
  }
  const decl = typeof rest[0] === 'function' ? undefined : (rest.shift() as VariableDecl);
  const [body, opts = {}] = rest as [unknown, CustomModuleOptions | undefined];
  if (decl !== undefined) checkDecl(decl, 'variables', name);
  if (typeof body !== 'function') throw new FlaxenError('', `module(${name}, body): body must be a function (scope, ...inputs) => output, found ${describeValue(body)}`);
  if (!isNode(opts) || Object.keys(opts).some((k) => k !== 'abstractSafe')) {
    throw new FlaxenError('', `module(${name}, ...): options are { abstractSafe }, found ${describeValue(opts)}`);
  }
  const run = body as (scope: Scope, ...inputs: unknown[]) => unknown;
  const declaredChildren: Record<string, Describable> = {};
  if (decl !== undefined) {
    for (const collection of Object.keys(decl)) {
      for (const [child, entry] of Object.entries(decl[collection]!)) if (entry instanceof Module) declaredChildren[child] = entry;
    }
  }
  return new Module({
    type: name,
    abstractSafe: opts.abstractSafe === true,
    body:
      decl === undefined
        ? run
        : (scope: Scope, ...inputs: unknown[]) => {
            const output = run(scope, ...inputs);
            if (scope.isInitializing) checkCreated(name, decl, scope);
            return output;
          },
    summarize: (variables) => describeByVariables(name, variables, declaredChildren),
  });
}
