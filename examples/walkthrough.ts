// `npm start`: the lazy-initialization walkthrough of Dive into Deep Learning §6.4, step by
// step with flaxen, then training on real handwritten digits.
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../lib/index.js';
import { mlp, trainMlp } from './mnist-mlp.js';

const { Dense, Sequential, relu } = fx.nn;
const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const section = (title: string) => console.log(`\n${bold(`== ${title} ==`)}\n`);
const show = (code: string) => console.log(code.split('\n').map((line) => `> ${line}`).join('\n'));

export async function walkthrough(): Promise<void> {
  const backend = await fx.ready();
  console.log(`flaxen on tfjs-core ${tf.version_core}, backend ${backend}${fx.backendInfo().simd ? ' with SIMD' : ''}`);

  section('1. A network described without any input size');
  show('const net = Sequential([Dense(256), relu, Dense(10)])');
  const net = Sequential([Dense(256), relu, Dense(10)]);
  show('net.describe()');
  console.log(net.describe());
  console.log('\nThe input size is still unknown, printed as -1, as MXNet does.');

  section('2. No parameter exists yet');
  console.log('A flaxen module is a description: it holds no parameters, so there is nothing to access.');
  console.log(`'params' in net: ${'params' in net}; tensors alive: ${tf.memory().numTensors}`);
  console.log('\nGiven only the input shape, initShapes infers every parameter shape without');
  console.log('allocating or drawing anything:');
  show('net.initShapes(fx.random.key(0), [2, 20])');
  const tensorsBefore = tf.memory().numTensors;
  const shapes = net.initShapes(fx.random.key(0), [2, 20]);
  console.log(fx.tree.format(shapes));
  console.log(`Tensors alive afterwards: ${tf.memory().numTensors} (was ${tensorsBefore})`);

  section('3. init: the data decides the shapes, then the parameters are drawn');
  console.log('Once the input size 20 is known, the first kernel is [20, 256]; its output size 256');
  console.log('sizes the next layer, and so on through the graph. Then every parameter is drawn from');
  console.log('a key derived from the root key and its path.');
  show('const variables = net.init(fx.random.key(0), tf.zeros([2, 20]))');
  const x = tf.zeros([2, 20]);
  const variables = net.init(fx.random.key(0), x);
  show('fx.tree.format(variables)');
  console.log(fx.tree.format(variables));
  show('net.describe(variables)');
  console.log(net.describe(variables));
  const again = net.init(fx.random.key(0), [2, 20]);
  const same = tf.tidy(() => tf.all(tf.equal(again.params.layers_0.kernel, variables.params.layers_0.kernel)).dataSync()[0] === 1);
  console.log(`\nThe same key gives the same parameters, bit for bit: ${same}`);
  fx.tree.dispose(again);
  const batch = tf.ones([5, 20]);
  const y = net.apply(variables, batch);
  console.log(`apply works for any batch size: input [5, 20] -> output [${y.shape.join(', ')}]`);
  tf.dispose([batch, y]);

  section('Exercise 1: a size for the first layer only');
  show('Sequential([Dense(256, { inFeatures: 20 }), relu, Dense(10)]).describe()');
  const firstOnly = Sequential([Dense(256, { inFeatures: 20 }), relu, Dense(10)]);
  console.log(firstOnly.describe());
  console.log('\nThe first layer\'s shape is now known in advance, but nothing is initialized immediately:');
  console.log('a flaxen model never holds parameters, and init still needs the input (or its shape) to');
  console.log('size the later layers. What inFeatures adds is a check: any other input size is refused.');

  section('Exercise 2: mismatched sizes');
  show('Sequential([Dense(256, { inFeatures: 20 }), relu, Dense(10)]).init(key, [2, 30])');
  try {
    firstOnly.init(fx.random.key(0), [2, 30]);
  } catch (error) {
    console.log(`${(error as Error).name}: ${(error as Error).message}`);
  }
  show('net.apply(variables /* made for 20 features */, tf.ones([2, 30]))');
  const wrong = tf.ones([2, 30]);
  try {
    net.apply(variables, wrong);
  } catch (error) {
    console.log(`${(error as Error).name}: ${(error as Error).message}`);
  }
  wrong.dispose();
  console.log('\nBoth are caught before any math runs, and the message names the layer and both sizes.');

  section('Exercise 3: inputs of varying size, and parameter binding');
  console.log('The batch size may vary freely. A different feature size needs parameters of its own:');
  console.log('either init the model again for that size (a new variables tree), or share what can be');
  console.log('shared. Here each input size gets its own projection, and both go through one trunk,');
  console.log('bound to the same parameters by calling it under the same name:');
  show(`const trunk = Sequential([Dense(64), relu, Dense(10)], { name: 'trunk' });
const TwoInputs = fx.nn.module('TwoInputs', (scope, a: tf.Tensor, b: tf.Tensor) => [
  scope.call(trunk, scope.call(Dense(256, { name: 'proj_20' }), a)),
  scope.call(trunk, scope.call(Dense(256, { name: 'proj_30' }), b)),
]);
const shared = TwoInputs.init(fx.random.key(0), [1, 20], [1, 30]);
fx.tree.format(shared)`);
  const trunk = Sequential([Dense(64), relu, Dense(10)], { name: 'trunk' });
  const TwoInputs = fx.nn.module('TwoInputs', (scope, a: tf.Tensor, b: tf.Tensor) => [
    scope.call(trunk, scope.call(Dense(256, { name: 'proj_20' }), a)),
    scope.call(trunk, scope.call(Dense(256, { name: 'proj_30' }), b)),
  ]);
  const shared = TwoInputs.init(fx.random.key(0), [1, 20], [1, 30]);
  console.log(fx.tree.format(shared));
  show(`const f = TwoInputs.bind(shared);
const [ya, yb] = f(tf.ones([4, 20]), tf.ones([3, 30]));`);
  const bound = TwoInputs.bind(shared);
  const [a, b] = [tf.ones([4, 20]), tf.ones([3, 30])];
  const [ya, yb] = bound(a, b) as tf.Tensor[];
  console.log(`bind(variables) gives a plain function: [4, 20] -> [${ya!.shape.join(', ')}], [3, 30] -> [${yb!.shape.join(', ')}]`);
  tf.dispose([a, b, ya!, yb!]);
  fx.tree.dispose(shared);

  fx.tree.dispose(variables);
  x.dispose();
}

/** What section 4 trains, with its layer sizes read from the model itself: `An MLP (784-512-512-10)`. */
export function trainingModel(): string {
  const shapes = mlp.model.initShapes(fx.random.key(0), [1, ...mlp.inputShape]);
  const kernels = fx.tree.flatten(shapes).filter(([path]) => path.endsWith('/kernel')).map(([, leaf]) => leaf.shape);
  return `An MLP (${[kernels[0]![0], ...kernels.map((shape) => shape[1])].join('-')})`;
}

async function training(): Promise<void> {
  section('4. Training on real handwritten digits');
  console.log(`${trainingModel()}, trained with Adam on the MNIST digits bundled with the \`mnist\` package:`);
  console.log('8,000 for training, 2,000 for testing, batches shuffled by keys (examples/mnist-mlp.ts).\n');
  const result = await trainMlp({});
  console.log(`\nTest accuracy ${(result.testAccuracy * 100).toFixed(2)}% after ${result.seconds.toFixed(1)} s of training.`);
}

// ---- Final section (issue 10): interrupt, restore, continue -----------------------------------

/**
 * Interrupt, restore, continue: an MLP trains 12 steps with a checkpoint manager; a second run
 * stops after step 6 as if killed, a fresh manager on its folder (as a new process would open
 * it) restores step 4, and training continues. Returns whether the numbers are the same.
 */
export async function resuming(): Promise<boolean> {
  section('5. Interrupt, restore, continue: the same numbers');
  // Imported here so that this section stays self-contained at the end of the file.
  const [{ train }, { mlp }, { mkdtemp, rm }, { tmpdir }, { join }] = await Promise.all([
    import('./resume.js'), import('./mnist-mlp.js'), import('node:fs/promises'), import('node:os'), import('node:path'),
  ]);
  console.log('A run saves its whole TrainState (step, params, Adam state) every 4 steps with a CheckpointManager');
  console.log('and takes its batches from fx.data.stream, where the batch of step s depends only on');
  console.log('(key, epoch, position). One run goes straight through 12 steps; another stops after step 6');
  console.log('(as if killed), and a new manager on its folder restores the latest checkpoint and continues:');
  show("const manager = new fx.checkpoint.CheckpointManager(dir, { saveIntervalSteps: 4 })");
  show('state = await manager.restore(fresh)   // latest step; Adam\'s moments and count included');
  show('for (const batch of fx.data.stream(train, 32, dataKey, { start: state.step })) { ... }');
  const root = await mkdtemp(join(tmpdir(), 'flaxen-walkthrough-'));
  try {
    const settings = { steps: 12, every: 4, batchSize: 32, trainSize: 512, spec: mlp };
    const straight = await train(join(root, 'straight'), settings);
    const stopped = await train(join(root, 'interrupted'), settings, { stopAfter: 6 });
    const resumed = await train(join(root, 'interrupted'), settings);
    const bits = (x: number | undefined) => new Uint32Array(new Float32Array([x ?? NaN]).buffer)[0]!;
    const fmt = (losses: ReadonlyMap<number, number>, from: number, to: number) =>
      Array.from({ length: to - from }, (_, i) => (losses.has(from + i) ? losses.get(from + i)!.toFixed(4) : '      ')).join(' ').trimEnd();
    console.log(`\nstraight run, steps 0–11:   ${fmt(straight.losses, 0, 12)}`);
    console.log(`stopped after step 6:       ${fmt(stopped.losses, 0, 12)}`);
    console.log(`restored step ${resumed.start}, continued: ${' '.repeat(7 * resumed.start)}${fmt(resumed.losses, resumed.start, 12)}`);
    const sameLosses = [...resumed.losses, ...stopped.losses].every(([step, loss]) => bits(loss) === bits(straight.losses.get(step)));
    const sameParams = straight.final !== undefined && resumed.final !== undefined && straight.final.length === resumed.final.length && straight.final.every((b, i) => b === resumed.final![i]);
    console.log(`\nSame losses, bit for bit: ${sameLosses}; same final parameters, byte for byte: ${sameParams}`);
    console.log('(examples/resume.ts does the same with kill -9 in a child process: npm run build && node dist/examples/resume.js)');
    return sameLosses && sameParams;
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await walkthrough();
  await training();
  await resuming();
}
