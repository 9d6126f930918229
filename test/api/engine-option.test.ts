// Choosing the engine: Sandbox.create / runPython's `engine` and Pool's `engine`.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { InvalidOptionsError, Pool, runPython, Sandbox } from "../../src/api/index.js";

const pool = new Pool({ size: 1, isolation: "thread" });
after(() => pool.close());

test("an engine name that does not exist is refused, with the names that do", async () => {
  await assert.rejects(Sandbox.create({ engine: "sciency" as never }), (error: unknown) =>
    error instanceof InvalidOptionsError && error.option === "engine" && /"default" or "scientific"/.test(error.message));
  await assert.rejects(runPython("1", { engine: "numpy" as never }), (error: unknown) =>
    error instanceof InvalidOptionsError && error.option === "engine");
  assert.throws(() => new Pool({ engine: "numpy" as never }), /"default" or "scientific"/);
});

test("an engine that is not the given pool's is refused rather than ignored", async () => {
  await assert.rejects(Sandbox.create({ pool, engine: "scientific" }), (error: unknown) =>
    error instanceof InvalidOptionsError && error.option === "engine" && /new Pool\(\{ engine: "scientific" \}\)/.test(error.message));
});

test("engine \"default\" is the default engine: the pool's, with no numpy", async () => {
  assert.equal(pool.engine, "default");
  await using sb = await Sandbox.create({ pool, engine: "default" });
  assert.equal((await sb.run("import numpy")).error?.type, "ModuleNotFoundError");
});
