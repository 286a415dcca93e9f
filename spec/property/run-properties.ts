// Runs the property suite (spec/property/properties.ts) in this process and prints one JSON line
// per property: whether it held, how many cases ran, and for a failure the counterexample, the
// error and the seed and path that replay it. spec/property/property.spec.ts starts it as a child
// with a time limit. Usage: node run-properties.js <seed> <budget ms> [<replay path>] [<property name>].
import fc from 'fast-check';
import * as fx from '../../lib/index.js';
import { properties } from './properties.js';
import { Watched } from './invariants.js';

const [seedArg, budgetArg, pathArg, onlyArg] = process.argv.slice(2);
const seed = Number(seedArg);
const budgetMs = Number(budgetArg ?? 20_000);
await fx.ready((process.env['FLAXEN_BACKEND'] as 'wasm' | 'cpu' | undefined) ?? 'wasm');

const watched = new Watched();
const all = properties(watched).filter((p) => !onlyArg || p.name === onlyArg);
const perProperty = budgetMs / all.length;
for (const { name, property } of all) {
  const start = Date.now();
  const details = fc.check(property, {
    seed,
    numRuns: 1000,
    path: pathArg || undefined,
    endOnFailure: false,
    // A time budget per property, so the suite's run time is bounded on a loaded machine too.
    interruptAfterTimeLimit: perProperty,
    markInterruptAsFailure: false,
  });
  const error = details.errorInstance as Error | null;
  process.stdout.write(
    JSON.stringify({
      name,
      failed: details.failed,
      numRuns: details.numRuns,
      ms: Date.now() - start,
      seed: details.seed,
      path: details.counterexamplePath,
      counterexample: details.failed ? fc.stringify(details.counterexample) : undefined,
      error: error ? `${error.message}` : undefined,
    }) + '\n',
  );
}
