// The layering rule, checked on the sources: data flows one way, and each
// folder of src/ imports only the folders below it. Crossings that exist today
// are listed in KNOWN_CROSSINGS; that list may only shrink (a crossing that is
// gone must be removed from it, and a new one fails the test).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const SRC = fileURLToPath(new URL("../../src/", import.meta.url));

/** What each folder may import besides itself. */
const ALLOWED: Record<string, string[]> = {
  shared: [],
  vfs: ["shared"],
  policy: ["shared"],
  engine: ["shared"],
  // Packages (wheels, zips, directories) checked and unpacked: read by the API (checks) and the workers (layers).
  packages: ["shared"],
  kernel: ["vfs", "policy", "shared"],
  worker: ["kernel", "vfs", "policy", "engine", "packages", "shared"],
  // A pool may host its one worker on the calling thread (inline.ts, loaded on demand).
  pool: ["worker", "shared"],
  api: ["pool", "policy", "packages", "shared"],
  // The CLI loads serve/ on demand for `pyvisor serve` and `pyvisor mcp`.
  cli: ["api", "serve"],
  serve: ["api"],
};

/** "from/file.ts -> to/file.ts" crossings that exist today; the list may only shrink (it is empty: keep it so). */
const KNOWN_CROSSINGS = new Set<string>([]);

/** The CLI and the service are users of the public API: of api/, they may import only what the package exports. */
const PUBLIC_API = "api/index.ts";
const API_USERS = ["cli", "serve"];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = join(dir, entry.name);
    return entry.isDirectory() ? sources(full) : entry.name.endsWith(".ts") ? [full] : [];
  });
}

/**
 * Every relative import of every file under src/, as paths relative to src/
 * (".js" read as ".ts"); `runtimeOnly` leaves out `import type`, which
 * TypeScript erases.
 */
function imports(runtimeOnly = false): Array<[string, string]> {
  const edges: Array<[string, string]> = [];
  for (const file of sources(SRC)) {
    const text = readFileSync(file, "utf8");
    for (const match of text.matchAll(/^\s*(?:import|export)\b([^;]*?)from\s+"(\.{1,2}\/[^"]+)"/gm)) {
      if (runtimeOnly && /^\s*type\b/.test(match[1]!)) continue;
      const target = resolve(dirname(file), match[2]!).replace(/\.js$/, ".ts");
      edges.push([relative(SRC, file), relative(SRC, target)]);
    }
    // Dynamic imports (modules loaded on demand) are imports too.
    for (const match of text.matchAll(/\bimport\(\s*"(\.{1,2}\/[^"]+)"\s*\)/g)) {
      edges.push([relative(SRC, file), relative(SRC, resolve(dirname(file), match[1]!).replace(/\.js$/, ".ts"))]);
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

test("the CLI and the service import the public API only (api/index.ts), as a user of the package would", () => {
  const inner = imports().filter(([from, to]) => API_USERS.includes(folderOf(from)) && folderOf(to) === "api" && to !== PUBLIC_API).map(([from, to]) => `${from} -> ${to}`);
  assert.deepEqual(inner, []);
});

test("no cycle between files of src/ at run time (a file's imports, followed, never lead back to it)", () => {
  const graph = new Map<string, string[]>();
  for (const [from, to] of imports(true)) graph.set(from, [...(graph.get(from) ?? []), to]);
  const cycles: string[] = [];
  const state = new Map<string, "open" | "done">();
  const visit = (file: string, path: string[]): void => {
    if (state.get(file) === "done") return;
    if (state.get(file) === "open") {
      cycles.push([...path.slice(path.indexOf(file)), file].join(" -> "));
      return;
    }
    state.set(file, "open");
    for (const next of graph.get(file) ?? []) visit(next, [...path, file]);
    state.set(file, "done");
  };
  for (const file of [...graph.keys()].sort()) visit(file, []);
  assert.deepEqual(cycles, []);
});

test("every folder of src/ has a rule", () => {
  const folders = readdirSync(SRC, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  assert.deepEqual(folders, Object.keys(ALLOWED).sort());
});
