// Loads the engine (python.wasm, the stdlib image and the guest module) once
// per process, and makes interpreters: an instance with its own memory, capped
// at the sandbox's memory limit, either initialized from scratch or restored
// from a snapshot of an initialized one.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { loadImage, overlayDir } from "../vfs/image.js";
import type { MemDir } from "../vfs/memory.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
export const ENGINE_DIR = join(ROOT, "engine", "dist");
export const GUEST_DIR = join(ROOT, "guest");
export const WASM_PAGE_BYTES = 65536;
/** The engine's own initial memory (link-time): a limit below this cannot start. */
export const ENGINE_INITIAL_BYTES = 20 * 1024 * 1024;

export interface Engine {
  module: WebAssembly.Module;
  stdlib: MemDir;
}

let engine: Engine | null = null;

function guestFiles(): Record<string, Uint8Array> {
  const files: Record<string, Uint8Array> = {};
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const full = join(dir, name);
      if (name === "tests" || name === "__pycache__") continue;
      if (statSync(full).isDirectory()) walk(full);
      else if (name.endsWith(".py")) files[relative(GUEST_DIR, full)] = readFileSync(full);
    }
  };
  walk(GUEST_DIR);
  return files;
}

export function loadEngine(): Engine {
  if (engine === null) {
    const module = new WebAssembly.Module(readFileSync(join(ENGINE_DIR, "python.wasm")));
    const stdlib = overlayDir(loadImage(join(ENGINE_DIR, "stdlib.img")), guestFiles());
    engine = { module, stdlib };
  }
  return engine;
}

interface Exports {
  _initialize(): void;
  pyvisor_init(): number;
  pyvisor_run(): number;
  pyvisor_set_tick_interval(interval: number): void;
}

export class Interpreter {
  readonly memory: WebAssembly.Memory;
  private readonly exports: Exports;

  private constructor(module: WebAssembly.Module, imports: WebAssembly.Imports, memoryLimitBytes: number, snapshot: Uint8Array | null) {
    const maximum = Math.floor(memoryLimitBytes / WASM_PAGE_BYTES);
    const initialBytes = Math.max(ENGINE_INITIAL_BYTES, snapshot?.length ?? 0);
    this.memory = new WebAssembly.Memory({ initial: Math.ceil(initialBytes / WASM_PAGE_BYTES), maximum });
    const instance = new WebAssembly.Instance(module, { ...imports, env: { memory: this.memory } });
    this.exports = instance.exports as unknown as Exports;
    if (snapshot !== null) new Uint8Array(this.memory.buffer).set(snapshot);
  }

  /** A fresh interpreter: runs CPython's start-up. Returns the init status (0 = ready). */
  static boot(module: WebAssembly.Module, imports: WebAssembly.Imports, memoryLimitBytes: number, attach: (memory: WebAssembly.Memory) => void): { interpreter: Interpreter; status: number } {
    const interpreter = new Interpreter(module, imports, memoryLimitBytes, null);
    attach(interpreter.memory);
    interpreter.exports._initialize();
    return { interpreter, status: interpreter.exports.pyvisor_init() };
  }

  /** An interpreter restored from a snapshot of an initialized one (no start-up cost). */
  static restore(module: WebAssembly.Module, imports: WebAssembly.Imports, memoryLimitBytes: number, snapshot: Uint8Array, attach: (memory: WebAssembly.Memory) => void): Interpreter {
    const interpreter = new Interpreter(module, imports, memoryLimitBytes, snapshot);
    attach(interpreter.memory);
    return interpreter;
  }

  snapshot(): Uint8Array {
    return new Uint8Array(this.memory.buffer).slice();
  }

  run(): number {
    return this.exports.pyvisor_run();
  }

  setTickInterval(interval: number): void {
    this.exports.pyvisor_set_tick_interval(interval);
  }
}
