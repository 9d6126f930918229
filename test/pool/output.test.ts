// Output as CPython writes it (block-buffered to a pipe, unbuffered with -u
// or PYTHONUNBUFFERED), in write order across stdout and stderr, and batched
// so that the number of messages and objects follows bytes, not writes.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { Pool, Sandbox } from "../../src/api/index.js";
import { pyvisor } from "../cli/helpers.js";

const pool = new Pool({ size: 1, isolation: "process" });
after(() => pool.close({ force: true }));

/** A print, then a write straight to fd 2: the order shows whether stdout was buffered. */
const PRINT_THEN_RAW_STDERR = "import os\nprint('a')\nos.write(2, b'b\\n')\nNone";

test("stdout is block-buffered by default, as python's is to a pipe: a print waits for the flush", async () => {
  await using sb = await Sandbox.create({ pool });
  const result = await sb.run(PRINT_THEN_RAW_STDERR);
  assert.equal(result.output, "b\na\n");
  assert.equal(result.stdout, "a\n");
  assert.equal(result.stderr, "b\n");
});

test("PYTHONUNBUFFERED in the sandbox's environment makes stdout unbuffered", async () => {
  await using sb = await Sandbox.create({ pool, env: { PYTHONUNBUFFERED: "1" } });
  const result = await sb.run(PRINT_THEN_RAW_STDERR);
  assert.equal(result.output, "a\nb\n");
});

test("result.output interleaves stdout and stderr in the order they were written", async () => {
  await using sb = await Sandbox.create({ pool });
  const code = "import sys\nfor i in range(3):\n    print(i, flush=True)\n    print('e', i, file=sys.stderr)";
  const result = await sb.run(code);
  assert.equal(result.output, "0\ne 0\n1\ne 1\n2\ne 2\n");
  assert.equal(result.stdout, "0\n1\n2\n");
  assert.equal(result.stderr, "e 0\ne 1\ne 2\n");
});

test("a guest's own stdout replacement lasts for its run; the next run prints to the sandbox's stdout again", async () => {
  await using sb = await Sandbox.create({ pool });
  const first = await sb.run("import io, sys\nmine = io.StringIO()\nsys.stdout = mine\nprint('captured')\nmine.getvalue()");
  assert.equal(first.value, "captured\n");
  assert.equal(first.stdout, "");
  const result = await sb.run("print('seen')\nmine.getvalue()");
  assert.equal(result.value, "captured\n");
  assert.equal(result.stdout, "seen\n");
});

test("pyvisor -u makes stdout unbuffered; without it stdout to a pipe is block-buffered", () => {
  const code = "import sys\nprint(sys.stdout.write_through, sys.stdout.line_buffering)";
  assert.equal(pyvisor(["-u", "-c", code]).stdout, "True False\n");
  assert.equal(pyvisor(["-c", code]).stdout, "False False\n");
});
