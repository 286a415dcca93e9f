// The reading process of spec/checkpoint/devices.spec.ts: it calls one checkpoint reader
// (`load`, `loadInfo` or `loadTensors`) on one path and prints the outcome as one JSON line:
// { ok } or { error: class name, message }. The parent runs it with a time and memory limit,
// so a reader that reads without end or blocks cannot take the machine or the suite down.
import * as fx from '../../lib/index.js';

const [fn, file] = process.argv.slice(2) as ['load' | 'loadInfo' | 'loadTensors', string];
try {
  const result = await fx.checkpoint[fn](file);
  process.stdout.write(JSON.stringify({ ok: true, result: typeof result }) + '\n');
} catch (error) {
  process.stdout.write(JSON.stringify({ error: (error as Error).constructor.name, message: (error as Error).message }) + '\n');
}
