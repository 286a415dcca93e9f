// tfjs-core's Node entry registers no gradients, and its per-op gradient files are ES modules
// whose imports lack file extensions, so Node cannot load them directly. We bundle them once at
// build time. The copy of tfjs-core internals inside the bundle talks to the same engine and the
// same gradient registry as the user's tfjs-core, because tfjs keeps both on the global object.
import { build } from 'esbuild';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const coreDist = dirname(require.resolve('@tensorflow/tfjs-core/package.json')) + '/dist';
mkdirSync('dist/lib/autodiff', { recursive: true });
await build({
  entryPoints: [join(coreDist, 'register_all_gradients.js')],
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  outfile: 'dist/lib/autodiff/register-gradients.js',
  logLevel: 'warning',
  minify: false,
  legalComments: 'inline',
});
