// The live round trip: flaxen's exports (toTorch + saveTensors) load into the PyTorch twins with
// load_state_dict(strict=True), in a child Python process (spec/fixtures/torch_twins.py check),
// and give flaxen's outputs. Needs Debian's python3-torch; without it the spec says so loudly
// and skips (the committed fixtures in torch.spec.ts still check the other direction).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as fx from '../../lib/index.js';
import { assertClose } from '../setup.js';
import { pythonWith } from './python.js';
import { TWINS } from './twins.js';

const SCRIPT = fileURLToPath(new URL('../../../spec/fixtures/torch_twins.py', import.meta.url));

test('flaxen exports load into PyTorch with strict=True and give the same outputs', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'flaxen-torch-live-'));
  const expected = new Map<string, tf.Tensor>();
  try {
    for (const [name, twin] of Object.entries(TWINS)) {
      let variables = twin.model.init(fx.random.key(7), twin.initShape) as fx.Variables;
      const batch = [3, ...twin.initShape.slice(1)];
      const input = twin.intInput ? tf.tidy(() => tf.cast(tf.floor(tf.mul(fx.random.uniform(fx.random.key(8), batch), 20)), 'int32')) : fx.random.normal(fx.random.key(8), batch);
      if (name === 'cnn') {
        // Non-trivial running statistics: two training steps' worth of batch statistics.
        for (let step = 0; step < 2; step++) {
          const x = tf.tidy(() => tf.add(tf.mul(fx.random.normal(fx.random.key(20 + step), [4, 8, 8, 3]), 2), 0.5));
          const [y, updated] = twin.model.apply(variables, x, { train: true, mutable: ['batch_stats'] }) as [tf.Tensor, fx.Variables];
          const old = variables['batch_stats'];
          variables = { ...variables, batch_stats: updated['batch_stats'] };
          fx.tree.dispose(old);
          y.dispose();
          x.dispose();
        }
      }
      expected.set(name, twin.model.apply(variables, input) as tf.Tensor);
      const exported = fx.interop.toTorch(variables, twin.opts);
      await fx.checkpoint.saveTensors(join(dir, `${name}.safetensors`), exported);
      await fx.checkpoint.saveTensors(join(dir, `${name}.io.safetensors`), { input });
      for (const t of [input, ...Object.values(exported), ...fx.tree.leaves(variables)]) t.dispose();
    }
    const run = pythonWith('torch').run([SCRIPT, 'check', dir], { timeout: 300_000 });
    if (!run) return;
    assert.is(run.status, 0, `python failed: ${run.stderr}`);
    for (const [name, want] of expected) {
      const out = await fx.checkpoint.loadTensors(join(dir, `${name}.out.safetensors`));
      const got = out['output']!;
      assert.equal(got.shape, want.shape, name);
      assertClose(got.dataSync(), want.dataSync(), 1e-5, 1e-5, name);
      got.dispose();
    }
  } finally {
    for (const t of expected.values()) t.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
