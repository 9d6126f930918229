// The public surface is pinned: changing it must be deliberate (update this test).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as api from "../../src/api/index.js";

test("the package exports exactly these names", () => {
  assert.deepEqual(Object.keys(api).sort(), [
    "DEFAULTS", "DisposedError", "ENGINE_NAMES", "ErrorType", "InvalidOptionsError", "PackageError", "PausedRun", "Pool", "PyvisorError", "Sandbox", "SandboxCrashedError", "SandboxFsError",
    "SnapshotEngineError", "SnapshotFormatError", "SnapshotIntegrityError", "SnapshotMountError", "SnapshotVersionError",
    "Template", "TemplateDisposedError", "TemplateSetupError", "checkMemoryLimit", "defaultSnapshotCacheDir", "parseSize", "runPython", "toJSON", "versions",
  ]);
});

test("a Sandbox has no internal run entry point (the CLI uses run, runFile and runModule like any user)", () => {
  assert.equal((api.Sandbox.prototype as unknown as Record<string, unknown>).execute, undefined);
});

test("versions() names this package's version and the engine's CPython", () => {
  const v = api.versions();
  assert.match(v.pyvisor, /^\d+\.\d+\.\d+/);
  assert.equal(v.python, "3.13.5");
  assert.match(v.engineSha256 ?? "", /^[0-9a-f]{64}$/);
});

test("ErrorType lists the documented codes", () => {
  assert.deepEqual({ ...api.ErrorType }, {
    Timeout: "TimeoutError", Memory: "MemoryError", OutputLimit: "OutputLimitError", Crashed: "SandboxCrashedError",
    Trap: "EngineTrapError", Cancelled: "CancelledError", Conversion: "ConversionError", Protocol: "ProtocolError", Driver: "DriverError",
    ReplayDivergence: "ReplayDivergenceError",
  });
});

test("a Sandbox offers run, runFile, runModule, fs, dispose and async disposal", () => {
  const proto = api.Sandbox.prototype as unknown as Record<string | symbol, unknown>;
  for (const name of ["run", "runFile", "runModule", "dispose"]) assert.equal(typeof proto[name], "function", name);
  assert.equal(typeof proto[Symbol.asyncDispose], "function");
  assert.ok(Object.getOwnPropertyDescriptor(api.Sandbox.prototype, "fs")?.get);
});

/** The public members a class declares in the shipped .d.ts (internal ones are stripped, private ones have no type). */
function declaredMembers(dts: string, cls: string): string[] {
  const body = dts.slice(dts.indexOf(`export declare class ${cls}`));
  const block = body.slice(0, body.indexOf("\n}\n"));
  return [...block.matchAll(/^ {4}(?!private\b)(?:static |readonly |get |async )*([A-Za-z_[][A-Za-z_[\]. ]*?)[(:<?]/gm)].map((m) => m[1]!.trim()).sort();
}

test("the shipped types of Pool and Sandbox show their public members only", async () => {
  const { readFileSync } = await import("node:fs");
  const dist = new URL("../../src/", import.meta.url);
  assert.deepEqual(declaredMembers(readFileSync(new URL("pool/pool.d.ts", dist), "utf8"), "Pool"),
    ["close", "constructor", "engine", "isolation", "pendingRuns", "queuedRuns", "size"]);
  assert.deepEqual(declaredMembers(readFileSync(new URL("api/sandbox.d.ts", dist), "utf8"), "Sandbox"),
    ["[Symbol.asyncDispose]", "alive", "create", "dispose", "fs", "interrupt", "restore", "run", "runFile", "runModule", "save", "start"]);
  assert.deepEqual(declaredMembers(readFileSync(new URL("api/sandbox.d.ts", dist), "utf8"), "PausedRun"),
    ["call", "done", "partial", "restore", "resume", "sandbox", "save", "throw"]);
  assert.deepEqual(declaredMembers(readFileSync(new URL("api/template.d.ts", dist), "utf8"), "Template"),
    ["[Symbol.asyncDispose]", "alive", "create", "dispose", "memoryBytes", "refreshes", "sandbox"]);
});
