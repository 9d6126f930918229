// The public surface is pinned: changing it must be deliberate (update this test).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as api from "../../src/api/index.js";

test("the package exports exactly these names", () => {
  assert.deepEqual(Object.keys(api).sort(), [
    "DisposedError", "ErrorType", "InvalidOptionsError", "Pool", "PyvisorError", "Sandbox", "SandboxCrashedError", "runPython",
  ]);
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
