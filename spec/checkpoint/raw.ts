// A safetensors writer for the specs, independent of lib/checkpoint: it lays out exactly the
// bytes it is given, so tests can build valid files of any dtype and hostile ones alike.

/** Little-endian bytes of numbers in the given element type. */
export function le(type: 'f32' | 'f64' | 'i32' | 'u16' | 'u8' | 'i64', values: ReadonlyArray<number | bigint>): Uint8Array {
  const size = { f32: 4, f64: 8, i32: 4, u16: 2, u8: 1, i64: 8 }[type];
  const out = new Uint8Array(values.length * size);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => {
    if (type === 'f32') view.setFloat32(i * 4, Number(v), true);
    else if (type === 'f64') view.setFloat64(i * 8, Number(v), true);
    else if (type === 'i32') view.setInt32(i * 4, Number(v), true);
    else if (type === 'u16') view.setUint16(i * 2, Number(v), true);
    else if (type === 'u8') view.setUint8(i, Number(v));
    else view.setBigInt64(i * 8, BigInt(v), true);
  });
  return out;
}

/** Concatenates byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** A file from a header (object or raw JSON text) and a data section; `headerLength` overrides the length field. */
export function rawFile(header: unknown, data: Uint8Array = new Uint8Array(0), headerLength?: bigint): Uint8Array {
  const text = typeof header === 'string' ? header : JSON.stringify(header);
  const json = new TextEncoder().encode(text);
  const prefix = new Uint8Array(8);
  new DataView(prefix.buffer).setBigUint64(0, headerLength ?? BigInt(json.length), true);
  return concat(prefix, json, data);
}

export interface RawTensor {
  dtype: string;
  shape: number[];
  data: Uint8Array;
}

/** A valid file from tensors laid out in the given order, with optional metadata. */
export function fileOf(tensors: Record<string, RawTensor>, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header['__metadata__'] = metadata;
  let offset = 0;
  const parts: Uint8Array[] = [];
  for (const [key, t] of Object.entries(tensors)) {
    header[key] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length] };
    offset += t.data.length;
    parts.push(t.data);
  }
  return rawFile(header, concat(...parts));
}

/** Reads the JSON header of a file (independently of the library). */
export function headerOf(bytes: Uint8Array): { header: Record<string, any>; length: number } {
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return { header: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length))), length };
}

/** The own property names of Object.prototype, to check that nothing was added. */
export function prototypeSnapshot(): string {
  return JSON.stringify([Object.getOwnPropertyNames(Object.prototype).sort(), Object.getOwnPropertySymbols(Object.prototype).length, Object.getPrototypeOf(Object.prototype)]);
}
