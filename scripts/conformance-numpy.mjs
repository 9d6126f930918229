#!/usr/bin/env node
// numpy's own tests, one test file at a time, inside `pyvisor --engine
// scientific` and natively (numpy 2.2.4 built from the same source tree for the
// native CPython 3.13.5 that `npm run conformance` builds), compared test by test.
//
//   npm run conformance:numpy -- [--cap SECONDS] [--report] [--update] [path/to/test_file.py ...]
//
// --update: the files run replace their rows in the existing results (the others are kept).
//
// Default: every test_*.py of numpy's _core, lib, linalg, fft, random, ma and
// polynomial tests, with numpy's own "fast" label (-m "not slow", as
// numpy.test() runs by default) and its pytest.ini (warnings are errors).
// Writes conformance/numpy/results.json and results.md; per-file logs and junit
// files in conformance/logs/numpy (not committed).
//
// Needs: $PYVISOR_NUMPY_SRC (the numpy 2.2.4 tree the engine was built from),
// the native CPython of `npm run conformance` (its cache:
// $PYVISOR_CONFORMANCE_CACHE, else ~/.cache/pyvisor/conformance; or
// $PYVISOR_NATIVE_PYTHON), Debian's cython3 .deb that the engine build downloaded
// ($PYVISOR_ENGINE_BUILD, else engine/.build) and Debian's python3-pytest and
// python3-hypothesis installed (apt-get install python3-pytest python3-hypothesis).
//
// The test-only layer: pytest, hypothesis and their dependencies, copied from
// Debian's installed files into one directory that is pyvisor's --package (read
// only, at site-packages) and the native side's PYTHONPATH. numpy's tests are not
// in the scientific image: a tree of them (tests/, numpy's conftest.py and
// pytest.ini) is mounted read-only, and the driver puts it first on the numpy
// packages' __path__, so `numpy._core.tests._locales` and the like import from it.
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, copyFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { capped, decodeEntities } from "./capped-run.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const SUBPACKAGES = ["_core", "lib", "linalg", "fft", "random", "ma", "polynomial"];
const GUEST_TREE = "/numpy-tests";
const GUEST_OUT = "/numpy-out";
const HOST_KILL_SLACK_S = 60;
// The native build's options, as close to the wasm32 build's (engine/variants/scientific/variant.sh) as matters.
const MESON_OPTIONS = [
  "--buildtype=release", "-Db_ndebug=if-release", "--prefix=/usr/local",
  "-Dblas=none", "-Dlapack=none", "-Dallow-noblas=true",
  "-Ddisable-highway=true", "-Ddisable-intel-sort=true", "-Ddisable-svml=true", "-Ddisable-threading=true",
  "-Ddisable-optimization=true", "-Dcpu-baseline=none", "-Dcpu-dispatch=none",
];
// What pytest 7.2 and hypothesis 6.67 import (Debian's names under /usr/lib/python3/dist-packages), with their metadata.
const DIST_PACKAGES = "/usr/lib/python3/dist-packages";
const TEST_LAYER = [
  "pytest", "_pytest", "py.py", "py", "pluggy", "iniconfig", "packaging", "attr", "attrs", "sortedcontainers",
  "hypothesis", "_hypothesis_pytestplugin.py", "_hypothesis_ftz_detector.py",
];
const LAYER_METADATA = /^(pytest|pluggy|iniconfig|packaging|attrs|sortedcontainers|hypothesis)-[^-]+\.(dist|egg)-info$/;

function step(message) { process.stderr.write(`\n\x1b[1m[conformance:numpy] ${message}\x1b[0m\n`); }

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { stdio: "inherit", ...options });
  if (result.status !== 0) throw new Error(`${command} ${args.join(" ")} failed (${result.status ?? result.signal})`);
}

// ------------------------------------------------------------ native numpy, test tree, test layer

function nativePython(cache) {
  const python = process.env.PYVISOR_NATIVE_PYTHON ?? join(cache, "build/python");
  if (!existsSync(python)) throw new Error(`no native CPython at ${python}: run \`npm run conformance -- test_grammar\` once (it builds it), or set PYVISOR_NATIVE_PYTHON`);
  return python;
}

function numpySource() {
  const src = process.env.PYVISOR_NUMPY_SRC;
  if (!src || !existsSync(join(src, "pyproject.toml"))) throw new Error("set PYVISOR_NUMPY_SRC to the numpy 2.2.4 tree the scientific engine was built from");
  if (!/^version = "2\.2\.4"$/m.test(readFileSync(join(src, "pyproject.toml"), "utf8"))) throw new Error(`${src} is not numpy 2.2.4`);
  return src;
}

/** Debian's cython3 (the one the wasm32 build used), unpacked, and a `cython` that the native CPython runs. */
function cythonWrapper(dir, python) {
  const debs = join(process.env.PYVISOR_ENGINE_BUILD ?? join(ROOT, "engine/.build"), "scientific/debs");
  const deb = existsSync(debs) ? readdirSync(debs).find((f) => /^cython3_.*\.deb$/.test(f)) : undefined;
  if (!deb) throw new Error(`no cython3 .deb in ${debs}: build the scientific engine first, or set PYVISOR_ENGINE_BUILD`);
  run("dpkg-deb", ["-x", join(debs, deb), join(dir, "cython")]);
  const wrapper = join(dir, "bin/cython");
  mkdirSync(dirname(wrapper), { recursive: true });
  writeFileSync(wrapper, `#!/bin/sh\nexport PYTHONPATH="${join(dir, "cython/usr/lib/python3/dist-packages")}"\n` +
    `exec "${python}" -c 'import sys; from Cython.Compiler.Main import setuptools_main; sys.exit(setuptools_main())' "$@"\n`, { mode: 0o755 });
  return wrapper;
}

/** numpy 2.2.4 for the native CPython, installed under dir/install; returns its site directory. */
function ensureNativeNumpy(dir, python) {
  const site = () => {
    const lib = join(dir, "install/usr/local/lib");
    const found = existsSync(lib) ? readdirSync(lib, { recursive: true }).find((p) => p.endsWith("-packages/numpy/__init__.py")) : undefined;
    return found ? dirname(dirname(join(lib, found))) : null;
  };
  if (site()) return site();
  const src = join(dir, "src");
  if (!existsSync(join(src, "pyproject.toml"))) cpSync(numpySource(), src, { recursive: true });
  const native = join(dir, "native.ini");
  writeFileSync(native, `[binaries]\ncython = '${cythonWrapper(dir, python)}'\npython = '${python}'\n`);
  if (!existsSync(join(dir, "build/build.ninja"))) {
    step("native numpy: meson setup (numpy's vendored meson, the wasm32 build's options)");
    run("python3", ["vendored-meson/meson/meson.py", "setup", join(dir, "build"), "--native-file", native, ...MESON_OPTIONS], { cwd: src });
  }
  step("native numpy: ninja (nice -n 10; about 15 minutes on two busy cores)");
  run("nice", ["-n", "10", "ninja", "-C", join(dir, "build"), `-j${process.env.PYVISOR_ENGINE_JOBS ?? "2"}`]);
  run("python3", [join(src, "vendored-meson/meson/meson.py"), "install", "-C", join(dir, "build"), "--no-rebuild", "--quiet", "--destdir", join(dir, "install")]);
  const found = site();
  if (!found) throw new Error(`meson install left no numpy under ${join(dir, "install")}`);
  return found;
}

/**
 * The tests' tree: numpy/<sub>/tests, numpy's conftest.py and pytest.ini, and
 * empty __init__.py files where pytest needs them to name the test modules
 * numpy.<sub>.tests.test_x (numpy's real packages are imported first, so these
 * are never run).
 */
function ensureTestTree(dir) {
  const tree = join(dir, "tests-tree");
  if (existsSync(join(tree, "pytest.ini"))) return tree;
  const src = join(dir, "src");
  mkdirSync(join(tree, "numpy"), { recursive: true });
  for (const sub of SUBPACKAGES) {
    cpSync(join(src, "numpy", sub, "tests"), join(tree, "numpy", sub, "tests"), { recursive: true });
    if (existsSync(join(src, "numpy", sub, "tests/__init__.py"))) writeFileSync(join(tree, "numpy", sub, "__init__.py"), "");
  }
  writeFileSync(join(tree, "numpy/__init__.py"), "");
  copyFileSync(join(src, "numpy/conftest.py"), join(tree, "numpy/conftest.py"));
  copyFileSync(join(src, "pytest.ini"), join(tree, "pytest.ini"));
  return tree;
}

function ensureTestLayer(dir) {
  const layer = join(dir, "test-layer");
  rmSync(layer, { recursive: true, force: true });
  const names = [...TEST_LAYER, ...readdirSync(DIST_PACKAGES).filter((n) => LAYER_METADATA.test(n))];
  for (const name of names) {
    if (!existsSync(join(DIST_PACKAGES, name))) throw new Error(`${join(DIST_PACKAGES, name)} is missing: apt-get install python3-pytest python3-hypothesis`);
    cpSync(join(DIST_PACKAGES, name), join(layer, name), { recursive: true, filter: (p) => !p.includes("__pycache__") });
  }
  return layer;
}

// ------------------------------------------------------------ one file, one side

// The same driver on both sides (the ctypes and mmap stand-ins only where there are none): numpy and its test subpackages imported (all
// of them before any path changes: an unimported one would then be found as
// the tree's empty __init__.py), the tests' tree put first on their __path__, then pytest on one file. Output is
// captured at the sys level, and pytest's faulthandler plugin is off (WASI has
// no dup(), which both need);
// pytest 7.2's assertion rewriting is off (it uses ast.Str, whose
// DeprecationWarning on Python 3.13 numpy's pytest.ini turns into an error).
const DRIVER = `
import importlib, os, sys
tree, out, path = sys.argv[1:4]
def stand_in(module, why):
    """A module whose every name is a class that cannot be made: lets a test file that
    imports the module at the top (or names its classes in a decorator) be collected,
    and fails each test that uses it, saying why."""
    import types
    stand = types.ModuleType(module)
    def missing(name):
        if name.startswith("__"):
            raise AttributeError(name)
        def refuse(cls, *args, **kwargs):
            raise ModuleNotFoundError(f"{module}.{name}: {why} (a stand-in {module})")
        return type(name, (), {"__new__": refuse})
    stand.__getattr__ = missing
    sys.modules[module] = stand
# WASI's CPython has neither: test_multiarray, test_dtype, test_ufunc, test_io and
# others import them at the top for a few of their tests.
for module, why in (("ctypes", "WASI has no _ctypes"), ("mmap", "WASI has no mmap")):
    try:
        importlib.import_module(module)
    except ImportError:
        stand_in(module, why)
import numpy
packages = {sub: importlib.import_module("numpy" + sub) for sub in ("", ${SUBPACKAGES.map((s) => `".${s}"`).join(", ")})}
for sub, package in packages.items():
    package.__path__.insert(0, os.path.join(tree, "numpy", *sub.split(".")[1:]))
import pytest, tempfile
# A given --basetemp spares tmp_path pytest's check of its owner (os.getuid, which WASI lacks).
basetemp = os.path.join(tempfile.mkdtemp(prefix="numpy-tests-"), "basetemp")
sys.exit(pytest.main(["-c", os.path.join(tree, "pytest.ini"), "--rootdir", tree, "-p", "no:cacheprovider", "--basetemp", basetemp,
                      "-p", "no:faulthandler", "--capture=sys", "--assert=plain", "-m", "not slow", "-q", "--junitxml", out, os.path.join(tree, path)]))
`;


/** pytest's junit file: test id (classname::name) -> { outcome, message }. */
export function parsePytestJunit(xml) {
  const tests = new Map();
  for (const m of xml.matchAll(/<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g)) {
    const attr = (name) => decodeEntities(new RegExp(`\\b${name}="([^"]*)"`).exec(m[1])?.[1] ?? "");
    const body = m[3] ?? "";
    const child = /<(failure|error|skipped)\b([^>]*?)(?:\/>|>([\s\S]*?)<\/\1>)/.exec(body);
    const outcome = child ? { failure: "failure", error: "error", skipped: "skipped" }[child[1]] : "pass";
    const message = child ? decodeEntities(/\bmessage="([^"]*)"/.exec(child[2])?.[1] ?? (child[3] ?? "").split("\n")[0]).slice(0, 300) : "";
    tests.set(`${attr("classname")}::${attr("name")}`, { outcome, message });
  }
  return tests;
}

async function side(which, file, env, capS, logs) {
  const out = mkdtempSync(join(tmpdir(), `pyvisor-np-${which}-`));
  const tag = file.replaceAll("/", "_").replace(/\.py$/, "");
  const log = join(logs, `${tag}.${which}.log`);
  let result;
  if (which === "native") {
    result = await capped(env.python, ["-c", DRIVER, env.tree, join(out, "junit.xml"), file], {
      env: { ...process.env, PYTHONPATH: `${env.site}:${env.layer}`, PYTHONDONTWRITEBYTECODE: "1" }, capS, log,
    });
  } else {
    result = await capped(process.execPath, [
      join(ROOT, "bin/pyvisor.js"), "--engine", "scientific", "--isolation", "thread", "--memory", "2G", "--timeout", String(capS),
      "--output-limit", "200M", "--package", env.layer, "--mount", `${env.tree}:${GUEST_TREE}`, "--mount", `${out}:${GUEST_OUT}:rw`,
      "-c", DRIVER, GUEST_TREE, `${GUEST_OUT}/junit.xml`, file,
    ], { env: process.env, capS: capS + HOST_KILL_SLACK_S, log });
  }
  const junit = join(out, "junit.xml");
  const tests = existsSync(junit) ? parsePytestJunit(readFileSync(junit, "utf8")) : null;
  if (tests) copyFileSync(junit, join(logs, `${tag}.${which}.xml`));
  rmSync(out, { recursive: true, force: true });
  return { tests, timedOut: result.timedOut || result.code === 124, code: result.code, tail: tailOf(log) };
}

/** The last meaningful line of a run's output: why a file wrote no results. */
function tailOf(log) {
  const lines = readFileSync(log, "utf8").trim().split("\n").filter((l) => l.trim());
  return (lines.at(-1) ?? "").slice(0, 200);
}

function counts(tests) {
  const c = { run: 0, pass: 0, failures: 0, errors: 0, skipped: 0 };
  for (const { outcome } of tests?.values() ?? []) {
    c.run++;
    if (outcome === "pass") c.pass++;
    else if (outcome === "failure") c.failures++;
    else if (outcome === "error") c.errors++;
    else c.skipped++;
  }
  return c;
}

async function compare(file, env, capS, logs) {
  const native = await side("native", file, env, capS, logs);
  const guest = await side("pyvisor", file, env, capS, logs);
  const regressions = [];
  let missing = 0;
  for (const [id, { outcome }] of native.tests ?? []) {
    const there = guest.tests?.get(id);
    if (outcome !== "pass") continue;
    if (!there) missing++;
    else if (there.outcome === "failure" || there.outcome === "error") regressions.push({ id, message: there.message });
  }
  const status = (s) => s.tests ? (s.timedOut ? "partial (cap)" : "ok") : s.timedOut ? "hit the cap" : `no results (exit ${s.code}): ${s.tail}`;
  return {
    file,
    native: { ...counts(native.tests), status: status(native) },
    pyvisor: { ...counts(guest.tests), status: status(guest) },
    // pytest's last line on each side ("285 passed, 1 skipped in 3.2s", "1 deselected", an error).
    summary: { native: native.tail, pyvisor: guest.tail },
    // Natively passing tests with no result in pyvisor (a collection error, a crash, the cap).
    missing,
    regressions,
  };
}

// ------------------------------------------------------------ report

export function markdown(results, meta) {
  const row = (cells) => `| ${cells.join(" | ")} |`;
  const lines = [
    "# numpy 2.2.4's own tests: native vs pyvisor --engine scientific",
    "",
    meta.header ?? `Run ${meta.date} (${meta.host}); per-file cap ${meta.capS} s; ${results.length} files; pytest -m "not slow" with numpy's pytest.ini.`,
    "Columns: passed / failed / errors / skipped on each side; \"new\" counts tests that pass natively and fail or",
    "error in pyvisor (listed below, by cause); \"missing\" those that pass natively and have no result in pyvisor",
    "under the same id (a parametrized test whose id names a platform-dependent type runs under another id; a file",
    "that was not collected or crashed).",
    "",
    row(["file", "native pass", "fail", "err", "skip", "pyvisor pass", "fail", "err", "skip", "new", "missing", "pyvisor status"]),
    row(Array(12).fill("---")),
  ];
  const total = { n: { pass: 0, failures: 0, errors: 0, skipped: 0 }, p: { pass: 0, failures: 0, errors: 0, skipped: 0 }, new: 0, missing: 0 };
  for (const r of results) {
    for (const k of Object.keys(total.n)) { total.n[k] += r.native[k]; total.p[k] += r.pyvisor[k]; }
    total.new += r.regressions.length;
    total.missing += r.missing;
    const n = r.native, p = r.pyvisor;
    lines.push(row([`\`${r.file}\``, n.pass, n.failures, n.errors, n.skipped, p.pass, p.failures, p.errors, p.skipped,
      r.regressions.length || "", r.missing || "", p.status === "ok" ? "" : p.status.replaceAll("|", "\\|")]));
  }
  const n = total.n, p = total.p;
  lines.push(row(["**total**", n.pass, n.failures, n.errors, n.skipped, p.pass, p.failures, p.errors, p.skipped, total.new, total.missing, ""]));
  lines.push("", "## Tests that pass natively and fail in pyvisor, by cause", "",
    "The cause is read from pyvisor's failure message (CAUSES in scripts/conformance-numpy.mjs).", "");
  for (const [cause, tests] of byCause(results)) {
    lines.push(`### ${cause} (${tests.length})`, "");
    for (const t of tests) lines.push(`- \`${t.id}\`: ${t.message.split("\n")[0].slice(0, 160).replaceAll("|", "\\|")}`);
    lines.push("");
  }
  return lines.join("\n") + "\n";
}

/**
 * Why a test that passes natively fails in pyvisor: the first cause whose
 * pattern matches "<test id> <failure message>". Kept in order of specificity.
 */
const CAUSES = [
  ["WASI has no mmap (numpy.memmap; the stand-in mmap's names are classes, hence the TypeErrors)", /test_memmap\.|mmap/],
  ["WASI has no ctypes (no _ctypes, no libffi; the stand-in ctypes's names are classes, hence the TypeErrors)", /_ctypes|stand-in ctypes|has no attribute 'c_void_p'|TestFromCTypes|TestCTypes|ctypes/i],
  ["WASI has no dup(): ndarray.tofile / numpy.fromfile on a file, pytest's capfd, and the files they leave open", /Errno 58\] Not supported|Exception ignored in: <_io\.FileIO/],
  ["wasm has no floating-point exception flags: no FloatingPointError / RuntimeWarning from C loops", /FloatingPointError not raised|RuntimeWarning.*not raised|DID NOT WARN|DID NOT RAISE <class 'FloatingPointError'>/],
  ["no processes (subprocess, fork)", /does not support processes|subprocess|fork/],
  ["no threads in the guest", /can't start new thread/],
  ["the harness's ctypes/mmap stand-ins reaching numpy's own lazy imports of them (their names are classes): not a pyvisor difference as such; without the stand-ins these files are not collected at all",
    /unsupported operand type\(s\) for .*'type'|of type 'type'/],
];

function byCause(results) {
  const groups = new Map();
  for (const r of results) {
    for (const t of r.regressions) {
      const cause = CAUSES.find(([, re]) => re.test(`${t.id} ${t.message}`))?.[0] ?? "other (see each message)";
      if (!groups.has(cause)) groups.set(cause, []);
      groups.get(cause).push(t);
    }
  }
  return [...groups].sort((a, b) => b[1].length - a[1].length);
}

function parseArgs(argv) {
  let capS = 300, report = false, update = false;
  const files = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--report") report = true;
    else if (argv[i] === "--update") update = true;
    else if (argv[i] === "--cap") {
      capS = Number(argv[++i]);
      if (!Number.isFinite(capS) || capS <= 0) throw new Error("--cap: expected a positive number of seconds");
    } else if (argv[i].startsWith("-")) throw new Error(`unknown option ${argv[i]}`);
    else files.push(argv[i]);
  }
  return { capS, report, update, files };
}

function defaultFiles(tree) {
  return SUBPACKAGES.flatMap((sub) => readdirSync(join(tree, "numpy", sub, "tests")).filter((f) => /^test_.*\.py$/.test(f)).sort()
    .map((f) => `numpy/${sub}/tests/${f}`));
}

async function main() {
  const { capS, report, update, files } = parseArgs(process.argv.slice(2));
  const outDir = join(ROOT, "conformance/numpy");
  const logs = join(ROOT, "conformance/logs/numpy");
  mkdirSync(logs, { recursive: true });
  mkdirSync(outDir, { recursive: true });
  if (report) {
    const old = existsSync(join(outDir, "results.md")) ? readFileSync(join(outDir, "results.md"), "utf8") : "";
    const results = JSON.parse(readFileSync(join(outDir, "results.json"), "utf8"));
    writeFileSync(join(outDir, "results.md"), markdown(results, { header: /^Run .*$/m.exec(old)?.[0] }));
    console.log(join(outDir, "results.md"));
    return;
  }
  const cache = process.env.PYVISOR_CONFORMANCE_CACHE ?? join(homedir(), ".cache/pyvisor/conformance");
  const dir = join(cache, "numpy-native");
  mkdirSync(dir, { recursive: true });
  const python = nativePython(cache);
  const env = { python, site: ensureNativeNumpy(dir, python), tree: ensureTestTree(dir), layer: ensureTestLayer(dir) };
  const chosen = files.length ? files.map((f) => relative(env.tree, resolve(env.tree, f))) : defaultFiles(env.tree);
  const earlier = update && existsSync(join(outDir, "results.json")) ? JSON.parse(readFileSync(join(outDir, "results.json"), "utf8")) : [];
  const results = [];
  const meta = { date: new Date().toISOString(), host: `Node ${process.version}`, capS };
  if (update) meta.header = /^Run .*$/m.exec(readFileSync(join(outDir, "results.md"), "utf8"))?.[0]?.replace(/;( updated [^;]*;)?/, `; updated ${meta.date} (${chosen.length} files);`);
  // In the earlier order, rows of this run in place of theirs, new files at the end.
  const merged = () => [...earlier.map((r) => results.find((x) => x.file === r.file) ?? r), ...results.filter((x) => !earlier.some((r) => r.file === x.file))];
  const write = () => {
    writeFileSync(join(outDir, "results.json"), JSON.stringify(merged(), null, 2) + "\n");
    writeFileSync(join(outDir, "results.md"), markdown(merged(), meta));
  };
  for (const [i, file] of chosen.entries()) {
    step(`(${i + 1}/${chosen.length}) ${file}`);
    const r = await compare(file, env, capS, logs);
    const fmt = (c) => `${c.pass} passed, ${c.failures} failed, ${c.errors} errors, ${c.skipped} skipped${c.status === "ok" ? "" : ` [${c.status}]`}`;
    process.stderr.write(`  native:  ${fmt(r.native)}\n  pyvisor: ${fmt(r.pyvisor)}\n`);
    if (r.regressions.length) process.stderr.write(`  new failures: ${r.regressions.slice(0, 5).map((x) => x.id).join(", ")}${r.regressions.length > 5 ? ", ..." : ""}\n`);
    results.push(r);
    write();
  }
  const all = merged();
  const sum = (side, k) => all.reduce((n, r) => n + r[side][k], 0);
  console.log(`native:  ${sum("native", "pass")} passed, ${sum("native", "failures")} failed, ${sum("native", "errors")} errors, ${sum("native", "skipped")} skipped`);
  console.log(`pyvisor: ${sum("pyvisor", "pass")} passed, ${sum("pyvisor", "failures")} failed, ${sum("pyvisor", "errors")} errors, ${sum("pyvisor", "skipped")} skipped; ` +
    `${all.reduce((n, r) => n + r.regressions.length, 0)} pass natively and fail in pyvisor, ${all.reduce((n, r) => n + r.missing, 0)} pass natively and have no result in pyvisor`);
  console.log(join(outDir, "results.md"));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => { process.stderr.write(`conformance:numpy: ${e.message}\n`); process.exit(1); });
}
