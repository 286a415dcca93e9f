/**
 * How `Sequential` asks the layer before a `relu` to apply it itself (see `ops/fused-relu.ts`).
 * The request is a flag set just before the layer runs; a layer that can fuse takes it as the
 * first thing its body does. A layer that does not take it leaves it set, and `Sequential` then
 * applies the relu itself: a custom module can never lose the relu.
 *
 * @module
 */

let requested = false;

/**
 * @internal
 * Runs `layer` with a fused relu requested; `fused` says whether the layer took the request
 * (if not, the caller applies the relu).
 */
export function runWithReluRequest<T>(layer: () => T): { readonly output: T; readonly fused: boolean } {
  requested = true;
  try {
    const output = layer();
    return { output, fused: !requested };
  } finally {
    requested = false;
  }
}

/** @internal Called first by a fusing layer's body: true when a relu was requested (and takes the request). */
export function takeReluRequest(): boolean {
  const asked = requested;
  requested = false;
  return asked;
}
