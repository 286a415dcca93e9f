/**
 * A seam for instrumenting flaxen's own WebAssembly kernels without the kernels knowing: the
 * benchmark's profile installs a wrapper that times every call (tfjs's profiler cannot see these
 * kernels). The product installs none, so its kernels are the bare exports.
 *
 * @module
 */

/** @internal Wraps one exported kernel function; `name` is its export name. */
export type KernelWrapper = (name: string, fn: (...args: number[]) => unknown) => (...args: number[]) => unknown;

let wrapper: KernelWrapper | undefined;
let generation = 0;

/**
 * @internal
 * Installs `wrap` around the kernels instantiated from now on (undefined removes it). The kernel
 * caches see the new generation and instantiate afresh on their next use.
 */
export function wrapOwnKernels(wrap: KernelWrapper | undefined): void {
  wrapper = wrap;
  generation++;
}

/** @internal Changes with every {@link wrapOwnKernels} call: a cached instance of another generation is stale. */
export function kernelGeneration(): number {
  return generation;
}

/** @internal The exports of a kernel instance, each function wrapped when a wrapper is installed. */
export function instrumented<T extends object>(exports: T): T {
  if (!wrapper) return exports;
  const wrap = wrapper;
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(exports)) out[name] = typeof value === 'function' ? wrap(name, value as (...args: number[]) => unknown) : value;
  return out as T;
}
