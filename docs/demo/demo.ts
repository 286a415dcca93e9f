// The flaxen browser demo: a lazily initialized MLP, its shape tree, and a training run on a
// slice of the MNIST digits with a live loss plot. Built into demo.js by
// scripts/build-browser.mjs; the page also exposes `window.fx` and `window.flaxenDemo` (used by
// spec/browser/browser.spec.ts, handy in the console).
import * as fx from './flaxen.bundle.js';

const { tf } = fx;
const here = new URL('./', import.meta.url).href;

// ---------------------------------------------------------------------------------------------
// Data: digits.bin holds a slice of the `mnist` package (see scripts/build-browser.mjs).

/** A slice of the digits: pixels as bytes (0–255), row-major, 784 per image; labels 0–9. */
export interface Digits {
  readonly pixels: number;
  readonly train: { readonly x: Uint8Array; readonly y: Uint8Array; readonly n: number };
  readonly test: { readonly x: Uint8Array; readonly y: Uint8Array; readonly n: number };
}

async function loadDigits(): Promise<Digits> {
  const response = await fetch(here + 'digits.bin');
  if (!response.ok) throw new Error(`digits.bin: HTTP ${response.status} (run node scripts/build-browser.mjs)`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = String.fromCharCode(...bytes.subarray(0, 4));
  const nTrain = view.getUint32(4, true);
  const nTest = view.getUint32(8, true);
  const pixels = view.getUint32(12, true);
  if (magic !== 'FXDG' || bytes.length !== 16 + (nTrain + nTest) * (pixels + 1)) {
    throw new Error(`digits.bin is not a digits file (magic ${JSON.stringify(magic)}, ${bytes.length} bytes)`);
  }
  let at = 16;
  const take = (n: number) => bytes.subarray(at, (at += n));
  const trainX = take(nTrain * pixels);
  const testX = take(nTest * pixels);
  return {
    pixels,
    train: { x: trainX, y: take(nTrain), n: nTrain },
    test: { x: testX, y: take(nTest), n: nTest },
  };
}

/** Images `rows` of a split as a float batch in [0, 1] and their labels as int32. */
function batch(split: Digits['train'], pixels: number, rows: ArrayLike<number>): { x: fx.tf.Tensor2D; y: fx.tf.Tensor1D } {
  const x = new Float32Array(rows.length * pixels);
  const y = new Int32Array(rows.length);
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r]!;
    const source = split.x.subarray(row * pixels, (row + 1) * pixels);
    for (let p = 0; p < pixels; p++) x[r * pixels + p] = source[p]! / 255;
    y[r] = split.y[row]!;
  }
  return { x: tf.tensor2d(x, [rows.length, pixels]), y: tf.tensor1d(y, 'int32') };
}

// ---------------------------------------------------------------------------------------------
// The model: nothing about the input size is written here; init learns it from the first input.

export const model = fx.nn.Sequential([fx.nn.Dense(128), fx.nn.relu, fx.nn.Dense(10)]);
type Params = fx.Variables['params'];

/** The variables tree as indented text, one line per parameter: `kernel  [784, 128]`. */
function shapeTree(tree: unknown, indent = ''): string {
  if (tree instanceof tf.Tensor) return `[${tree.shape.join(', ')}]  ${tree.dtype}`;
  const entries = Object.entries(tree as Record<string, unknown>);
  return entries
    .map(([name, child]) => (child instanceof tf.Tensor ? `${indent}${name.padEnd(8)}${shapeTree(child)}` : `${indent}${name}\n${shapeTree(child, indent + '  ')}`))
    .join('\n');
}

// ---------------------------------------------------------------------------------------------
// The live loss plot.

function drawLoss(canvas: HTMLCanvasElement, losses: readonly number[], totalSteps: number, stepsPerEpoch: number): void {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  if (canvas.width !== Math.round(width * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
  }
  const g = canvas.getContext('2d')!;
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, width, height);
  const left = 44, right = 12, top = 12, bottom = 28;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  // The y axis: 0 to the first losses' maximum, rounded up to a multiple of the tick step.
  const peak = losses.length ? Math.max(...losses.slice(0, 20)) : 2.5;
  const tick = peak > 1 ? 0.5 : 0.25;
  const yMax = Math.max(tick, Math.ceil(peak / tick) * tick);
  const xAt = (step: number) => left + (plotW * step) / Math.max(1, totalSteps);
  const yAt = (loss: number) => top + plotH * (1 - Math.min(loss, yMax) / yMax);

  g.font = '11px system-ui, sans-serif';
  g.fillStyle = '#555';
  g.strokeStyle = '#e3e3e3';
  g.lineWidth = 1;
  for (let v = 0; v <= yMax + 1e-9; v += tick) {
    g.beginPath(); g.moveTo(left, yAt(v)); g.lineTo(left + plotW, yAt(v)); g.stroke();
    g.textAlign = 'right'; g.textBaseline = 'middle';
    g.fillText(v.toFixed(tick < 0.5 ? 2 : 1), left - 6, yAt(v));
  }
  g.textBaseline = 'top';
  for (let epoch = 0; epoch * stepsPerEpoch <= totalSteps; epoch++) {
    const x = xAt(epoch * stepsPerEpoch);
    g.setLineDash([3, 3]); g.beginPath(); g.moveTo(x, top); g.lineTo(x, top + plotH); g.stroke(); g.setLineDash([]);
    g.textAlign = epoch === 0 ? 'left' : x > left + plotW - 30 ? 'right' : 'center';
    g.fillText(`epoch ${epoch}`, x, top + plotH + 6);
  }
  // The legend, top right, where the falling curve leaves room.
  g.textAlign = 'right';
  g.fillStyle = '#7fb0e6';
  g.fillText('loss per batch', left + plotW - 8, top + 6);
  g.fillStyle = '#1f5fa8';
  g.fillText('smoothed', left + plotW - 8, top + 22);
  if (losses.length === 0) return;
  g.lineWidth = 1;
  g.strokeStyle = '#9ec5ef';
  g.beginPath();
  losses.forEach((loss, i) => (i ? g.lineTo(xAt(i + 1), yAt(loss)) : g.moveTo(xAt(i + 1), yAt(loss))));
  g.stroke();
  // A debiased exponential moving average reads better than the noisy per-batch loss.
  const beta = 0.8;
  let average = 0;
  g.lineWidth = 2;
  g.strokeStyle = '#1f5fa8';
  g.beginPath();
  losses.forEach((loss, i) => {
    average = beta * average + (1 - beta) * loss;
    const smooth = average / (1 - beta ** (i + 1));
    if (i) g.lineTo(xAt(i + 1), yAt(smooth)); else g.moveTo(xAt(i + 1), yAt(smooth));
  });
  g.stroke();
}

/** The first test digits, each with the model's answer (red when wrong). */
function showSamples(data: Digits, predicted: Int32Array): void {
  const box = $('samples');
  box.replaceChildren();
  for (let i = 0; i < Math.min(30, data.test.n); i++) {
    const figure = document.createElement('figure');
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = 28;
    const image = new ImageData(28, 28);
    for (let p = 0; p < 784; p++) {
      const v = 255 - data.test.x[i * data.pixels + p]!;
      image.data.set([v, v, v, 255], p * 4);
    }
    canvas.getContext('2d')!.putImageData(image, 0, 0);
    const caption = document.createElement('figcaption');
    caption.textContent = String(predicted[i]);
    if (predicted[i] !== data.test.y[i]) caption.className = 'wrong';
    figure.append(canvas, caption);
    box.append(figure);
  }
}

// ---------------------------------------------------------------------------------------------
// Training.

/** Options of {@link run}. */
export interface RunOptions {
  /** The root key's seed: parameters and the batch order come from it. Default 0. */
  readonly seed?: number;
  /** Passes over the training slice. Default 3. */
  readonly epochs?: number;
  /** Stop after this many steps (default: all the epochs'). */
  readonly steps?: number;
  readonly batchSize?: number;
  readonly learningRate?: number;
}

/** What a run reports: the loss after every step and the accuracy on the test slice. */
export interface RunResult {
  readonly losses: number[];
  readonly testAccuracy: number;
  readonly steps: number;
  readonly paramCount: number;
  readonly ms: number;
  readonly backend: { name: string; simd: boolean };
}

/** Disposes the tensors of `old` that `next` does not hold (a state may carry some over). */
function disposeReplaced(old: unknown, next: unknown): void {
  const keep = new Set(fx.tree.leaves<unknown>(next).filter((t) => t instanceof tf.Tensor));
  for (const t of fx.tree.leaves<unknown>(old)) if (t instanceof tf.Tensor && !keep.has(t)) t.dispose();
}

const yieldToBrowser = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

function $(id: string): HTMLElement {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no #${id}`);
  return element;
}

let digits: Promise<Digits> | undefined;
let running: Promise<RunResult> | undefined;

/** Initializes the model from `key(seed)`, shows its shape tree, trains it with a live plot. */
export function run(options: RunOptions = {}): Promise<RunResult> {
  if (running) return running.then(() => run(options), () => run(options));
  running = runOnce(options).finally(() => (running = undefined));
  return running;
}

async function runOnce({ seed = 0, epochs = 3, steps, batchSize = 64, learningRate = 1e-3 }: RunOptions): Promise<RunResult> {
  const started = performance.now();
  const data = await (digits ??= loadDigits());
  const button = $('run') as HTMLButtonElement;
  button.disabled = true;
  ($('seed') as HTMLInputElement).value = String(seed);
  ($('epochs') as HTMLInputElement).value = String(epochs);
  const status = $('status');
  const canvas = $('plot') as HTMLCanvasElement;
  try {
    // Lazy initialization: the input size (784) is learned here, from a shape; no dummy tensor.
    const [paramKey, shuffleKey] = fx.random.split(fx.random.key(seed));
    const variables = model.init(paramKey!, [1, data.pixels]);
    $('after').textContent = model.describe(variables);
    const paramCount = fx.tree.count(variables);
    $('shapes').textContent = `${shapeTree(variables)}\n\n${paramCount.toLocaleString('en')} parameters from key(${seed})`;

    const stepsPerEpoch = Math.floor(data.train.n / batchSize);
    const totalSteps = Math.min(steps ?? Infinity, epochs * stepsPerEpoch);
    const lossFn = (params: Params, x: fx.tf.Tensor, y: fx.tf.Tensor) =>
      tf.mean(fx.losses.softmaxCrossEntropyWithIntegerLabels(model.apply({ params }, x) as fx.tf.Tensor, y)) as fx.tf.Scalar;
    const lossAndGrads = fx.valueAndGrad(lossFn);
    const optimizer = fx.optim.adam(learningRate);
    let params: Params = variables['params'];
    let state = optimizer.init(params);
    const losses: number[] = [];
    drawLoss(canvas, losses, totalSteps, stepsPerEpoch);

    let step = 0;
    for (let epoch = 0; step < totalSteps; epoch++) {
      const order = fx.random.permutation(fx.random.foldIn(shuffleKey!, epoch), data.train.n);
      const rows = order.dataSync() as Int32Array;
      order.dispose();
      for (let b = 0; b < stepsPerEpoch && step < totalSteps; b++, step++) {
        const { x, y } = batch(data.train, data.pixels, rows.subarray(b * batchSize, (b + 1) * batchSize));
        const next = tf.tidy(() => {
          const [loss, grads] = lossAndGrads(params, x, y);
          const [updates, nextState] = optimizer.update(grads, state, params);
          return { loss, params: fx.optim.applyUpdates(params, updates), state: nextState } as unknown as fx.tf.TensorContainer;
        }) as unknown as { loss: fx.tf.Scalar; params: Params; state: typeof state };
        x.dispose();
        y.dispose();
        disposeReplaced(params, next.params);
        disposeReplaced(state, [next.state, next.params]);
        params = next.params;
        state = next.state;
        losses.push((await next.loss.data())[0]!);
        next.loss.dispose();
        drawLoss(canvas, losses, totalSteps, stepsPerEpoch);
        status.textContent = `epoch ${epoch + 1}, step ${step + 1} of ${totalSteps}: loss ${losses.at(-1)!.toFixed(3)}`;
        await yieldToBrowser();
      }
    }

    const test = batch(data.test, data.pixels, Array.from({ length: data.test.n }, (_, i) => i));
    const predictedTensor = tf.tidy(() => tf.argMax(model.apply({ params }, test.x) as fx.tf.Tensor, 1));
    const predicted = (await predictedTensor.data()) as Int32Array;
    predictedTensor.dispose();
    const testAccuracy = predicted.filter((label, i) => label === data.test.y[i]).length / data.test.n;
    showSamples(data, predicted);
    test.x.dispose();
    test.y.dispose();
    fx.tree.dispose(params);
    fx.tree.dispose(state);
    // Only the non-parameter variables (none for this MLP) remain of the init output.
    fx.tree.dispose(Object.fromEntries(Object.entries(variables).filter(([name]) => name !== 'params')));

    const ms = performance.now() - started;
    $('accuracy').textContent = `${(testAccuracy * 100).toFixed(1)}% of ${data.test.n} test digits`;
    status.textContent = `done: ${step} steps of ${batchSize} digits, final loss ${losses.at(-1)!.toFixed(3)}, ${(ms / 1000).toFixed(1)} s`;
    return { losses, testAccuracy, steps: step, paramCount, ms, backend: fx.backendInfo() };
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------------------------------------
// Start-up.

async function start(): Promise<{ name: string; simd: boolean }> {
  // The WASM backend fetches its .wasm file from here; must be set before the backend starts.
  fx.setWasmPaths(here);
  // One thread per core: the page is served cross-origin isolated (COOP/COEP), so it has shared memory.
  await fx.ready('wasm', { threads: 'auto' });
  const info = fx.backendInfo();
  $('backend').textContent = `${info.name}${info.simd ? ' with SIMD' : ' (no SIMD)'}, tfjs-core ${tf.version_core}`;
  // Before init nothing knows the input size: describe shows it as -1.
  $('before').textContent = model.describe();
  // tabulate runs the model on shapes alone (initShapes): it allocates no parameter.
  $('tabulate').textContent = fx.tabulate(model, fx.random.key(0), [1, 784]);
  const form = $('controls') as HTMLFormElement;
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const seed = Number(($('seed') as HTMLInputElement).value) || 0;
    const epochs = Number(($('epochs') as HTMLInputElement).value) || 3;
    run({ seed, epochs }).catch(report);
  });
  return info;
}

function report(error: unknown): void {
  console.error(error);
  const status = document.getElementById('status');
  if (status) status.textContent = `error: ${(error as Error)?.message ?? String(error)}`;
}

const ready = start();
ready.catch(report);

declare global {
  interface Window {
    fx: typeof fx;
    flaxenDemo: { ready: Promise<{ name: string; simd: boolean }>; run: typeof run; model: typeof model };
  }
}
window.fx = fx;
window.flaxenDemo = { ready, run, model };

// `?autorun=0` leaves the training to the button (or to a test driving the page).
if (new URLSearchParams(location.search).get('autorun') !== '0') {
  ready.then(() => run()).catch(report);
}
