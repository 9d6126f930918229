// The worker process a one-shot run needs is started by bin/pyvisor.js before
// the CLI loads (src/pool/prestart.ts): the CLI's pool adopts it rather than
// starting a second one, and one nobody adopts ends with the CLI.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { SERVICE_COMMANDS } from "../../src/cli/args.js";
import { BIN, childrenWhileRunning, HANG_MS } from "./helpers.js";

const PROGRAM = "import time\nprint('ready', flush=True)\ntime.sleep(2)\nprint('done')";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test("a default one-shot run has exactly one worker process: the one started early is adopted, not doubled", async () => {
  const { children, status, stdout } = await childrenWhileRunning(["-c", PROGRAM]);
  assert.equal(status, 0);
  assert.equal(stdout, "ready\ndone\n");
  assert.equal(children.length, 1, `child processes: ${children.join(", ")}`);
});

test("a worker process started early that no pool adopts (the words pointed to a worker process, the options did not) ends with the CLI", async () => {
  // "64M" reads as the program to bin/pyvisor.js's guess, so it starts a worker process; the CLI then runs inline.
  const { children, status, stdout } = await childrenWhileRunning(["--memory", "64M", "--isolation", "inline", "-c", PROGRAM]);
  assert.equal(status, 0);
  assert.equal(stdout, "ready\ndone\n");
  assert.equal(children.length, 1, `child processes: ${children.join(", ")}`);
  const deadline = Date.now() + HANG_MS;
  while (alive(children[0]!) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(alive(children[0]!), false, `the early worker process ${children[0]} outlived the CLI`);
});

test("bin/pyvisor.js starts no early worker process for a service command: its list is the CLI's SERVICE_COMMANDS", () => {
  const listed = /\[("[a-z]+"(?:, "[a-z]+")*)\]\.includes\(argv\[0\]\)/.exec(readFileSync(BIN, "utf8"))?.[1];
  assert.deepEqual(JSON.parse(`[${listed ?? ""}]`), [...SERVICE_COMMANDS]);
});
