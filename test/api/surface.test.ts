// The public surface is pinned: changing it must be deliberate (update this test).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as api from "../../src/api/index.js";

test("the package exports exactly these names", () => {
  assert.deepEqual(Object.keys(api).sort(), [
    "DEFAULTS", "DisposedError", "ErrorType", "InvalidOptionsError", "Pool", "PyvisorError", "Sandbox", "SandboxCrashedError",
    "checkMemoryLimit", "defaultSnapshotCacheDir", "jsonValue", "parseSize", "runPython", "versions",
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
  });
});

test("a Sandbox offers run, runFile, runModule, fs, dispose and async disposal", () => {
  const proto = api.Sandbox.prototype as unknown as Record<string | symbol, unknown>;
  for (const name of ["run", "runFile", "runModule", "dispose"]) assert.equal(typeof proto[name], "function", name);
  assert.equal(typeof proto[Symbol.asyncDispose], "function");
  assert.ok(Object.getOwnPropertyDescriptor(api.Sandbox.prototype, "fs")?.get);
});
