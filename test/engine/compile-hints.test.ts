// The eval-loop compilation hint (src/engine/compile-hints.ts): present for
// the shipped engine, and never a way to break a module it does not expect.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { withCompilationHints } from "../../src/engine/compile-hints.js";

const withEvalLoopHint = (bytes: Uint8Array<ArrayBuffer>) => withCompilationHints(bytes, { evalLoop: true, startup: [] });
import { ENGINE_DIR } from "../../src/shared/defaults.js";

const shipped = readFileSync(join(ENGINE_DIR, "python.wasm"));

/** The payload of the custom section `name`, if any. */
function customSection(bytes: Uint8Array, name: string): Uint8Array | null {
  let at = 8;
  const u32 = () => {
    let result = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = bytes[at++]!;
      result += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return result;
    }
  };
  while (at < bytes.length) {
    const id = bytes[at++];
    const size = u32();
    const end = at + size;
    if (id === 0) {
      const length = u32();
      if (Buffer.from(bytes.subarray(at, at + length)).toString("latin1") === name) return bytes.subarray(at + length, end);
    }
    at = end;
  }
  return null;
}

/** The hint bytes of a compilationHints payload (after its LEB128 count). */
function hintBytes(payload: Uint8Array): Uint8Array {
  let at = 0;
  while (payload[at]! & 0x80) at++;
  return payload.subarray(at + 1);
}

/** A module of `sizes.length` functions of type (i32, i32, i32) -> i32, function i padded with sizes[i] nops. */
function moduleWith(sizes: number[]): Uint8Array<ArrayBuffer> {
  const leb = (n: number): number[] => (n < 128 ? [n] : [(n % 128) | 0x80, ...leb(Math.floor(n / 128))]);
  const section = (id: number, body: number[]) => [id, ...leb(body.length), ...body];
  const bodies = sizes.map((nops) => {
    const code = [0x00, ...new Array<number>(nops).fill(0x01), 0x41, 0x00, 0x0b]; // no locals, nops, i32.const 0, end
    return [...leb(code.length), ...code];
  });
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, 0x60, 3, 0x7f, 0x7f, 0x7f, 1, 0x7f]),
    ...section(3, [...leb(sizes.length), ...sizes.map(() => 0)]),
    ...section(10, [...leb(sizes.length), ...bodies.flat()]),
  ]);
}

test("the shipped engine gets exactly one eager-optimized hint, and stays a valid module with the same interface", () => {
  const hinted = withEvalLoopHint(shipped);
  const section = customSection(hinted, "compilationHints");
  assert.ok(section, "no compilationHints section: the eval loop was not found in the shipped engine");
  const hints = hintBytes(section);
  assert.equal(hints.filter((b) => b !== 0).length, 1);
  assert.ok(hints.includes(0x2a));
  assert.ok(WebAssembly.validate(hinted));
  const [before, after] = [new WebAssembly.Module(shipped), new WebAssembly.Module(hinted)];
  assert.deepEqual(WebAssembly.Module.imports(after), WebAssembly.Module.imports(before));
  assert.deepEqual(WebAssembly.Module.exports(after), WebAssembly.Module.exports(before));
});

test("the hint goes to a function that stands out by size, not to the largest of look-alikes", () => {
  const standout = customSection(withEvalLoopHint(moduleWith([10, 300, 20])), "compilationHints");
  assert.deepEqual(standout && [...hintBytes(standout)], [0, 0x2a, 0]);
  const lookAlikes = moduleWith([200, 300, 250]);
  assert.equal(withEvalLoopHint(lookAlikes), lookAlikes);
});

test("a truncated or foreign module is returned unchanged, never an exception", () => {
  for (const bytes of [shipped.subarray(0, 30000), shipped.subarray(0, 12), new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 10, 0xff])]) {
    assert.equal(withEvalLoopHint(bytes), bytes);
  }
});

test("a module that already carries compilation hints keeps its own", () => {
  const once = withEvalLoopHint(moduleWith([10, 300, 20]));
  assert.equal(withEvalLoopHint(once), once);
});

test("startup functions get eager-baseline hints, the eval loop keeps its own, and an index past the module is ignored", () => {
  const section = customSection(withCompilationHints(moduleWith([10, 300, 20, 5]), { evalLoop: true, startup: [0, 1, 3, 99] }), "compilationHints");
  assert.deepEqual(section && [...hintBytes(section)], [0x06, 0x2a, 0, 0x06]);
  const startupOnly = customSection(withCompilationHints(moduleWith([10, 300, 20, 5]), { evalLoop: false, startup: [2] }), "compilationHints");
  assert.deepEqual(startupOnly && [...hintBytes(startupOnly)], [0, 0, 0x06, 0]);
});
