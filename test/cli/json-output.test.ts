// `--json` prints what the guest's last value was, in time linear in its size,
// and the CLI ends quietly when its reader goes away.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { BIN, pyvisor } from "./helpers.js";

test("--json writes an int past Python's 4300-digit limit in hex (decimal text is quadratic), exactly", () => {
  const r = pyvisor(["--isolation", "thread", "--json", "-c", "-(2**20000) - 5"]);
  assert.equal(r.status, 0, r.stderr);
  const value = (JSON.parse(r.stdout) as { value: string }).value;
  assert.match(value, /^-0x[0-9a-f]+$/);
  assert.equal(-BigInt(value.slice(1)), -(2n ** 20000n) - 5n);
});

test("--json writes an int within the limit as decimal text", () => {
  const r = pyvisor(["--isolation", "thread", "--json", "-c", "2**64 * -3"]);
  assert.equal((JSON.parse(r.stdout) as { value: string }).value, "-55340232221128654848");
});

test("a reader that closes the pipe early ends the CLI quietly (exit 141, no stack trace)", () => {
  const r = spawnSync("bash", ["-c", `node ${JSON.stringify(BIN)} --isolation thread -c 'for i in range(10**6): print(i)' | head -1; echo "status \${PIPESTATUS[0]}" >&2`], { encoding: "utf8", timeout: 60_000 });
  assert.equal(r.stdout, "0\n");
  assert.match(r.stderr, /status 141\n$/);
  assert.doesNotMatch(r.stderr, /EPIPE|node:events/);
});
