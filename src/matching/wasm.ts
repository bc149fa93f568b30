// This project's lib (ES2023 + node) has no WebAssembly types, and a global declaration could
// clash with another one in the same program, so the little the matcher uses is typed here.

/** A WebAssembly memory; the matcher only creates shared ones, whose buffer is a SharedArrayBuffer. */
export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  grow(deltaPages: number): number;
}

/** A compiled module, instantiable many times. */
export interface WasmModule {
  readonly __brand?: 'WasmModule';
}

export interface WasmInstance {
  readonly exports: Record<string, unknown>;
}

interface WasmApi {
  Memory: new (descriptor: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: Record<string, Record<string, unknown>>) => WasmInstance;
  validate(bytes: Uint8Array): boolean;
}

/** The global WebAssembly object, typed for the matcher's use. */
export const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** Bytes per WebAssembly page. */
export const WASM_PAGE = 65536;
