// The package as users receive it: `npm pack`, installed from the tarball into
// a fresh project (offline: its dependencies come from the npm cache that installing the repository filled), then the
// README's API examples run there as ESM and as CommonJS, and type-check in
// strict mode against `lib: ["ES2022"]` without skipLibCheck.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";
import { apiBlocks, PRELUDE, REPO } from "../helpers/readme.js";

let work: string;
let project: string;
let installed: string;
let packed: string[];

/** npm of this Node (the suite may run under Node 24, whose directory has its own npm). */
function npm(args: string[], cwd: string): string {
  return execFileSync("npm", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, npm_config_update_notifier: "false" } });
}

before(() => {
  work = mkdtempSync(join(tmpdir(), "pyvisor-package-"));
  const [info] = JSON.parse(npm(["pack", "--json", "--pack-destination", work], REPO)) as Array<{ filename: string; files: Array<{ path: string }> }>;
  packed = info!.files.map((file) => file.path);
  project = join(work, "project");
  mkdirSync(project);
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "user-project", private: true }));
  npm(["install", "--offline", "--no-audit", "--no-fund", join(work, info!.filename)], project);
  installed = join(project, "node_modules", "pyvisor");
});
after(() => rmSync(work, { recursive: true, force: true }));

test("the tarball holds the license texts and the docs the README links, and no tests", () => {
  for (const file of ["LICENSE", "licenses/CPython.txt", "README.md", "SECURITY.md", "docs/cli.md", "engine/dist/python.wasm", "engine/dist/manifest.json"]) {
    assert.ok(packed.includes(file), `${file} is in the package`);
  }
  const readme = readFileSync(join(REPO, "README.md"), "utf8");
  const links = [...readme.matchAll(/\]\(([^)#:]+)(?:#[^)]*)?\)/g)].map((match) => match[1]!);
  assert.ok(links.length > 0);
  for (const link of links) assert.ok(existsSync(join(installed, link)), `the README links ${link}, which the package lacks`);
  assert.deepEqual(packed.filter((file) => /(^|\/)tests?\//.test(file)), []);
});

test("every source map in the package points at sources the package ships", () => {
  const maps = packed.filter((file) => file.endsWith(".js.map"));
  assert.ok(maps.length > 10);
  const missing: string[] = [];
  for (const map of maps) {
    const { sources } = JSON.parse(readFileSync(join(installed, map), "utf8")) as { sources: string[] };
    for (const source of sources) {
      const target = relative(installed, resolve(dirname(join(installed, map)), source));
      if (!existsSync(join(installed, target))) missing.push(`${map} -> ${target}`);
    }
  }
  assert.deepEqual(missing, []);
});

test("the installed package runs no install-time script (nothing needs dev tools on install)", () => {
  const scripts = (JSON.parse(readFileSync(join(installed, "package.json"), "utf8")) as { scripts?: Record<string, string> }).scripts ?? {};
  assert.deepEqual(Object.keys(scripts).filter((name) => ["preinstall", "install", "postinstall", "prepare"].includes(name)), []);
});

/** The README's API examples, each with what it takes as given. */
const examples = () => apiBlocks().map((block) => PRELUDE + block);

/** Runs `file` with this Node inside the user's project; it must exit 0 by itself. */
function runInProject(file: string): void {
  const child = spawnSync(process.execPath, [file], { cwd: project, encoding: "utf8", timeout: 120_000 });
  assert.equal(child.signal, null, `${file} did not exit by itself: ${child.stderr}`);
  assert.equal(child.status, 0, `${file} failed: ${child.stderr}`);
}

test("the README's API examples run in the user's project as ES modules", () => {
  for (const [i, source] of examples().entries()) {
    const { outputText } = ts.transpileModule(source, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext } });
    writeFileSync(join(project, `example-${i}.mjs`), outputText);
    runInProject(`example-${i}.mjs`);
  }
});

test("the README's API examples run in the user's project as CommonJS (require)", () => {
  for (const [i, source] of examples().entries()) {
    // CommonJS has no top-level await: the imports stay on top, the rest runs in an async function.
    const file = ts.createSourceFile("example.ts", source, ts.ScriptTarget.ES2022);
    const text = (imports: boolean) => file.statements.filter((s) => ts.isImportDeclaration(s) === imports).map((s) => s.getFullText(file)).join("");
    const wrapped = `${text(true)}\nasync function main() {\n${text(false)}\n}\nmain().catch((error) => { console.error(error); process.exit(1); });\n`;
    const { outputText } = ts.transpileModule(wrapped, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS } });
    assert.match(outputText, /require\("pyvisor"\)/);
    writeFileSync(join(project, `example-${i}.cjs`), outputText);
    runInProject(`example-${i}.cjs`);
  }
});

test("the README's examples type-check against the installed types: strict, lib ES2022, no skipLibCheck", () => {
  const files = examples().map((source, i) => {
    const file = join(project, `typed-${i}.mts`);
    writeFileSync(file, source);
    return file;
  });
  const program = ts.createProgram(files, {
    target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext,
    lib: ["lib.es2022.d.ts"], strict: true, noEmit: true, skipLibCheck: false,
    types: ["node"], typeRoots: [join(REPO, "node_modules", "@types")],
  });
  const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file ? `${relative(project, d.file.fileName)}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}` : "";
    return `${where} ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`;
  });
  assert.deepEqual(diagnostics, []);
  // What the compiler read of pyvisor: its public types only, never the worker's or the engine's.
  const read = program.getSourceFiles().map((f) => f.fileName).filter((name) => name.includes("node_modules/pyvisor/")).map((name) => relative(installed, name));
  assert.ok(read.includes("dist/src/api/index.d.ts"));
  assert.deepEqual(read.filter((name) => /\/(worker|engine|kernel|vfs)\//.test(name)), []);
});
