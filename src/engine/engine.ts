// Loads the engine (python.wasm, the stdlib image and the guest module) once
// per process, and makes interpreters: an instance with its own memory, capped
// at the sandbox's memory limit, either initialized from scratch or restored
// from a snapshot of an initialized one.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { enableCompilationHints, withCompilationHints } from "./compile-hints.js";
import { ENGINE_INITIAL_BYTES, engineDir, PACKAGE_ROOT, type EngineName } from "../shared/defaults.js";

export const GUEST_DIR = join(PACKAGE_ROOT, "guest");
export const WASM_PAGE_BYTES = 65536;
export interface Engine {
  module: WebAssembly.Module;
  /** The stdlib image (vfs/image.ts reads it). */
  image: Uint8Array;
  /** pyvisor's guest modules (guest/), laid over the image: path below the stdlib -> contents. */
  guest: Record<string, Uint8Array>;
  /** Identifies this engine (artifacts and guest module) for snapshot caches. */
  key: string;
}

let engine: Engine | null = null;
/** Which engine this worker runs (one per worker: its pool's). */
let selected: EngineName = "default";

/** Chooses this worker's engine; called once, before the first loadEngine. */
export function selectEngine(name: EngineName): void {
  if (engine !== null && name !== selected) throw new Error(`engine "${selected}" is already loaded`);
  selected = name;
}

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

/** The engine's files besides python.wasm, and its key. */
type EngineFiles = Omit<Engine, "module">;

function engineFiles(): EngineFiles {
  const guest = guestFiles();
  const dir = engineDir(selected);
  const image = readFileSync(join(dir, "stdlib.img"));
  const hash = createHash("sha256").update(readFileSync(join(dir, "manifest.json")));
  for (const [name, contents] of Object.entries(guest).sort(([a], [b]) => (a < b ? -1 : 1))) hash.update(name).update(contents);
  return { image, guest, key: hash.digest("hex").slice(0, 32) };
}

/**
 * How the engine compiles for a cold start, one that restores its
 * interpreters from the disk cache and so has run no Python before the
 * user's program (compile-hints.ts): `evalLoop`, the eval loop with TurboFan
 * up front (for a program: it runs at full speed from its first line);
 * `startup`, the functions a first run calls with Liftoff up front (on V8's
 * background threads) instead of one by one as the run first calls them. An
 * engine that boots CPython itself has both done by CPython's start-up.
 */
export interface ColdStart {
  evalLoop: boolean;
  startup: boolean;
}

function engineBytes(cold: ColdStart | null): Uint8Array<ArrayBuffer> {
  const dir = engineDir(selected);
  const bytes: Uint8Array<ArrayBuffer> = readFileSync(join(dir, "python.wasm"));
  if (cold === null || (!cold.evalLoop && !cold.startup)) return bytes;
  enableCompilationHints();
  return withCompilationHints(bytes, { evalLoop: cold.evalLoop, startup: cold.startup ? startupFunctions(dir) : [] });
}

/**
 * The functions (declared indexes) that engine/dist/startup.json lists for
 * this python.wasm (scripts/startup-profile.mjs records them); none when the
 * file is missing or was recorded for another build.
 */
function startupFunctions(dir: string): number[] {
  try {
    const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as { artifacts?: { "python.wasm"?: { sha256?: unknown } } };
    const profile = JSON.parse(readFileSync(join(dir, "startup.json"), "utf8")) as { pythonWasmSha256?: unknown; functions?: unknown };
    const sha = manifest.artifacts?.["python.wasm"]?.sha256;
    if (typeof sha !== "string" || profile.pythonWasmSha256 !== sha || !Array.isArray(profile.functions)) return [];
    return profile.functions.filter((index): index is number => Number.isSafeInteger(index) && index >= 0);
  } catch {
    return [];
  }
}

/** The engine of this process, loaded (compiled) by the first call; `cold` (first call only): see ColdStart. */
export function loadEngine(cold: ColdStart | null = null): Engine {
  engine ??= { module: new WebAssembly.Module(engineBytes(cold)), ...engineFiles() };
  return engine;
}

/**
 * loadEngine for a cold start on one thread: the module is validated and
 * compiled by V8's background threads while this thread reads the other
 * files and does `meanwhile` with them (e.g. reading a cached snapshot).
 */
export async function loadEngineAsync(cold: ColdStart | null, meanwhile: (files: EngineFiles) => void): Promise<Engine> {
  if (engine !== null) return engine;
  const compiling = WebAssembly.compile(engineBytes(cold));
  // A failure of `meanwhile` leaves the compile to settle unobserved: the caller loads again.
  compiling.catch(() => undefined);
  const files = engineFiles();
  meanwhile(files);
  const module = await compiling;
  engine ??= { module, ...files };
  return engine;
}

/**
 * Makes `loaded` (posted by the thread that loaded it) this thread's engine,
 * unless one is loaded already: a compiled Module is shared between threads,
 * so a helper thread starts without compiling python.wasm again.
 */
export function adoptEngine(loaded: Engine): void {
  engine ??= loaded;
}

interface Exports {
  _initialize(): void;
  pyvisor_init(): number;
  pyvisor_run(): number;
  pyvisor_set_tick_interval(interval: number): void;
}

type ImportFunction = (...args: Array<number | bigint>) => number;
type ImportTable = Record<string, Record<string, ImportFunction>>;

/**
 * The instance's imports, bound late: an interpreter can be restored ahead of
 * demand (before its sandbox, and so its kernel, exists) and bound when a
 * sandbox takes it. Until then every import fails with ENOSYS-like 52.
 */
class ImportSlot {
  private readonly names: Array<[string, string]>;
  /** The bound kernel's functions, in the order of `names`; looked up once per bind, not per call. */
  private targets: ImportFunction[];

  constructor(module: WebAssembly.Module) {
    this.names = WebAssembly.Module.imports(module).filter((i) => i.kind === "function").map((i) => [i.module, i.name]);
    this.targets = this.names.map(() => UNBOUND);
  }

  imports(memory: WebAssembly.Memory): WebAssembly.Imports {
    const table: Record<string, Record<string, ImportFunction>> = {};
    this.names.forEach(([module, name], index) => {
      (table[module] ??= {})[name] = (...args) => this.targets[index]!(...args);
    });
    return { ...table, env: { memory } };
  }

  bind(imports: WebAssembly.Imports): void {
    const table = imports as unknown as ImportTable;
    this.targets = this.names.map(([module, name]) => table[module]?.[name] ?? UNBOUND);
  }
}

/** An import with no kernel behind it answers ENOSYS. */
const UNBOUND: ImportFunction = () => 52;

/**
 * An initialized interpreter's memory, kept sparse: only the pages that differ
 * from a zero-filled memory (or that instantiation's data segments write) are
 * copied into a new instance, so a restore touches ~7 MiB, not 20.
 */
export interface Snapshot {
  byteLength: number;
  runs: Array<{ offset: number; bytes: Uint8Array }>;
}

function nonZeroPages(bytes: Uint8Array): Set<number> {
  const pages = new Set<number>();
  const words = new BigUint64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 8);
  const perPage = WASM_PAGE_BYTES / 8;
  for (let page = 0; page < bytes.byteLength / WASM_PAGE_BYTES; page++) {
    for (let i = page * perPage; i < (page + 1) * perPage; i++) {
      if (words[i] !== 0n) {
        pages.add(page);
        break;
      }
    }
  }
  return pages;
}

export class Interpreter {
  readonly memory: WebAssembly.Memory;
  private readonly exports: Exports;
  private readonly slot: ImportSlot;
  /** Pages instantiation itself wrote (data segments): a snapshot must cover them. */
  private readonly instantiationPages: Set<number>;

  private constructor(module: WebAssembly.Module, memoryLimitBytes: number, initialBytes: number) {
    const maximum = Math.floor(memoryLimitBytes / WASM_PAGE_BYTES);
    this.memory = new WebAssembly.Memory({ initial: Math.ceil(Math.max(ENGINE_INITIAL_BYTES, initialBytes) / WASM_PAGE_BYTES), maximum });
    this.slot = new ImportSlot(module);
    const instance = new WebAssembly.Instance(module, this.slot.imports(this.memory));
    this.exports = instance.exports as unknown as Exports;
    this.instantiationPages = initialBytes === 0 ? nonZeroPages(new Uint8Array(this.memory.buffer)) : new Set();
  }

  /** A fresh interpreter: runs CPython's start-up. Returns the init status (0 = ready). */
  static boot(module: WebAssembly.Module, imports: WebAssembly.Imports, memoryLimitBytes: number, attach: (memory: WebAssembly.Memory) => void): { interpreter: Interpreter; status: number } {
    const interpreter = new Interpreter(module, memoryLimitBytes, 0);
    interpreter.bind(imports, attach);
    interpreter.exports._initialize();
    return { interpreter, status: interpreter.exports.pyvisor_init() };
  }

  /** An interpreter restored from a snapshot, not yet bound to a kernel (see `bind`). */
  static restore(module: WebAssembly.Module, memoryLimitBytes: number, snapshot: Snapshot): Interpreter {
    const interpreter = new Interpreter(module, memoryLimitBytes, snapshot.byteLength);
    const memory = new Uint8Array(interpreter.memory.buffer);
    for (const run of snapshot.runs) memory.set(run.bytes, run.offset);
    return interpreter;
  }

  /**
   * Puts this interpreter back into the snapshot's exact state, for the next
   * sandbox: every page that differs from the snapshot (or from zero, outside
   * it) is rewritten, so no byte of the previous tenant survives. Only valid
   * when the last call returned normally (the wasm stack is empty); false when
   * the memory has grown (a fresh instance is needed then).
   */
  resetTo(snapshot: Snapshot): boolean {
    if (this.memory.buffer.byteLength !== snapshot.byteLength) return false;
    this.slot.bind({});
    const memory = Buffer.from(this.memory.buffer);
    const zeroPage = Buffer.alloc(WASM_PAGE_BYTES);
    let position = 0;
    const resetZeros = (end: number) => {
      for (; position < end; position += WASM_PAGE_BYTES) {
        const page = memory.subarray(position, position + WASM_PAGE_BYTES);
        if (!page.equals(zeroPage)) page.fill(0);
      }
    };
    for (const run of snapshot.runs) {
      resetZeros(run.offset);
      for (let offset = 0; offset < run.bytes.length; offset += WASM_PAGE_BYTES) {
        const expected = run.bytes.subarray(offset, offset + WASM_PAGE_BYTES);
        const page = memory.subarray(run.offset + offset, run.offset + offset + WASM_PAGE_BYTES);
        if (!page.equals(expected)) page.set(expected);
      }
      position = run.offset + run.bytes.length;
    }
    resetZeros(snapshot.byteLength);
    return true;
  }

  /** Connects the interpreter to its sandbox's kernel. */
  bind(imports: WebAssembly.Imports, attach: (memory: WebAssembly.Memory) => void): void {
    this.slot.bind(imports);
    attach(this.memory);
  }

  /** The current memory as a sparse snapshot (call between runs, when nothing is on the wasm stack). */
  snapshot(): Snapshot {
    const bytes = new Uint8Array(this.memory.buffer);
    const pages = nonZeroPages(bytes);
    for (const page of this.instantiationPages) pages.add(page);
    const ranges: Array<[number, number]> = []; // [first page, end page)
    for (const page of [...pages].sort((a, b) => a - b)) {
      const last = ranges[ranges.length - 1];
      if (last !== undefined && last[1] === page) last[1] = page + 1;
      else ranges.push([page, page + 1]);
    }
    const runs = ranges.map(([first, end]) => ({
      offset: first * WASM_PAGE_BYTES,
      bytes: bytes.slice(first * WASM_PAGE_BYTES, end * WASM_PAGE_BYTES),
    }));
    return { byteLength: bytes.byteLength, runs };
  }

  run(): number {
    return this.exports.pyvisor_run();
  }

  setTickInterval(interval: number): void {
    this.exports.pyvisor_set_tick_interval(interval);
  }
}
