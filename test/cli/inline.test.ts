// A one-shot program (-c, FILE, -m, piped source) runs its engine in the
// pyvisor process itself: no worker process to start (the cold start), and
// nothing of the service stack loaded on the way.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { BIN, ROOT } from "./helpers.js";

/** Far beyond any of these runs on a loaded machine; only a hang reaches it. */
const HANG_MS = 60_000;

test("--isolation inline: a one-shot program starts no worker process, the engine runs in the pyvisor process", async () => {
  const child = spawn(process.execPath, [BIN, "--isolation", "inline", "-c", "import time\nprint('ready', flush=True)\ntime.sleep(3)\nprint('done')"], { cwd: ROOT });
  let stdout = "";
  const exited = new Promise<number | null>((done) => child.on("exit", (code) => done(code)));
  await new Promise<void>((ready, failed) => {
    const timer = setTimeout(() => failed(new Error(`no "ready" after ${HANG_MS} ms`)), HANG_MS);
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.includes("ready")) {
        clearTimeout(timer);
        ready();
      }
    });
  });
  // While the program runs: the pyvisor process has no child processes (its helpers are threads).
  const children = spawnSync("pgrep", ["-P", String(child.pid)], { encoding: "utf8" }).stdout.trim();
  const status = await exited;
  assert.equal(children, "", `pyvisor started child processes: ${children}`);
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
