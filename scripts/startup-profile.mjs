#!/usr/bin/env node
// Records an engine's startup profile: the python.wasm functions a cold CLI
// run calls, which the engine then compiles up front on V8's background
// threads (src/engine/compile-hints.ts) instead of one at a time on the run's
// thread as each is first called.
//
//   npm run engine:startup-profile [-- --engine default|scientific]
//
// Runs a few typical programs with `pyvisor --isolation inline` (the engine in
// the CLI's own process) from a fresh snapshot cache, under
// node --perf-basic-prof, and takes the wasm functions V8 compiled from the
// perf map it writes (/tmp/perf-<pid>.map). Writes startup.json beside the
// engine's python.wasm, tied to that build's sha256 (the manifest's): a stale
// profile is ignored at load. Run it after every engine build.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const engineArg = process.argv.indexOf("--engine");
const engineName = engineArg >= 0 ? process.argv[engineArg + 1] : "default";
const engineDir = engineName === "default" ? join(ROOT, "engine/dist") : join(ROOT, "engine/variants", engineName);
if (!existsSync(join(engineDir, "python.wasm"))) throw new Error(`no engine at ${engineDir}`);

/**
 * What every first run calls: the driver and a print, for code (-c) and for a
 * file. Not what only some programs call (the imports of common modules, a
 * traceback, stdin): compiling it up front, on a 2-core machine, held up the
 * runs that do not need it more than it sped up those that do.
 */
const PROGRAMS = [
  { args: ["-c", "print(1)"] },
  { file: "print('hello from a file')\n" },
];

// The profile in place would have its functions compiled up front, and so recorded again whether used or not.
const profileFile = join(engineDir, "startup.json");
const previous = existsSync(profileFile) ? readFileSync(profileFile) : null;
rmSync(profileFile, { force: true });
const cache = mkdtempSync(join(tmpdir(), "pyvisor-startup-"));
const work = mkdtempSync(join(tmpdir(), "pyvisor-startup-work-"));
const functions = new Set();
try {
  const script = join(work, "program.py");
  for (const program of PROGRAMS) {
    const args = program.file === undefined ? program.args : (writeFileSync(script, program.file), [script]);
    // The first run fills the snapshot cache; the second is the cold start that is recorded.
    for (const recorded of [false, true]) {
      const child = spawnSync(process.execPath, ["--perf-basic-prof", join(ROOT, "bin/pyvisor.js"), "--isolation", "inline", "--engine", engineName, ...args], {
        encoding: "utf8", env: { ...process.env, PYVISOR_SNAPSHOT_CACHE: cache },
      });
      const map = `/tmp/perf-${child.pid}.map`;
      if (recorded) {
        if (!existsSync(map)) throw new Error(`no perf map at ${map}: ${child.stderr}`);
        for (const match of readFileSync(map, "utf8").matchAll(/wasm-function\[(\d+)\]/g)) functions.add(Number(match[1]));
      }
      rmSync(map, { force: true });
    }
  }
} catch (error) {
  if (previous !== null) writeFileSync(profileFile, previous);
  throw error;
} finally {
  rmSync(cache, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
}

// The map names functions by their index in the module (imports first); the hints count declared functions only.
const module = new WebAssembly.Module(readFileSync(join(engineDir, "python.wasm")));
const imported = WebAssembly.Module.imports(module).filter((entry) => entry.kind === "function").length;
const declared = [...functions].filter((index) => index >= imported).map((index) => index - imported).sort((a, b) => a - b);
const manifest = JSON.parse(readFileSync(join(engineDir, "manifest.json"), "utf8"));
const profile = { pythonWasmSha256: manifest.artifacts["python.wasm"].sha256, programs: PROGRAMS.length, functions: declared };
writeFileSync(profileFile, `${JSON.stringify(profile)}\n`);
console.log(`startup profile: ${declared.length} functions of python.wasm (${engineName}) -> ${profileFile}`);
