/**
 * A character-level language model of English words: an LSTM (`RNN(LSTMCell)`) and a small
 * causal Transformer (`CausalLM` of `decoder-block.ts`) learn to spell from the 274,136 words of
 * the `word-list` package (MIT licence; a devDependency), one word per line. The example
 * computes a unigram and a bigram baseline on the same validation characters and checks that
 * each model beats both; it samples words with explicit keys and a temperature (the same key
 * gives the same text), draws a progress bar, writes the loss curves as an SVG picture, and
 * saves checkpoints with `fx.checkpoint.CheckpointManager`, so a run that is stopped resumes
 * where it left off (bit for bit: the batch of step `s` depends only on the seed and `s`).
 *
 *     npm run build && node dist/examples/char-lm.js                 # the default run, a few minutes
 *     node dist/examples/char-lm.js --lstm-steps 2000 --hidden 128 --out runs/long  # longer; run again to resume
 *
 * @module
 */
import { pathToFileURL } from 'node:url';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import wordListPath from 'word-list';
import * as fx from '../lib/index.js';
import { ProgressBar, type ProgressStream } from './progress.js';
import { CausalLM } from './decoder-block.js';

/** The alphabet: newline (the end of a word) and `a`–`z`. */
export const ALPHABET = '\nabcdefghijklmnopqrstuvwxyz';
const VOCAB = ALPHABET.length;

/** Options of {@link trainCharLM}; every field has a default. */
export interface CharLMOptions {
  /** Training steps of the LSTM (default 300). */
  readonly lstmSteps?: number;
  /** Training steps of the Transformer (default 300). */
  readonly transformerSteps?: number;
  /** Windows per step (default 32). */
  readonly batchSize?: number;
  /** Characters per window (default 32). */
  readonly seqLength?: number;
  /** The LSTM's hidden size (default 64). */
  readonly hidden?: number;
  /** The Transformer's width (default 64). */
  readonly width?: number;
  /** The Transformer's decoder blocks (default 2). */
  readonly depth?: number;
  /** Adam's peak learning rate, decayed along a cosine (default 1e-2). */
  readonly lr?: number;
  /** Seeds the word order, the parameters and the batches (default 0). */
  readonly seed?: number;
  /** Words held out for validation (default 4,000). */
  readonly valWords?: number;
  /** Sampling temperature (default 0.8). */
  readonly temperature?: number;
  /** Where the loss curve and the checkpoints go (default `char-lm-output`). */
  readonly outDir?: string;
  /** Save a checkpoint every this many steps (default 25). */
  readonly saveEvery?: number;
  /**
   * Stop each model after this many steps of this run (saving a checkpoint), as if the run had
   * been interrupted; run again without it to resume (default: train to the end).
   */
  readonly stopAfter?: number;
  /** Print progress (default true); false for silence, or a function that receives each line. */
  readonly log?: boolean | ((line: string) => void);
  /** Force the interactive progress bar on or off (default: on when stdout is a terminal). */
  readonly interactive?: boolean;
}

/** Per-character losses of one model on the validation characters. */
export interface ModelReport {
  /** `'LSTM'` or `'Transformer'`. */
  readonly name: string;
  /** Parameters. */
  readonly parameters: number;
  /** Validation loss per character, in nats. */
  readonly valNats: number;
  /** The same in bits (`nats / ln 2`). */
  readonly valBits: number;
  /** Steps trained in all (with the ones before a resume). */
  readonly steps: number;
  /** The step this run started from (0, or the checkpoint's step). */
  readonly resumedFrom: number;
  /** Seconds of training in this run. */
  readonly seconds: number;
  /** Mean training loss (nats) per step, as far as known (the steps of earlier runs come from the metrics log). */
  readonly trainCurve: ReadonlyArray<readonly [number, number]>;
  /** Samples drawn with the sample key. */
  readonly samples: readonly string[];
  /** True when drawing again with the same key gave the same text. */
  readonly reproducible: boolean;
  /** True when another key gave other text. */
  readonly keyMatters: boolean;
}

/** What a run reports. */
export interface CharLMResult {
  /** Training characters. */
  readonly trainChars: number;
  /** Validation characters (each predicted once). */
  readonly valChars: number;
  /** The unigram baseline on the validation characters, in nats per character. */
  readonly unigramNats: number;
  /** The bigram baseline on the validation characters, in nats per character. */
  readonly bigramNats: number;
  /** The two models. */
  readonly models: readonly ModelReport[];
  /** The loss curve picture. */
  readonly curvePath: string;
}

/**
 * The words of the `word-list` package in a seeded order, split into training and validation text.
 *
 * @example
 * ```ts
 * const { train, val, words } = loadCorpus(0, 4000);
 * words;          // 274137
 * decode(val.subarray(0, 12));  // the first held-out words, one per line
 * ```
 */
export function loadCorpus(seed: number, valWords: number): { train: Int32Array; val: Int32Array; words: number } {
  const words = fs.readFileSync(wordListPath, 'utf8').split('\n').filter((w) => w.length > 0);
  // Fisher–Yates with the seed's generator: the list is alphabetical, validation must not be 'z…'.
  const next = fx.random.generator(fx.random.foldIn(fx.random.key(seed), 1));
  for (let i = words.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [words[i], words[j]] = [words[j]!, words[i]!];
  }
  const encode = (list: readonly string[]) => {
    const text = '\n' + list.join('\n') + '\n';
    const ids = new Int32Array(text.length);
    for (let i = 0; i < text.length; i++) {
      const id = ALPHABET.indexOf(text[i]!);
      if (id < 0) throw new Error(`word-list: unexpected character ${JSON.stringify(text[i])}`);
      ids[i] = id;
    }
    return ids;
  };
  return { val: encode(words.slice(0, valWords)), train: encode(words.slice(valWords)), words: words.length };
}

/**
 * Turns ids back into text.
 *
 * @example
 * ```ts
 * decode([8, 9, 0]); // 'hi\n'
 * ```
 */
export function decode(ids: ArrayLike<number>): string {
  return Array.from(ids, (id) => ALPHABET[id]!).join('');
}

/**
 * The validation windows: `[count, seqLength + 1]` ids with stride `seqLength`, so every
 * character after the first is predicted exactly once. Models and baselines score the same targets.
 */
function windows(ids: Int32Array, seqLength: number): Int32Array[] {
  const out: Int32Array[] = [];
  for (let start = 0; start + seqLength + 1 <= ids.length; start += seqLength) out.push(ids.subarray(start, start + seqLength + 1));
  return out;
}

/**
 * Unigram and bigram models (add-one smoothing) counted on the training text, scored on the
 * targets of the validation windows, in nats per character.
 *
 * @example
 * ```ts
 * const { train, val } = loadCorpus(0, 4000);
 * const { unigram, bigram } = baselines(train, [val]);   // about 2.94 and 2.51 nats
 * ```
 */
export function baselines(train: Int32Array, valWindows: readonly Int32Array[]): { unigram: number; bigram: number } {
  const uni = new Float64Array(VOCAB).fill(1);
  const bi = new Float64Array(VOCAB * VOCAB).fill(1);
  for (let i = 0; i < train.length; i++) {
    uni[train[i]!]!++;
    if (i > 0) bi[train[i - 1]! * VOCAB + train[i]!]!++;
  }
  const uniTotal = uni.reduce((a, b) => a + b, 0);
  const rowTotal = new Float64Array(VOCAB);
  for (let a = 0; a < VOCAB; a++) for (let b = 0; b < VOCAB; b++) rowTotal[a]! += bi[a * VOCAB + b]!;
  let uniNll = 0;
  let biNll = 0;
  let count = 0;
  for (const w of valWindows) {
    for (let t = 1; t < w.length; t++) {
      uniNll -= Math.log(uni[w[t]!]! / uniTotal);
      biNll -= Math.log(bi[w[t - 1]! * VOCAB + w[t]!]! / rowTotal[w[t - 1]!]!);
      count++;
    }
  }
  return { unigram: uniNll / count, bigram: biNll / count };
}

/**
 * The LSTM language model: Embed(27, 32) → RNN(LSTMCell(hidden)) → Dense(27).
 *
 * @example
 * ```ts
 * const lstm = CharLSTM(64);
 * const vars = lstm.init(fx.random.key(0), tf.zeros([1, 32], 'int32'));
 * lstm.apply(vars, tf.zeros([2, 32], 'int32')).shape; // [2, 32, 27]
 * ```
 */
export function CharLSTM(hidden: number) {
  return fx.nn.module('CharLSTM', (scope, tokens: tf.Tensor) => {
    const embedded = scope.call(fx.nn.Embed(VOCAB, 32), tokens);
    const states = scope.call(fx.nn.RNN(fx.nn.LSTMCell(hidden)), embedded);
    return scope.call(fx.nn.Dense(VOCAB), states);
  });
}

/** The mean cross-entropy (nats) of logits `[B, T, V]` against ids `[B, T]`. */
function meanLoss(logits: tf.Tensor, targets: tf.Tensor): tf.Tensor {
  const [b, t] = targets.shape as [number, number];
  return tf.mean(fx.losses.softmaxCrossEntropyWithIntegerLabels(tf.reshape(logits, [b * t, VOCAB]), tf.reshape(targets, [b * t])));
}

/** The training batch of `step`: random windows, drawn from the seed and the step alone (so a resumed run sees the same batches). */
function batchAt(train: Int32Array, step: number, seed: number, batchSize: number, seqLength: number): { inputs: tf.Tensor; targets: tf.Tensor } {
  const next = fx.random.generator(fx.random.foldIn(fx.random.key(seed), 1000 + step));
  const inputs = new Int32Array(batchSize * seqLength);
  const targets = new Int32Array(batchSize * seqLength);
  for (let b = 0; b < batchSize; b++) {
    const start = Math.floor(next() * (train.length - seqLength - 1));
    inputs.set(train.subarray(start, start + seqLength), b * seqLength);
    targets.set(train.subarray(start + 1, start + seqLength + 1), b * seqLength);
  }
  return { inputs: tf.tensor2d(inputs, [batchSize, seqLength], 'int32'), targets: tf.tensor2d(targets, [batchSize, seqLength], 'int32') };
}

/**
 * The validation loss in nats per character, over all validation windows in batches of 64.
 *
 * @example
 * ```ts
 * const lstm = CharLSTM(16);
 * const vars = lstm.init(fx.random.key(0), tf.zeros([1, 8], 'int32'));
 * validationLoss(lstm, vars.params, [Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8])]); // about ln 27 = 3.3 before training
 * ```
 */
export function validationLoss(model: fx.Module, params: unknown, valWindows: readonly Int32Array[]): number {
  let total = 0;
  let count = 0;
  for (let i = 0; i < valWindows.length; i += 64) {
    const chunk = valWindows.slice(i, i + 64);
    const t = chunk[0]!.length - 1;
    const inputs = new Int32Array(chunk.length * t);
    const targets = new Int32Array(chunk.length * t);
    chunk.forEach((w, b) => {
      inputs.set(w.subarray(0, t), b * t);
      targets.set(w.subarray(1), b * t);
    });
    const sum = tf.tidy(() => {
      const logits = model.apply({ params } as never, tf.tensor2d(inputs, [chunk.length, t], 'int32')) as tf.Tensor;
      return tf.sum(fx.losses.softmaxCrossEntropyWithIntegerLabels(tf.reshape(logits, [chunk.length * t, VOCAB]), tf.tensor1d(targets, 'int32')));
    });
    total += sum.dataSync()[0]!;
    sum.dispose();
    count += chunk.length * t;
  }
  return total / count;
}

/** Options of {@link sample}. */
export interface SampleOptions {
  /** The key of the draws: the same key gives the same text. */
  readonly key: fx.random.Key;
  /** Divides the logits before the softmax: < 1 sharper, > 1 flatter; 0 takes the most likely character. */
  readonly temperature: number;
  /** How many texts (default 4). */
  readonly count?: number;
  /** Characters to draw per text (default 80). */
  readonly length?: number;
  /** The longest context the model is given (its training window). */
  readonly context: number;
}

/**
 * Draws texts from a model one character at a time, each started by a newline (the start of a
 * word). Draw `s` of text `b` uses uniform number `s·count + b` of `fx.random.generator(key)`,
 * so the text depends on the key, the temperature and the parameters only.
 *
 * @example
 * ```ts
 * const lstm = CharLSTM(16);
 * const vars = lstm.init(fx.random.key(0), tf.zeros([1, 8], 'int32'));
 * const texts = sample(lstm, vars.params, { key: fx.random.key(7), temperature: 0.8, context: 8, count: 2, length: 20 });
 * texts.length; // 2, each 20 characters of a-z and newlines
 * ```
 */
export function sample(model: fx.Module, params: unknown, opts: SampleOptions): string[] {
  const { count = 4, length = 80, temperature, context } = opts;
  const uniform = fx.random.generator(opts.key);
  const texts: number[][] = Array.from({ length: count }, () => [0]);
  for (let s = 0; s < length; s++) {
    const window = Math.min(context, texts[0]!.length);
    const ids = new Int32Array(count * window);
    texts.forEach((t, b) => ids.set(t.slice(t.length - window), b * window));
    const last = tf.tidy(() => {
      const logits = model.apply({ params } as never, tf.tensor2d(ids, [count, window], 'int32')) as tf.Tensor;
      return tf.reshape(tf.slice(logits, [0, window - 1, 0], [count, 1, VOCAB]), [count, VOCAB]);
    });
    const values = last.dataSync();
    last.dispose();
    for (let b = 0; b < count; b++) {
      const row = Array.from(values.subarray(b * VOCAB, (b + 1) * VOCAB));
      const u = uniform();
      let id: number;
      if (temperature === 0) id = row.indexOf(Math.max(...row));
      else {
        const top = Math.max(...row);
        const weights = row.map((z) => Math.exp((z - top) / temperature));
        const total = weights.reduce((a, c) => a + c, 0);
        let acc = 0;
        id = VOCAB - 1;
        for (let v = 0; v < VOCAB; v++) {
          acc += weights[v]! / total;
          if (u < acc) {
            id = v;
            break;
          }
        }
      }
      texts[b]!.push(id);
    }
  }
  return texts.map((t) => decode(t.slice(1)));
}

/** One model's training: its name, module and optimizer. */
interface ModelPlan {
  readonly name: string;
  readonly model: fx.Module;
  readonly steps: number;
  readonly lr: number;
}

type Printer = (line: string) => void;

/** Trains one model with Adam (cosine decay, gradients clipped at norm 1), resuming from its checkpoint folder. */
async function trainModel(
  plan: ModelPlan,
  data: { train: Int32Array; valWindows: readonly Int32Array[] },
  o: Required<Pick<CharLMOptions, 'batchSize' | 'seqLength' | 'seed' | 'saveEvery' | 'outDir' | 'temperature'>> & { stopAfter?: number; interactive?: boolean; stream: ProgressStream; print: Printer },
): Promise<ModelReport> {
  const { batchSize, seqLength, seed } = o;
  const initKey = fx.random.foldIn(fx.random.key(seed), plan.name === 'LSTM' ? 2 : 3);
  const example = tf.zeros([1, seqLength], 'int32');
  const fresh = plan.model.init(initKey, example);
  example.dispose();
  const tx = fx.optim.chain(fx.optim.clipByGlobalNorm(1), fx.optim.adam(fx.optim.schedules.cosineDecay(plan.lr, Math.max(1, plan.steps))));
  let params: any = fresh.params;
  let opt: any = tx.init(params);
  // Keeps the last two steps; every save appends the interval's mean loss to metrics.jsonl, so the
  // loss curve spans the runs of a resumed training.
  const dir = path.join(o.outDir, 'checkpoints', plan.name.toLowerCase());
  const manager = new fx.checkpoint.CheckpointManager(dir, { maxToKeep: 2, saveIntervalSteps: o.saveEvery });
  const latest = manager.latestStep();
  let step = 0;
  if (latest !== undefined && latest > plan.steps) {
    throw new Error(`${dir} holds a checkpoint of step ${latest}, past this run's ${plan.steps} steps: give more steps or another --out`);
  }
  if (latest !== undefined) {
    const restored = (await manager.restore({ params, opt })) as { params: unknown; opt: unknown };
    fx.tree.dispose({ params, opt });
    params = restored.params;
    opt = restored.opt;
    step = latest;
  }
  const parameters = fx.tree.count(params);
  o.print(`${plan.name}: ${parameters.toLocaleString('en-US')} parameters, ${plan.steps} steps of ${batchSize} × ${seqLength} characters, Adam ${plan.lr} (cosine decay), seed ${seed}` +
    (step > 0 ? `; resumed from the checkpoint of step ${step}` : ''));
  const lossFn = (p: unknown, inputs: tf.Tensor, targets: tf.Tensor) => meanLoss(plan.model.apply({ params: p } as never, inputs) as tf.Tensor, targets);
  const resumedFrom = step;
  const stopAt = o.stopAfter === undefined ? plan.steps : Math.min(plan.steps, step + o.stopAfter);
  const bar = new ProgressBar({ label: plan.name.padEnd(11), total: Math.max(1, stopAt - step), batchSize, stream: o.stream, interactive: o.interactive });
  const started = performance.now();
  let windowSum = 0;
  let windowCount = 0;
  while (step < stopAt) {
    const { inputs, targets } = batchAt(data.train, step, seed, batchSize, seqLength);
    const [lossTensor, grads] = fx.valueAndGrad((p: unknown) => lossFn(p, inputs, targets))(params);
    const [updates, nextOpt] = tx.update(grads as never, opt, params);
    const nextParams = fx.optim.applyUpdates(params, updates);
    const loss = lossTensor.dataSync()[0]!;
    tf.dispose([inputs, targets, lossTensor]);
    fx.tree.dispose({ grads, updates, params, opt });
    params = nextParams;
    opt = nextOpt;
    step++;
    windowSum += loss;
    windowCount++;
    bar.update(step - resumedFrom, loss);
    if (step % o.saveEvery === 0 || step === stopAt) {
      await manager.save(step, { params, opt }, { metrics: { loss: windowSum / windowCount }, force: step === stopAt });
      windowSum = 0;
      windowCount = 0;
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const valNats = validationLoss(plan.model, params, data.valWindows);
  bar.finish(`validation ${valNats.toFixed(4)} nats = ${(valNats / Math.LN2).toFixed(4)} bits per character`);
  const trainCurve = (await manager.readMetrics()).flatMap((r) => (typeof r['loss'] === 'number' ? [[r.step, r['loss']] as const] : []));

  const sampleKey = fx.random.foldIn(fx.random.key(seed), 7);
  const sampleOpts = { key: sampleKey, temperature: o.temperature, context: seqLength, count: 4, length: 60 };
  const samples = sample(plan.model, params, sampleOpts);
  const again = sample(plan.model, params, sampleOpts);
  const other = sample(plan.model, params, { ...sampleOpts, key: fx.random.foldIn(fx.random.key(seed), 8) });
  const reproducible = samples.every((s, i) => s === again[i]);
  const keyMatters = samples.some((s, i) => s !== other[i]);
  fx.tree.dispose({ params, opt });
  return { name: plan.name, parameters, valNats, valBits: valNats / Math.LN2, steps: step, resumedFrom, seconds, trainCurve, samples, reproducible, keyMatters };
}

/** Escapes text for SVG. */
const xml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * The loss curves as an SVG picture (no dependency): each model's mean training loss per
 * checkpoint interval, its validation loss as a dot at its last step, and the two baselines as
 * dashed lines; the vertical axis is in bits per character.
 *
 * @example
 * ```ts
 * const result = await trainCharLM({ lstmSteps: 50, transformerSteps: 50, log: false });
 * fs.writeFileSync('loss.svg', lossCurveSvg(result));
 * ```
 */
export function lossCurveSvg(result: Pick<CharLMResult, 'unigramNats' | 'bigramNats' | 'models'>): string {
  const W = 640, H = 400, left = 60, right = 150, top = 30, bottom = 50;
  const bits = (nats: number) => nats / Math.LN2;
  const maxStep = Math.max(1, ...result.models.map((m) => m.steps));
  const ys = [bits(result.unigramNats), bits(result.bigramNats), ...result.models.flatMap((m) => [m.valBits, ...m.trainCurve.map(([, l]) => bits(l))])];
  const yMin = Math.floor(Math.min(...ys) * 2) / 2;
  const yMax = Math.ceil(Math.max(...ys) * 2) / 2;
  const x = (step: number) => left + ((W - left - right) * step) / maxStep;
  const y = (b: number) => top + ((H - top - bottom) * (yMax - b)) / (yMax - yMin || 1);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<text x="${left}" y="18" font-size="14">Character-level LM on word-list: loss per character</text>`);
  for (let b = yMin; b <= yMax + 1e-9; b += 0.5) {
    parts.push(`<line x1="${left}" x2="${W - right}" y1="${y(b).toFixed(1)}" y2="${y(b).toFixed(1)}" stroke="#eee"/>`);
    parts.push(`<text x="${left - 6}" y="${(y(b) + 4).toFixed(1)}" text-anchor="end">${b.toFixed(1)}</text>`);
  }
  for (let i = 0; i <= 4; i++) {
    const step = Math.round((maxStep * i) / 4);
    parts.push(`<text x="${x(step).toFixed(1)}" y="${H - bottom + 18}" text-anchor="middle">${step}</text>`);
  }
  parts.push(`<text x="${(left + W - right) / 2}" y="${H - 12}" text-anchor="middle">training step</text>`);
  parts.push(`<text transform="translate(16 ${(top + H - bottom) / 2}) rotate(-90)" text-anchor="middle">bits per character</text>`);
  parts.push(`<rect x="${left}" y="${top}" width="${W - left - right}" height="${H - top - bottom}" fill="none" stroke="#888"/>`);
  const legend = (row: number, color: string, label: string, dashed = false) => {
    const ly = top + 10 + 20 * row;
    parts.push(`<line x1="${W - right + 10}" x2="${W - right + 34}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"${dashed ? ' stroke-dasharray="5 4"' : ''}/>`);
    parts.push(`<text x="${W - right + 40}" y="${ly + 4}">${xml(label)}</text>`);
  };
  const baselines: Array<[string, number, string]> = [['unigram', result.unigramNats, '#999'], ['bigram', result.bigramNats, '#555']];
  baselines.forEach(([name, nats, color], i) => {
    parts.push(`<line x1="${left}" x2="${W - right}" y1="${y(bits(nats)).toFixed(1)}" y2="${y(bits(nats)).toFixed(1)}" stroke="${color}" stroke-width="1.5" stroke-dasharray="5 4"/>`);
    legend(i, color, `${name} ${bits(nats).toFixed(2)}`, true);
  });
  const colors = ['#1f77b4', '#d62728'];
  result.models.forEach((m, i) => {
    const color = colors[i % colors.length]!;
    const points = m.trainCurve.map(([s, l]) => `${x(s).toFixed(1)},${y(bits(l)).toFixed(1)}`).join(' ');
    if (points) parts.push(`<polyline points="${points}" fill="none" stroke="${color}" stroke-width="2"/>`);
    parts.push(`<circle cx="${x(m.steps).toFixed(1)}" cy="${y(m.valBits).toFixed(1)}" r="4" fill="${color}"/>`);
    legend(2 + i, color, `${m.name} val ${m.valBits.toFixed(2)}`);
  });
  parts.push(`<text x="${W - right + 10}" y="${top + 10 + 20 * 4 + 4}" fill="#555">lines: training</text>`);
  parts.push(`<text x="${W - right + 10}" y="${top + 10 + 20 * 5 + 4}" fill="#555">dots: validation</text>`);
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The default run: a few minutes on one core. */
export const DEFAULTS = {
  lstmSteps: 300, transformerSteps: 300, batchSize: 32, seqLength: 32, hidden: 64, width: 64, depth: 2,
  lr: 1e-2, seed: 0, valWords: 4000, temperature: 0.8, outDir: 'char-lm-output', saveEvery: 25,
} as const;

/**
 * Trains the LSTM and the Transformer, compares them with the baselines, samples from each,
 * and writes the loss curve to `<outDir>/loss.svg`.
 *
 * @example
 * ```ts
 * const result = await trainCharLM({ lstmSteps: 300, transformerSteps: 300, outDir: 'runs/a' });
 * result.models.every((m) => m.valNats < result.bigramNats); // true for the default run
 * ```
 */
export async function trainCharLM(opts: CharLMOptions = {}): Promise<CharLMResult> {
  const o = { ...DEFAULTS, ...definedOnly(opts) };
  const print: Printer = opts.log === false ? () => {} : typeof opts.log === 'function' ? opts.log : (line) => process.stdout.write(line + '\n');
  const stream: ProgressStream = opts.log === false ? { write: () => true } : typeof opts.log === 'function' ? { write: (s: string) => print(s.replace(/\n$/, '')) } : process.stdout;
  await fx.ready();
  const corpus = loadCorpus(o.seed, o.valWords);
  const valWindows = windows(corpus.val, o.seqLength);
  const valChars = valWindows.length * o.seqLength;
  const { unigram, bigram } = baselines(corpus.train, valWindows);
  print(`word-list: ${corpus.words.toLocaleString('en-US')} words; ${corpus.train.length.toLocaleString('en-US')} training characters, ` +
    `${valChars.toLocaleString('en-US')} validation characters (${o.valWords} held-out words); backend ${fx.backendInfo().name}`);
  const fmt = (nats: number) => `${nats.toFixed(4)} nats = ${(nats / Math.LN2).toFixed(4)} bits per character`;
  print(`baselines on the validation characters: unigram ${fmt(unigram)}, bigram ${fmt(bigram)}`);
  const plans: ModelPlan[] = [
    { name: 'LSTM', model: CharLSTM(o.hidden), steps: o.lstmSteps, lr: o.lr },
    { name: 'Transformer', model: CausalLM({ vocab: VOCAB, width: o.width, depth: o.depth, maxLength: o.seqLength, numHeads: 4 }), steps: o.transformerSteps, lr: o.lr },
  ];
  const models: ModelReport[] = [];
  for (const plan of plans) {
    const report = await trainModel(plan, { train: corpus.train, valWindows }, { ...o, stream, print, interactive: opts.interactive });
    models.push(report);
    print(`  beats the unigram baseline: ${report.valNats < unigram}; beats the bigram baseline: ${report.valNats < bigram}`);
    print(`  samples (temperature ${o.temperature}, key foldIn(key(${o.seed}), 7)): ${report.samples.map((s) => JSON.stringify(s.split('\n').filter(Boolean).slice(0, 4).join(' '))).join(', ')}`);
    print(`  the same key gives the same text: ${report.reproducible}; another key gives other text: ${report.keyMatters}`);
  }
  const result = { trainChars: corpus.train.length, valChars, unigramNats: unigram, bigramNats: bigram, models };
  const curvePath = path.join(o.outDir, 'loss.svg');
  fs.mkdirSync(o.outDir, { recursive: true });
  fs.writeFileSync(curvePath, lossCurveSvg(result));
  print(`loss curve: ${curvePath}`);
  // Every number at full precision, for scripts (and the spec, which compares runs bit for bit).
  fs.writeFileSync(path.join(o.outDir, 'result.json'), JSON.stringify({ ...result, curvePath }, null, 1) + '\n');
  return { ...result, curvePath };
}

/**
 * Parses `--lstm-steps 300 --out dir` style flags.
 *
 * @example
 * ```ts
 * parseFlags(['--lstm-steps', '100', '--out=runs/b']); // { lstmSteps: 100, outDir: 'runs/b' }
 * ```
 */
export function parseFlags(argv: readonly string[]): CharLMOptions {
  const names: Record<string, keyof typeof DEFAULTS | 'stopAfter'> = {
    '--lstm-steps': 'lstmSteps', '--transformer-steps': 'transformerSteps', '--batch-size': 'batchSize', '--seq-length': 'seqLength',
    '--hidden': 'hidden', '--width': 'width', '--depth': 'depth', '--lr': 'lr', '--seed': 'seed', '--val-words': 'valWords',
    '--temperature': 'temperature', '--out': 'outDir', '--save-every': 'saveEvery', '--stop-after': 'stopAfter',
  };
  const out: Record<string, number | string> = {};
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split('=', 2) as [string, string | undefined];
    const name = names[flag];
    if (!name) throw new Error(`unknown flag ${flag}; known: ${Object.keys(names).join(' ')}`);
    const raw = inline ?? argv[++i];
    if (raw === undefined) throw new Error(`${flag} needs a value`);
    if (name === 'outDir') out[name] = raw;
    else {
      const value = Number(raw);
      if (!Number.isFinite(value)) throw new Error(`${flag} needs a number, found ${raw}`);
      out[name] = value;
    }
  }
  return out as CharLMOptions;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await trainCharLM(parseFlags(process.argv.slice(2)));
  // A stopped run has not finished training: only a full run must beat the baselines.
  const flags = parseFlags(process.argv.slice(2));
  const ok = flags.stopAfter !== undefined || result.models.every((m) => m.valNats < result.bigramNats && m.valNats < result.unigramNats && m.reproducible);
  if (!ok) process.exitCode = 1;
}
