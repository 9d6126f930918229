// Choosing the engine: Sandbox.create / runPython's `engine` and Pool's `engine`.
// The scientific engine (engine/variants/scientific) has numpy linked in and
// imported in its snapshot; the default engine has no numpy.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { ErrorType, InvalidOptionsError, Pool, runPython, Sandbox, Template } from "../../src/api/index.js";
import { pyvisor } from "../cli/helpers.js";

const pool = new Pool({ size: 1, isolation: "thread", engine: "scientific" });
after(() => pool.close());

test("an engine name that does not exist is refused, with the names that do", async () => {
  await assert.rejects(Sandbox.create({ engine: "sciency" as never }), (error: unknown) =>
    error instanceof InvalidOptionsError && error.option === "engine" && /"default" or "scientific"/.test(error.message));
  assert.throws(() => new Pool({ engine: "numpy" as never }), /"default" or "scientific"/);
});

test("an engine that is not the given pool's is refused rather than ignored", async () => {
  await assert.rejects(Sandbox.create({ pool, engine: "default" }), (error: unknown) =>
    error instanceof InvalidOptionsError && error.option === "engine");
});

test("the scientific engine runs numpy (runPython's engine option reaches the sandbox)", async () => {
  const result = await runPython("import numpy as np\nprint(np.__version__, np.arange(10).sum(), np.linalg.inv(np.eye(3)).sum())", { engine: "scientific" });
  assert.equal(result.error, null, result.stderr);
  assert.equal(result.stdout, "2.2.4 45 3.0\n");
});

test("numpy is already imported when a scientific sandbox's first run starts (it is in the snapshot)", async () => {
  await using sb = await Sandbox.create({ pool });
  const result = await sb.run("import sys\n'numpy' in sys.modules and 'numpy._core._multiarray_umath' in sys.modules");
  assert.equal(result.value, true, result.stderr);
});

test("the default engine stays without numpy", async () => {
  const result = await runPython("import numpy");
  assert.equal(result.error?.type, "ModuleNotFoundError");
});

test("numpy's extension modules are built-in under their dotted names, not files", async () => {
  await using sb = await Sandbox.create({ pool });
  const result = await sb.run("import sys, numpy.linalg._umath_linalg as m, numpy.random._mt19937 as r\n[m.__spec__.origin, r.__spec__.origin, 'numpy._core._multiarray_umath' in sys.builtin_module_names]");
  assert.deepEqual(result.value, ["built-in", "built-in", true], result.stderr);
});

test("an array larger than the memory limit is a MemoryError; one past wasm32's address space a ValueError", async () => {
  await using sb = await Sandbox.create({ pool, memoryLimit: "256M" });
  // 800 MB fits a 32-bit size but not the limit; 100000x100000 doubles (80 GB) do not fit numpy's 32-bit intp at all.
  const result = await sb.run("import numpy as np\nr = []\nfor shape in [(10000, 10000), (100000, 100000)]:\n  try:\n    np.zeros(shape)\n  except (MemoryError, ValueError) as e:\n    r.append(type(e).__name__)\nr");
  assert.deepEqual(result.value, ["MemoryError", "ValueError"], result.stderr);
  assert.equal((await sb.run("int(np.ones(1000).sum())")).value, 1000);
});

test("one long C-level numpy call is stopped by the time limit, and the pool runs the next sandbox", async () => {
  await using sb = await Sandbox.create({ pool });
  // A 1500x1500 float matrix product without BLAS: one C call of seconds, with no Python bytecode in between.
  const result = await sb.run("import numpy as np\na = np.ones((1500, 1500))\nfor _ in range(100): a @ a", { timeout: 500 });
  assert.equal(result.error?.type, ErrorType.Timeout);
  await using next = await Sandbox.create({ pool });
  assert.equal((await next.run("import numpy as np\nint(np.arange(4).sum())")).value, 6);
});

test("pyvisor --engine scientific -c runs numpy from the command line", () => {
  const run = pyvisor(["--engine", "scientific", "-c", "import numpy as np; print(np.__version__, np.linalg.inv(np.eye(3)).sum())"], { timeoutMs: 120_000 });
  assert.equal(run.stderr, "");
  assert.equal(run.stdout, "2.2.4 3.0\n");
  assert.equal(run.status, 0);
});

test("a template's sandboxes run on the template's engine, and cannot name another", async () => {
  await using template = await Template.create({ engine: "scientific", setup: "import numpy as np\nbase = np.arange(4)" });
  await using sb = await template.sandbox();
  const result = await sb.run("print(np.__version__, base.sum())");
  assert.equal(result.error, null, result.stderr);
  assert.equal(result.stdout, "2.2.4 6\n");
  await assert.rejects(template.sandbox({ engine: "default" } as never), (error: unknown) => error instanceof InvalidOptionsError && error.option === "engine");
});
