// A one-shot program (-c, FILE, -m, piped source) runs its engine in the
// pyvisor process itself: no worker process to start (the cold start), and
// nothing of the service stack loaded on the way.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { childrenWhileRunning } from "./helpers.js";

test("--isolation inline: a one-shot program starts no worker process, the engine runs in the pyvisor process", async () => {
  const { children, status, stdout } = await childrenWhileRunning(["--isolation", "inline", "-c", "import time\nprint('ready', flush=True)\ntime.sleep(3)\nprint('done')"]);
  // While the program runs: the pyvisor process has no child processes (its helpers are threads).
  assert.deepEqual(children, [], `pyvisor started child processes: ${children.join(", ")}`);
  assert.equal(status, 0);
  assert.equal(stdout, "ready\ndone\n");
});

/** Every module reachable from `file` through static imports (relative files and bare specifiers). */
function staticImports(file: string, seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return seen;
  seen.add(file);
  const text = readFileSync(file, "utf8");
  for (const match of text.matchAll(/^\s*(?:import|export)\b[^;]*?from\s+"([^"]+)"/gm)) {
    const specifier = match[1]!;
    if (specifier.startsWith(".")) staticImports(resolve(dirname(file), specifier), seen);
    else seen.add(specifier);
  }
  return seen;
}

test("the CLI's program path loads none of the service stack (fastify, bullmq, MCP, zod, prom-client) nor readline", () => {
  const main = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "src", "cli", "main.js");
  const loaded = [...staticImports(main)];
  const heavy = loaded.filter((m) => /^(fastify|bullmq|zod|prom-client|@modelcontextprotocol)|^node:readline$|\/serve\//.test(m));
  assert.deepEqual(heavy, []);
});
