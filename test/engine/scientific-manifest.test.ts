// The committed scientific engine (engine/variants/scientific) is exactly what
// its manifest says, and the same kind of reactor as the default engine.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { engineDir } from "../../src/shared/defaults.js";

const dir = engineDir("scientific");
const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as {
  cpython: { version: string };
  libraries: Record<string, string>;
  artifacts: Record<string, { sha256: string; size: number }>;
};

for (const [name, expected] of Object.entries(manifest.artifacts)) {
  test(`scientific ${name} matches its sha256 and size in the manifest`, () => {
    const bytes = readFileSync(join(dir, name));
    assert.equal(bytes.length, expected.size);
    assert.equal(createHash("sha256").update(bytes).digest("hex"), expected.sha256);
  });
}

test("the scientific manifest records CPython 3.13.5 and numpy 2.2.4", () => {
  assert.equal(manifest.cpython.version, "3.13.5");
  assert.match(manifest.libraries.numpy ?? "", /^2\.2\.4 /);
});

test("the scientific python.wasm has the default engine's exports and imports (numpy adds none)", () => {
  const module = new WebAssembly.Module(readFileSync(join(dir, "python.wasm")));
  const exports = WebAssembly.Module.exports(module).map((e) => e.name).sort();
  assert.deepEqual(exports, ["_initialize", "pyvisor_init", "pyvisor_run", "pyvisor_set_tick_interval"]);
  const modules = new Set(WebAssembly.Module.imports(module).map((i) => i.module));
  assert.deepEqual([...modules].sort(), ["env", "pyvisor", "wasi_snapshot_preview1"]);
});

test("the scientific startup profile was recorded for its committed python.wasm (npm run engine:startup-profile -- --engine scientific)", () => {
  const profile = JSON.parse(readFileSync(join(dir, "startup.json"), "utf8")) as { pythonWasmSha256: string; functions: number[] };
  assert.equal(profile.pythonWasmSha256, manifest.artifacts["python.wasm"]!.sha256);
  assert.ok(profile.functions.length > 100, `only ${profile.functions.length} functions`);
});
