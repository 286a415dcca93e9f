// Run by spec/uncaught.spec.ts: starts the backend, then fails in the way argv[2] names, with an
// error of its own, and nothing to catch it.
import * as fx from '../lib/index.js';

await fx.ready((process.env['FLAXEN_BACKEND'] as 'wasm' | 'cpu' | undefined) ?? 'wasm');

function theUsersOwnBug(): never {
  throw new Error('the user\'s own bug');
}

const how = process.argv[2];
if (how === 'throw') theUsersOwnBug();
else if (how === 'timer') setTimeout(theUsersOwnBug, 0);
else if (how === 'rejection') void Promise.reject(new Error('the user\'s own rejected promise'));
else console.log('no error');
