// The committed engine artifacts are exactly what the manifest says.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ENGINE_DIR } from "../../src/shared/defaults.js";

const manifest = JSON.parse(readFileSync(join(ENGINE_DIR, "manifest.json"), "utf8")) as {
  cpython: { version: string; sourceSha256: string };
  artifacts: Record<string, { sha256: string; size: number }>;
};

for (const [name, expected] of Object.entries(manifest.artifacts)) {
  test(`${name} matches its sha256 and size in the manifest`, () => {
    const bytes = readFileSync(join(ENGINE_DIR, name));
    assert.equal(bytes.length, expected.size);
    assert.equal(createHash("sha256").update(bytes).digest("hex"), expected.sha256);
  });
}

test("the manifest records CPython 3.13.5 from the checked Debian source", () => {
  assert.equal(manifest.cpython.version, "3.13.5");
  assert.equal(manifest.cpython.sourceSha256, "93e583f243454e6e9e4588ca2c2662206ad961659863277afcdb96801647d640");
  assert.deepEqual(Object.keys(manifest.artifacts).sort(), ["python.wasm", "stdlib.img"]);
});

test("python.wasm is a reactor with pyvisor's exports and imports only WASI, the tick hook and its memory", () => {
  const module = new WebAssembly.Module(readFileSync(join(ENGINE_DIR, "python.wasm")));
  const exports = WebAssembly.Module.exports(module).map((e) => e.name).sort();
  assert.deepEqual(exports, ["_initialize", "pyvisor_init", "pyvisor_run", "pyvisor_set_tick_interval"]);
  const modules = new Set(WebAssembly.Module.imports(module).map((i) => i.module));
  assert.deepEqual([...modules].sort(), ["env", "pyvisor", "wasi_snapshot_preview1"]);
});

test("the startup profile was recorded for the committed python.wasm (npm run engine:startup-profile after an engine build)", () => {
  const profile = JSON.parse(readFileSync(join(ENGINE_DIR, "startup.json"), "utf8")) as { pythonWasmSha256: string; functions: number[] };
  assert.equal(profile.pythonWasmSha256, manifest.artifacts["python.wasm"]!.sha256);
  assert.ok(profile.functions.length > 100, `only ${profile.functions.length} functions`);
  assert.ok(profile.functions.every((index, i) => Number.isSafeInteger(index) && index >= 0 && (i === 0 || index > profile.functions[i - 1]!)));
});
