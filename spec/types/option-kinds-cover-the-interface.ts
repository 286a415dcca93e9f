// Compiled by `tsc --noEmit` in `npm test`: an OptionKinds record names every option of its
// interface, no more and no fewer, so the lists the library checks options against (layers,
// optimizers, schedules, valueAndGrad, apply) cannot drift from the interfaces.
import * as fx from '../../lib/index.js';

type AdamWKinds = fx.OptionKinds<fx.optim.AdamWOptions>;
const complete: AdamWKinds = { b1: 'any', b2: 'any', eps: 'any', epsRoot: 'any', weightDecay: 'any', mask: 'any' };
// @ts-expect-error 'mask' is missing: a new option added to the interface must be added to the list
const missing: AdamWKinds = { b1: 'any', b2: 'any', eps: 'any', epsRoot: 'any', weightDecay: 'any' };
// @ts-expect-error 'momentum' is not an option of adamw
const extra: AdamWKinds = { ...complete, momentum: 'any' };
// @ts-expect-error a kind is one of the checked kinds
const badKind: fx.OptionKinds<fx.GradOptions> = { hasAux: 'bool' };
// an optional option is still required in the list
// @ts-expect-error 'hasAux' is missing
const none: fx.OptionKinds<fx.GradOptions> = {};
export { missing, extra, badKind, none };
