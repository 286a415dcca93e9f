/**
 * `chain`: composes gradient transformations, the way every optimizer here is built.
 *
 * @module
 */
import type { GradientTransformation, OptState, Scaling } from './base.js';
import { applyUpdates } from './apply-updates.js';
import { FlaxenError, describeValue } from '../errors.js';
import { defineEntry } from '../tree/index.js';
import { identityUpdates } from './identity.js';
import { checkState, tidy } from './util.js';

/**
 * The state of a {@link chain}: the inner states under the keys `'0'`, `'1'`, ... (a plain
 * object rather than an array, so `fx.tree` functions such as `dispose` walk into it).
 *
 * @example
 * ```ts
 * const state: fx.optim.ChainState = fx.optim.chain(fx.optim.clipByGlobalNorm(1), fx.optim.sgd(0.1)).init({ w: tf.ones([2]) });
 * ```
 */
export type ChainState = { readonly [index: string]: OptState };

/**
 * Applies transformations one after the other: the updates of each are the input of the next
 * (Optax's `chain`). The state holds each inner state under its index.
 *
 * Fast paths, when the stages declare them (see {@link GradientTransformation}): a stage that
 * can scale its own output (`scaleByAdam`) runs the scaling stages after it (`scale`,
 * `scaleByLearningRate`, `addDecayedWeights` without a mask) within its own pass; and the chain
 * has `updateAndApply` when its last stage has it or is such a folded run, so
 * `chain(clipByGlobalNorm(1), adam(lr))` keeps adam's fused update-and-apply.
 *
 * Ownership: as for every transformation (see {@link GradientTransformation}); the intermediate
 * updates between the stages are freed inside the call.
 *
 * @param transforms - the stages, first applied first.
 * @example
 * ```ts
 * const tx = fx.optim.chain(
 *   fx.optim.clipByGlobalNorm(1.0),
 *   fx.optim.scaleByAdam(),
 *   fx.optim.scaleByLearningRate(1e-3),
 * );
 * const state = tx.init({ w: tf.ones([3]) });
 * ```
 */
export function chain(...transforms: GradientTransformation<any>[]): GradientTransformation<ChainState> {
  transforms.forEach((t, i) => {
    if (t === null || typeof t !== 'object' || typeof t.init !== 'function' || typeof t.update !== 'function') {
      throw new FlaxenError('', `chain: argument ${i} must be a gradient transformation {init, update}, found ${describeValue(t)}`);
    }
  });
  const keys = transforms.map((_, i) => String(i));
  const groups = foldGroups(transforms);
  const last = groups[groups.length - 1];
  // Runs the groups before `end`; `finish` runs the last group, given the updates so far.
  const run = <R>(grads: unknown, state: ChainState, params: unknown, end: number, finish?: (updates: unknown, next: Record<string, OptState>) => R) => {
    checkState('chain', state, keys);
    return tidy(() => {
      const next: Record<string, OptState> = {};
      let updates: unknown = grads;
      for (const group of groups.slice(0, end)) updates = runGroup(transforms, group, updates, state, params, next);
      const result = finish ? finish(updates, next) : updates;
      return Object.freeze([result, Object.freeze(next) as ChainState] as const);
    });
  };
  const tx: GradientTransformation<ChainState> = {
    init: (params: unknown): ChainState => {
      const state: Record<string, OptState> = {};
      transforms.forEach((t, i) => defineEntry(state, keys[i]!, t.init(params)));
      return Object.freeze(state);
    },
    update: <G>(grads: G, state: ChainState, params?: unknown): readonly [G, ChainState] => {
      if (transforms.length === 0) {
        checkState('chain', state, keys);
        return Object.freeze([identityUpdates(grads), Object.freeze({}) as ChainState] as const);
      }
      return run(grads, state, params, groups.length) as readonly [G, ChainState];
    },
  };
  const lastStage = last && transforms[last.start + last.length - 1]!;
  if (last && last.length === 1 && lastStage!.updateAndApply) {
    // The last stage applies the updates itself (e.g. adam at the end of a longer chain).
    const apply = lastStage!.updateAndApply;
    (tx as { updateAndApply?: unknown }).updateAndApply = <P>(grads: unknown, state: ChainState, params: P): readonly [P, ChainState] =>
      run(grads, state, params, groups.length - 1, (updates, next) => {
        const [newParams, s] = apply(updates, state[String(last.start)]!, params);
        defineEntry(next, String(last.start), s);
        return newParams;
      }) as readonly [P, ChainState];
  } else if (last && last.length > 1) {
    // A folded run at the end: the stage that scales its output also adds the parameters.
    (tx as { updateAndApply?: unknown }).updateAndApply = <P>(grads: unknown, state: ChainState, params: P): readonly [P, ChainState] =>
      run(grads, state, params, groups.length - 1, (updates, next) => runGroup(transforms, last, updates, state, params, next, true)) as readonly [P, ChainState];
  }
  return Object.freeze(tx);
}

/** A run of stages executed as one: `start`, then `length − 1` scaling stages folded into it. */
interface Group {
  readonly start: number;
  readonly length: number;
}

// Stages that declare `updateScaled`, followed by stages that declare `scaling`, form one group.
function foldGroups(transforms: readonly GradientTransformation<any>[]): Group[] {
  const groups: Group[] = [];
  for (let i = 0; i < transforms.length; ) {
    let length = 1;
    if (transforms[i]!.updateScaled) while (i + length < transforms.length && transforms[i + length]!.scaling) length++;
    groups.push({ start: i, length });
    i += length;
  }
  return groups;
}

/**
 * Runs one group on `updates`, writing the new inner states into `next`, and returns its
 * updates. A folded group composes its scalings `u·s + p·d` left to right and hands the result to
 * the first stage's `updateScaled`; with `apply`, the parameters are added too (`d = 1`), which is
 * `applyUpdates` exactly, when no stage of the group reads the parameters already.
 */
function runGroup(transforms: readonly GradientTransformation<any>[], group: Group, updates: unknown, state: ChainState, params: unknown, next: Record<string, OptState>, apply = false): unknown {
  const first = transforms[group.start]!;
  const key = String(group.start);
  if (group.length > 1) {
    let scaling: Scaling = { scale: 1 };
    const states: OptState[] = [];
    for (let i = group.start + 1; i < group.start + group.length; i++) {
      const [step, s] = transforms[i]!.scaling!(state[String(i)]!);
      scaling = {
        scale: scaling.scale * step.scale,
        decay: scaling.decay === undefined ? step.decay : step.decay === undefined ? scaling.decay * step.scale : scaling.decay * step.scale + step.decay,
      };
      states.push(s);
    }
    // Without the parameters a stage that reads them runs alone, so that it reports their absence.
    if (params !== undefined || scaling.decay === undefined) {
      // Adding the parameters in the same pass is applyUpdates exactly only if nothing else adds them.
      const addsParams = apply && scaling.decay === undefined;
      const [u, s] = first.updateScaled!(updates, state[key]!, params, addsParams ? { scale: scaling.scale, decay: 1 } : scaling);
      defineEntry(next, key, s);
      states.forEach((s, j) => defineEntry(next, String(group.start + 1 + j), s));
      return apply && !addsParams ? applyUpdates(params, u) : u;
    }
  }
  let u = updates;
  for (let i = group.start; i < group.start + group.length; i++) {
    const [out, s] = transforms[i]!.update(u, state[String(i)]!, params);
    u = out;
    defineEntry(next, String(i), s);
  }
  return apply ? applyUpdates(params, u) : u;
}
