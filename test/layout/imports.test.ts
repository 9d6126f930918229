// The layering rule, checked on the sources: data flows one way, and each
// folder of src/ imports only the folders below it. Crossings that exist today
// are listed in KNOWN_CROSSINGS; that list may only shrink (a crossing that is
// gone must be removed from it, and a new one fails the test).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const SRC = fileURLToPath(new URL("../../../src/", import.meta.url));

/** What each folder may import besides itself. */
const ALLOWED: Record<string, string[]> = {
  shared: [],
  vfs: ["shared"],
  policy: ["shared"],
  engine: ["shared"],
  kernel: ["vfs", "policy", "shared"],
  worker: ["kernel", "vfs", "policy", "engine", "shared"],
  pool: ["shared"],
  api: ["pool", "policy", "shared"],
  cli: ["api"],
};

/** "from/file.ts -> to/file.ts" crossings that exist today; to be removed by the layout work (issue 12). */
const KNOWN_CROSSINGS = new Set([
  "api/async-calls.ts -> worker/protocol.ts",
  "api/index.ts -> kernel/kernel.ts",
  "api/options.ts -> engine/engine.ts",
  "api/options.ts -> vfs/tree.ts",
  "api/options.ts -> worker/protocol.ts",
  "api/sandbox.ts -> kernel/kernel.ts",
  "api/sandbox.ts -> worker/protocol.ts",
  "cli/help.ts -> engine/engine.ts",
  "cli/main.ts -> engine/snapshot-cache.ts",
  "cli/main.ts -> worker/protocol.ts",
  "engine/engine.ts -> vfs/image.ts",
  "engine/engine.ts -> vfs/memory.ts",
  "pool/pool.ts -> api/options.ts",
  "pool/pool.ts -> engine/snapshot-cache.ts",
  "pool/pool.ts -> worker/links.ts",
  "pool/pool.ts -> worker/protocol.ts",
]);

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = join(dir, entry.name);
    return entry.isDirectory() ? sources(full) : entry.name.endsWith(".ts") ? [full] : [];
  });
}

/** Every relative import of every file under src/, as paths relative to src/ (".js" read as ".ts"). */
function imports(): Array<[string, string]> {
  const edges: Array<[string, string]> = [];
  for (const file of sources(SRC)) {
    const text = readFileSync(file, "utf8");
    for (const match of text.matchAll(/^\s*(?:import|export)\b[^;]*?from\s+"(\.{1,2}\/[^"]+)"/gm)) {
      const target = resolve(dirname(file), match[1]!).replace(/\.js$/, ".ts");
      edges.push([relative(SRC, file), relative(SRC, target)]);
    }
  }
  return edges;
}

const folderOf = (path: string) => path.split("/")[0]!;

test("each folder of src/ imports only the folders its rule allows (beyond the known crossings, which may only shrink)", () => {
  const crossings = imports()
    .filter(([from, to]) => folderOf(from) !== folderOf(to) && !ALLOWED[folderOf(from)]!.includes(folderOf(to)))
    .map(([from, to]) => `${from} -> ${to}`);
  const found = new Set(crossings);
  console.log(`layer crossings: ${found.size} (known ${KNOWN_CROSSINGS.size})\n${[...found].sort().join("\n")}`);
  assert.deepEqual([...found].filter((c) => !KNOWN_CROSSINGS.has(c)).sort(), [], "new imports across layers");
  assert.deepEqual([...KNOWN_CROSSINGS].filter((c) => !found.has(c)).sort(), [], "crossings that are gone: remove them from KNOWN_CROSSINGS");
});

test("every folder of src/ has a rule", () => {
  const folders = readdirSync(SRC, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  assert.deepEqual(folders, Object.keys(ALLOWED).sort());
});
