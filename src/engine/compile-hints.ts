// Asks V8 to compile CPython's eval loop with its optimizing compiler when the
// module is compiled, instead of first with its baseline compiler (Liftoff);
// and the functions a cold start's first run calls (its startup profile) with
// Liftoff at once, on V8's background threads, rather than each on the run's
// own thread when first called (V8 compiles wasm lazily): a cold CLI's
// `print(1)` calls ~700 of python.wasm's ~6000 functions.
//
// Why: a restored interpreter (the CLI's on-disk snapshot) enters the eval
// loop for the first time with the user's program, and a whole program of
// Python-to-Python calls is one call of the eval loop. V8 tiers a wasm
// function up for its *next* call only (no on-stack replacement), so that
// program ran to the end in Liftoff code, 2-5x slower than a warm host. The
// tier-up of the eval loop happens in every cold start anyway (CPython's
// start-up code is enough to trigger it): compiling it first costs no more CPU
// in total (bench/README.md, "cli").
//
// How: V8's compilation hints, a custom section "compilationHints" placed
// between the function and the code sections, one byte per declared function
// (bits 0-1 strategy, 2-3 baseline tier, 4-5 top tier), read only with
// --experimental-wasm-compilation-hints (V8 11.3 and 13.6 alike). The
// artifact carries no names, so the eval loop is found by its shape:
// _PyEval_EvalFrameDefault(tstate, frame, throwflag) is by far the largest
// function of type (i32, i32, i32) -> i32.
import { setFlagsFromString } from "node:v8";

/** Strategy eager (2), baseline tier optimized (2 << 2), top tier optimized (2 << 4). */
const EAGER_OPTIMIZED = 0x2a;
/** Strategy eager (2), baseline tier Liftoff (1 << 2), top tier as V8 decides (0): tiered up like any other function. */
const EAGER_BASELINE = 0x06;
/** The eval loop must be this many times larger than any other function of its type, or no hint is given. */
const OUTLIER_FACTOR = 2;
const I32 = 0x7f;
const SECTION = { custom: 0, type: 1, function: 3, code: 10 } as const;

class Reader {
  constructor(readonly bytes: Uint8Array, public at: number) {}
  u32(): number {
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const byte = this.bytes[this.at++];
      if (byte === undefined) throw new RangeError("truncated");
      result += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return result;
    }
    throw new RangeError("bad LEB128");
  }
}

function leb(value: number): number[] {
  const out: number[] = [];
  do {
    const low = value % 128;
    value = Math.floor(value / 128);
    out.push(value > 0 ? low | 0x80 : low);
  } while (value > 0);
  return out;
}

interface Section { id: number; header: number; start: number; end: number }

function sections(bytes: Uint8Array): Section[] {
  const out: Section[] = [];
  const r = new Reader(bytes, 8);
  while (r.at < bytes.length) {
    const header = r.at;
    const id = bytes[r.at++]!;
    const size = r.u32();
    out.push({ id, header, start: r.at, end: r.at + size });
    r.at += size;
  }
  return out;
}

/** Indexes of the types (i32, i32, i32) -> i32; null if the type section holds anything but plain function types. */
function evalLoopTypes(bytes: Uint8Array, section: Section): Set<number> | null {
  const r = new Reader(bytes, section.start);
  const found = new Set<number>();
  const count = r.u32();
  for (let i = 0; i < count; i++) {
    if (bytes[r.at++] !== 0x60) return null;
    const params = r.u32();
    const paramBytes = bytes.subarray(r.at, r.at + params);
    r.at += params;
    const results = r.u32();
    const resultBytes = bytes.subarray(r.at, r.at + results);
    r.at += results;
    if (params === 3 && paramBytes.every((b) => b === I32) && results === 1 && resultBytes[0] === I32) found.add(i);
  }
  return found;
}

/** The declared index of the eval loop, or null if no function stands out. */
function findEvalLoop(bytes: Uint8Array, all: Section[]): { index: number; declared: number } | null {
  const byId = (id: number) => all.find((s) => s.id === id);
  const [types, functions, code] = [byId(SECTION.type), byId(SECTION.function), byId(SECTION.code)];
  if (!types || !functions || !code) return null;
  const wanted = evalLoopTypes(bytes, types);
  if (wanted === null) return null;
  const f = new Reader(bytes, functions.start);
  const declared = f.u32();
  const c = new Reader(bytes, code.start);
  if (c.u32() !== declared) return null;
  let best = { index: -1, size: 0 };
  let second = 0;
  for (let i = 0; i < declared; i++) {
    const type = f.u32();
    const size = c.u32();
    c.at += size;
    if (!wanted.has(type)) continue;
    if (size > best.size) [second, best] = [best.size, { index: i, size }];
    else second = Math.max(second, size);
  }
  return best.index >= 0 && best.size >= OUTLIER_FACTOR * second ? { index: best.index, declared } : null;
}

/**
 * `bytes` with a compilationHints section that has V8 compile up front the
 * eval loop with TurboFan (`evalLoop`) and the `startup` functions (declared
 * indexes) with Liftoff; `bytes` unchanged if the module is not shaped as
 * expected (the hints are an optimization, never a condition).
 */
export function withCompilationHints(bytes: Uint8Array<ArrayBuffer>, wanted: { evalLoop: boolean; startup: number[] }): Uint8Array<ArrayBuffer> {
  try {
    const all = sections(bytes);
    const code = all.find((s) => s.id === SECTION.code);
    const target = findEvalLoop(bytes, all);
    if (!code || target === null || all.some((s) => s.id === SECTION.custom && s.start < code.header && customName(bytes, s) === "compilationHints")) return bytes;
    const name = Buffer.from("compilationHints");
    const hints = new Uint8Array(target.declared);
    for (const index of wanted.startup) if (index < hints.length) hints[index] = EAGER_BASELINE;
    if (wanted.evalLoop) hints[target.index] = EAGER_OPTIMIZED;
    const payload = Buffer.concat([Buffer.from(leb(name.length)), name, Buffer.from(leb(target.declared)), hints]);
    return Buffer.concat([bytes.subarray(0, code.header), Buffer.from([SECTION.custom, ...leb(payload.length)]), payload, bytes.subarray(code.header)]);
  } catch {
    return bytes;
  }
}

function customName(bytes: Uint8Array, section: Section): string {
  const r = new Reader(bytes, section.start);
  const length = r.u32();
  return Buffer.from(bytes.subarray(r.at, r.at + length)).toString("latin1");
}

let flagSet = false;
/**
 * Turns on V8's reading of compilation hints, for every module compiled in
 * this process from now on. Only a module that carries the section is
 * affected, and the hints change when a function is compiled, never what it
 * computes.
 */
export function enableCompilationHints(): void {
  if (flagSet) return;
  setFlagsFromString("--experimental-wasm-compilation-hints");
  flagSet = true;
}
